/**
 * @fileoverview WebGPU in Node: the `webgpu` package (Dawn), kept alive for the process.
 *
 * The defaults are the ones that work everywhere, a GPU-less Linux box included: Dawn's
 * OpenGL ES backend (over Mesa's software rasteriser when there is no GPU; EGL without a
 * display, hence `EGL_PLATFORM=surfaceless` unless the environment says otherwise) and a
 * compatibility-level adapter. `MOEC_DAWN_FLAGS` (comma-separated Dawn toggles such as
 * `backend=vulkan`) and `MOEC_WEBGPU_FEATURE_LEVEL=core` choose others. A Node with
 * `navigator.gpu` (Deno-like hosts) uses that.
 */
/// <reference types="@webgpu/types" />
import type { GpuHost } from './gpu.ts';
import { importDawn } from './dawn.ts';

let dawn: GPU | undefined;

export const NODE_GPU: GpuHost = {
  async gpu() {
    const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    if (nav) return nav;
    if (dawn) return dawn;
    process.env.EGL_PLATFORM ??= 'surfaceless';
    const { create, globals } = await importDawn();
    Object.assign(globalThis, globals);
    const flags = process.env.MOEC_DAWN_FLAGS?.split(',').filter((f) => f !== '') ?? ['backend=opengl'];
    dawn = create(flags);
    return dawn;
  },
  featureLevel: () => process.env.MOEC_WEBGPU_FEATURE_LEVEL ?? 'compatibility',
  noGpu: 'no WebGPU in this Node (the webgpu package did not load)',
  noAdapter: 'no WebGPU adapter (Node: the webgpu package found no usable Dawn backend; on Linux without a GPU install libegl1 libegl-mesa0 libgles2 libgl1-mesa-dri)',
};
