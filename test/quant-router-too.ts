/**
 * A `--quantize` scheme with the router quantized too (`--quantize-router`). By default the
 * router stays f32; the tests of the quantized router kernels (and the golden files written
 * with them) ask for it with this.
 */
import { QUANT_SCHEMES, type QuantScheme } from '../ir/quant.ts';

export function withRouter(scheme: string): QuantScheme {
  if (!Object.hasOwn(QUANT_SCHEMES, scheme)) throw new Error(`no quantization scheme ${scheme}`);
  return { ...QUANT_SCHEMES[scheme], router: true };
}
