/**
 * Whether this machine has a WebGPU adapter for the WGSL tests: null, or why not. Without
 * one the tests skip (saying why) unless CI is set: then the file fails, since CI must run them.
 */
import { getDevice } from '../../compiler/backends/wgsl/gpu.ts';

export async function missingAdapter(what: string): Promise<string | null> {
  let missing: string | null = null;
  try {
    const { device } = await getDevice();
    device.destroy();
  } catch (e) {
    missing = (e as Error).message;
  }
  if (missing && process.env.CI) throw new Error(`CI is set but there is no WebGPU adapter, so the WGSL tests cannot run: ${missing}`);
  if (missing) console.warn(`skipping ${what}: ${missing}`);
  return missing;
}
