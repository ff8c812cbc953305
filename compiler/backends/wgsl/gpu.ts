/**
 * @fileoverview Finding a WebGPU device: `navigator.gpu` in a browser, the `webgpu` package
 * (Dawn) in Node.
 *
 * In Node the defaults are the ones that work everywhere, a GPU-less Linux box included:
 * Dawn's OpenGL ES backend (over Mesa's software rasteriser when there is no GPU; EGL
 * without a display, hence `EGL_PLATFORM=surfaceless` unless the environment says
 * otherwise) and a compatibility-level adapter. `MOEC_DAWN_FLAGS` (comma-separated Dawn
 * toggles such as `backend=vulkan`) and `MOEC_WEBGPU_FEATURE_LEVEL=core` choose others.
 *
 * The device asks for WebGPU's core default limits and nothing more, so a kernel that
 * passes here runs on every adapter (a compatibility adapter's own defaults are lower:
 * 128 invocations per workgroup).
 */
/// <reference types="@webgpu/types" />

/** WebGPU's core default limits for what the kernels use. */
export const DEFAULT_LIMITS = {
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupStorageSize: 16384,
  maxStorageBuffersPerShaderStage: 8,
  maxStorageBufferBindingSize: 134217728,
  maxBufferSize: 268435456,
} as const;

let nodeGpu: GPU | undefined;

/** The GPU entry point of this environment (kept alive for the process: Dawn needs it). */
export async function getGpu(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (nav) return nav;
  if (nodeGpu) return nodeGpu;
  process.env.EGL_PLATFORM ??= 'surfaceless';
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const flags = process.env.MOEC_DAWN_FLAGS?.split(',').filter((f) => f !== '') ?? ['backend=opengl'];
  nodeGpu = create(flags);
  return nodeGpu;
}

export class NoAdapterError extends Error {}

/** An adapter and a device with WebGPU's default limits; NoAdapterError when there is none. */
export async function getDevice(): Promise<{ device: GPUDevice; adapter: GPUAdapter; description: string }> {
  const gpu = await getGpu();
  const env = typeof process !== 'undefined' ? process.env.MOEC_WEBGPU_FEATURE_LEVEL : undefined;
  const adapter = await gpu.requestAdapter({ featureLevel: env ?? 'compatibility' });
  if (!adapter) throw new NoAdapterError('no WebGPU adapter (Node: the webgpu package found no usable Dawn backend; on Linux without a GPU install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri)');
  const requiredLimits: Record<string, number> = {};
  for (const [name, v] of Object.entries(DEFAULT_LIMITS)) {
    const has = (adapter.limits as unknown as Record<string, number>)[name];
    requiredLimits[name] = Math.min(v, has);
  }
  const device = await adapter.requestDevice({ requiredLimits });
  const info = adapter.info;
  const description = [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ') || 'unknown adapter';
  return { device, adapter, description };
}
