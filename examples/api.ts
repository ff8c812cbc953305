/**
 * Using moec from TypeScript: compile a model, look at its IR and parameter counts, run it
 * on the reference interpreter, and save the result. Run with `npx tsx examples/api.ts`.
 */
import { checkSummary, compileFile, compileModel, compileReport, printIR, run, writeSafetensors } from 'moec';

// Parse, lower and verify a .moe file. `consts` overrides file-level constants, so a real
// model file can be run at a small size.
const model = compileFile('examples/mixtral.moe', { consts: { D: 64, F: 128 } });
console.log(checkSummary(model, 'examples/mixtral.moe'));
console.log(printIR(model).split('\n').slice(0, 12).join('\n'), '\n...');

// Run 4 tokens with seeded random weights and inputs.
const { outputs } = run(model, { tokens: 4, seed: 0 });
const y = outputs.y;
console.log(`y: [${y.shape.join(', ')}], first values:`, Array.from(y.data.slice(0, 4)));

writeSafetensors('/tmp/moec-api-example.safetensors', outputs, { model: model.name });
console.log('wrote /tmp/moec-api-example.safetensors');

// Fuse, tile and plan it for a chip: the kernel program every backend renders.
const { program, target, maxTokens } = compileModel(model, { target: 'x86-avx2', maxTokens: 64 });
console.log(compileReport(program, target, maxTokens).split('\n').slice(0, 8).join('\n'));
