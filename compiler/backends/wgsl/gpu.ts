/**
 * @fileoverview Finding a WebGPU device on a host: `navigator.gpu` in a browser
 * (`BROWSER_GPU`, here), the `webgpu` package (Dawn) in Node (`NODE_GPU`, `node-gpu.ts`, which
 * the browser entry never imports). A host says where its `GPU` comes from and what to tell
 * the user when there is none, in that host's terms: a page user enables WebGPU or takes the
 * Wasm backend, a Node user installs drivers.
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

/** Where a WebGPU device comes from, and what to say when it does not. */
export interface GpuHost {
  /** The `GPU` entry point, or undefined when this host has none. */
  gpu(): Promise<GPU | undefined>;
  /** The adapter feature level to ask for. */
  featureLevel(): string;
  /** Said when `gpu()` gives nothing. */
  noGpu: string;
  /** Said when the GPU gives no adapter. */
  noAdapter: string;
}

/** A page (or a worker): `navigator.gpu`, core feature level. */
export const BROWSER_GPU: GpuHost = {
  gpu: async () => (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu,
  featureLevel: () => 'core',
  noGpu:
    'this browser has no WebGPU (navigator.gpu is undefined): use a browser that ships it (Chrome or Edge 113+, Safari 26+), enable it (chrome://flags/#enable-unsafe-webgpu, Firefox: dom.webgpu.enabled), and serve the page over https or from localhost (WebGPU needs a secure context); or run the model on the Wasm backend',
  noAdapter:
    'WebGPU is enabled in this browser but it offers no adapter (the GPU may be blocklisted or hardware acceleration turned off; chrome://gpu says why): allow it (chrome://flags/#enable-unsafe-webgpu) or run the model on the Wasm backend',
};

export class NoAdapterError extends Error {}

/** An adapter and a device with WebGPU's default limits; NoAdapterError when there is none. */
export async function getDevice(host: GpuHost): Promise<{ device: GPUDevice; adapter: GPUAdapter; description: string }> {
  const gpu = await host.gpu();
  if (!gpu) throw new NoAdapterError(host.noGpu);
  const adapter = await gpu.requestAdapter({ featureLevel: host.featureLevel() });
  if (!adapter) throw new NoAdapterError(host.noAdapter);
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
