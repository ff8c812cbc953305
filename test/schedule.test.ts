/**
 * Schedule decisions live in the kernel IR: the tiler records the vector ISA (`isa`), the
 * C cache blocking (tile `rows`, `kc`, `panels`), the decode path's panel `streams`, DMA
 * `stage`, thread splits (`threads(min_elems)` of C
 * ops, `threads(workgroup)` of the WGSL shaders that are not tiled GEMMs) and a quantized
 * grouped GEMM's decode form (`qdecode`, `prefetch`); the text round-trips,
 * the verifier checks the fields, and the renderers print what the IR says (and refuse a
 * program whose schedule they cannot print) instead of deciding it themselves.
 */
import { describe, expect, it } from 'vitest';
import { renderC } from '../compiler/backends/c/render.ts';
import { buildModule } from '../compiler/backends/wasm/module.ts';
import { planWgsl } from '../compiler/backends/wgsl/plan.ts';
import { MoecError } from '../ir/diagnostics.ts';
import { compileFile } from '../compiler/driver.ts';
import { tileProgram } from '../compiler/passes/tile.ts';
import { runPipeline } from '../compiler/pipeline.ts';
import { loadTarget } from '../compiler/target/load.ts';
import type { TargetCaps } from '../compiler/target/caps.ts';
import type { GemmKernel, GroupedGemmKernel, KProgram, Kernel, OpKernel, Step } from '../ir/kernel/kernel.ts';
import { parseKernelIR } from '../ir/kernel/kparse.ts';
import { verifyKernelIR } from '../ir/kernel/kverify.ts';
import { GRAPH_SECTION, printKernelIR } from '../ir/kernel/kprint.ts';
import { QUANT_SCHEMES } from '../ir/quant.ts';
import { SMALL } from './small-sizes.ts';
import { errorOf } from './capture.ts';
import { withRouter } from './quant-router-too.ts';

const TARGETS = ['x86-avx2', 'x86-avx512', 'wasm-simd128', 'webgpu'];

function compileFor(file: string, target: string, quant?: keyof typeof QUANT_SCHEMES, maxTokens = 64): KProgram {
  const m = compileFile(`examples/${file}`, { consts: SMALL[file] });
  // the router quantized too (--quantize-router), as the golden file was written: its quantized decode form is part of the schedule
  return runPipeline(m, { target: loadTarget(target), maxTokens, ...(quant ? { quantize: withRouter(quant) } : {}) }).program!;
}

function kernels(steps: readonly Step[]): Kernel[] {
  return steps.flatMap((s) => (s.kind === 'loop' ? kernels(s.body) : [s]));
}

/**
 * The program line and the steps: where the schedule shows (buffers and the graph do not
 * change with it), without the tiles' notes (the cost model's estimates, not decisions).
 */
function scheduleLines(text: string): string {
  const lines = text.slice(0, text.indexOf(GRAPH_SECTION)).trimEnd().split('\n');
  return [lines[1], ...lines.filter((l) => /^\s*([a-z_]+\(|op |loop |\})/.test(l))].map((l) => l.replace(/, note="(?:[^"\\]|\\.)*"/, '')).join('\n');
}


/** The program with every grouped GEMM's (or, with `kind`, every such kernel's) tile changed. */
function withTiles(p: KProgram, change: (k: GemmKernel | GroupedGemmKernel) => Partial<NonNullable<GemmKernel['tile']>>, kind: Kernel['kind'] = 'grouped_gemm'): KProgram {
  const map = (steps: readonly Step[]): Step[] =>
    steps.map((s) => (s.kind === 'loop' ? { ...s, body: map(s.body) } : s.kind === kind && (s.kind === 'gemm' || s.kind === 'grouped_gemm') && s.tile ? { ...s, tile: { ...s.tile, ...change(s) } } : s));
  return { ...p, steps: map(p.steps) };
}

/** `p` with `change` applied to every router's tile. */
function withRouterTiles(p: KProgram, change: Partial<NonNullable<GemmKernel['tile']>>): KProgram {
  const map = (steps: readonly Step[]): Step[] => steps.map((s) => (s.kind === 'loop' ? { ...s, body: map(s.body) } : s.kind === 'router' && s.tile ? { ...s, tile: { ...s.tile, ...change } } : s));
  return { ...p, steps: map(p.steps) };
}

describe('schedules in the kernel IR', () => {
  it('deepseek-v3 (f32 and i8) on x86-avx2, x86-avx512, wasm-simd128 and webgpu: the schedule lines match their golden file, every program round-trips and verifies', async () => {
    const parts: string[] = [
      '// The program line and the steps of deepseek-v3 (test sizes, max_tokens 64) as printed',
      '// after tiling and memory planning, f32 and --quantize i8, per target: the schedule',
      '// the tiler recorded (isa; tile rows, kc, panels, streams, stage; qdecode, prefetch; threads). Tile notes left out.',
    ];
    for (const quant of [undefined, 'i8'] as const)
      for (const target of TARGETS) {
        const p = compileFor('deepseek-v3.moe', target, quant);
        expect(verifyKernelIR(p), `${target} ${quant ?? 'f32'}`).toEqual([]);
        const text = printKernelIR(p);
        expect(printKernelIR(parseKernelIR(text, 'schedule.kir'))).toBe(text);
        parts.push('', `// deepseek-v3 ${quant ?? 'f32'} on ${target}`, scheduleLines(text));
      }
    await expect(parts.join('\n') + '\n').toMatchFileSnapshot('golden/kernel/deepseek-v3.schedules.kir');
  });

  it('the tiler records what each target offers: the ISA, C blocking and thread splits only on C targets, the decode form of quantized grouped GEMMs (and of dense ones on C, which have a one-row path)', () => {
    const want: Record<string, { isa: string; blocking: boolean; threads: boolean; qdecode: string; prefetch?: number }> = {
      'x86-avx2': { isa: 'avx2', blocking: true, threads: true, qdecode: 'group_sum', prefetch: 2048 },
      'x86-avx512': { isa: 'avx512', blocking: true, threads: true, qdecode: 'group_sum', prefetch: 2048 },
      'npu-scratchpad': { isa: 'portable', blocking: true, threads: true, qdecode: 'scale_each' },
      'wasm-simd128': { isa: 'simd128', blocking: false, threads: false, qdecode: 'scale_each' },
      'wasm-scalar': { isa: 'scalar', blocking: false, threads: false, qdecode: 'scale_each' },
      webgpu: { isa: 'vec4', blocking: false, threads: false, qdecode: 'scale_each' },
    };
    for (const [target, w] of Object.entries(want)) {
      const p = compileFor('deepseek-v3.moe', target, 'i8');
      expect(p.isa, target).toBe(w.isa);
      const ks = kernels(p.steps);
      for (const k of ks) {
        if (k.kind === 'op') expect(k.threads?.minElems, `${target} op ${k.op}`).toBe(w.threads ? 16384 : undefined);
        if (k.kind !== 'gemm' && k.kind !== 'grouped_gemm') continue;
        const t = k.tile!;
        expect(t.rows !== undefined && t.kc !== undefined && t.panels !== undefined, `${target} ${k.out} blocking`).toBe(w.blocking);
        if (w.blocking) expect(t.rows! % t.mr).toBe(0);
        // a dense GEMM has a decode path (one row: the LM head at T = 1) on C only
        const decodes = k.kind === 'grouped_gemm' || w.blocking;
        expect(t.qdecode, `${target} ${k.out}`).toBe(decodes ? w.qdecode : undefined);
        expect(t.prefetch, `${target} ${k.out}`).toBe(decodes ? w.prefetch : undefined);
        if (k.kind === 'gemm') expect(t.streams, `${target} ${k.out} streams`).toBe(w.blocking ? 4 : undefined);
      }
      expect(ks.some((k) => k.kind === 'op')).toBe(true);
    }
  });

  it('the tiler keeps a C glu tile\'s nr even (the C weight layout used to widen an odd nr itself, so panels and tile disagreed)', () => {
    // a C target without vectors: micro-tiles 1..4 columns wide, odd ones the best for some GLU GEMMs
    const scalarC: TargetCaps = { ...loadTarget('x86-avx2'), name: 'c-scalar', vectorBytes: 0 };
    const m = compileFile('examples/deepseek-v3.moe', { consts: SMALL['deepseek-v3.moe'] });
    const p = runPipeline(m, { target: scalarC, maxTokens: 4 }).program!;
    expect(p.isa).toBe('portable');
    const glu = kernels(p.steps).filter((k): k is GemmKernel | GroupedGemmKernel => (k.kind === 'gemm' || k.kind === 'grouped_gemm') && k.epilogue.some((e) => e.kind === 'glu'));
    expect(glu.length).toBeGreaterThan(0);
    for (const k of glu) expect(k.tile!.nr % 2, `${k.out} nr ${k.tile!.nr}`).toBe(0);
    // the panels are the tile's nr wide
    const src = renderC(p, scalarC);
    const gluSpecs = [...src.layout.specs.values()].filter((s) => s.glu);
    expect(gluSpecs.length).toBeGreaterThan(0);
    for (const s of gluSpecs) expect(glu.map((k) => k.tile!.nr)).toContain(s.width);
    // other backends cover any nr: wasm-scalar keeps its odd glu tiles (its output must not change)
    const w = runPipeline(m, { target: loadTarget('wasm-scalar'), maxTokens: 4 }).program!;
    expect(verifyKernelIR(w)).toEqual([]);
    expect(kernels(w.steps).some((k) => k.kind === 'gemm' && k.epilogue.some((e) => e.kind === 'glu') && k.tile!.nr % 2 === 1)).toBe(true);
  });

  it('hand-written schedule fields round-trip through the text form', () => {
    const p = compileFor('deepseek-v3.moe', 'x86-avx512', 'i4');
    const text = printKernelIR(p);
    expect(text).toMatch(/ isa avx512 /);
    expect(text).toMatch(/qdecode="group_sum", prefetch=2048/);
    expect(text).toMatch(/threads\(min_elems=16384\)/);
    const edited = text.replace(/prefetch=2048/g, 'prefetch=8192').replace(/threads\(min_elems=16384\)/, 'threads(min_elems=4096)');
    const back = parseKernelIR(edited, 'edited.kir');
    expect(printKernelIR(back)).toBe(edited);
    expect(kernels(back.steps).filter((k) => k.kind === 'grouped_gemm').every((k) => (k as GroupedGemmKernel).tile!.prefetch === 8192)).toBe(true);
    expect(kernels(back.steps).find((k): k is OpKernel => k.kind === 'op')!.threads).toEqual({ minElems: 4096 });
  });

  it('the parser refuses an unknown vector kind, decode form or tile field with its position', () => {
    const text = printKernelIR(compileFor('tiny.moe', 'x86-avx2', 'i8'));
    const isa = errorOf(() => parseKernelIR(text.replace(' isa avx2 ', ' isa sse9 '), 'k.kir'));
    expect(isa.diagnostics[0].code).toBe('E401');
    expect(isa.format()).toMatch(/k\.kir:2:\d+/);
    expect(isa.format()).toContain('avx512');
    const form = errorOf(() => parseKernelIR(text.replace('qdecode="group_sum"', 'qdecode="lut"'), 'k.kir'));
    expect(form.format()).toContain(`'qdecode' must be one of "group_sum", "scale_each"`);
    const key = errorOf(() => parseKernelIR(text.replace('kc=', 'kk='), 'k.kir'));
    expect(key.diagnostics[0].code).toBe('E401');
  });

  it('the verifier checks the schedule fields', () => {
    const p = compileFor('deepseek-v3.moe', 'x86-avx2', 'i8');
    expect(verifyKernelIR(p)).toEqual([]);
    const f32 = compileFor('deepseek-v3.moe', 'x86-avx2');
    const cases: Array<[KProgram, RegExp]> = [
      [withTiles(p, (k) => ({ m: k.tile!.m + 1, rows: k.tile!.m + 1 })), /the micro-tile \d+x\d+ does not divide the tile/],
      [withTiles(p, (k) => ({ n: k.tile!.n + 1 })), /does not divide the tile/],
      [withTiles(p, () => ({ nr: 3, n: 3 })), /tile nr = 3 is odd, but an avx2 glu micro-tile/],
      [withTiles(p, () => ({ vector: 4 })), /tile vector = 4 is not a whole number of avx2's 8 lanes/],
      [withTiles(p, (k) => ({ rows: k.tile!.mr + 1 })), /tile rows = \d+ is not a whole number of mr/],
      [withTiles(p, (k) => ({ rows: 2 * k.tile!.m })), /a grouped GEMM passes over one padding block/],
      [withTiles(p, () => ({ kc: 0 })), /tile kc = 0 is not a positive whole number/],
      [withRouterTiles(p, { streams: 4 }), /tile streams is for a GEMM's decode path only/],
      [withTiles(f32, () => ({ qdecode: 'group_sum' })), /qdecode = group_sum, but the kernel's weight is not quantized/],
      [withTiles(p, () => ({ qdecode: 'scale_each' })), /tile prefetch is for the group_sum decode path only/],
      [withTiles(p, () => ({ prefetch: -64 })), /tile prefetch = -64 is not a positive whole number/],
      [{ ...p, isa: 'sse9' as KProgram['isa'] }, /program: unknown vector kind isa sse9/],
    ];
    for (const [bad, message] of cases) expect(verifyKernelIR(bad).join('\n')).toMatch(message);
    const ops = (q: KProgram, per: number): KProgram => {
      const map = (steps: readonly Step[]): Step[] => steps.map((s) => (s.kind === 'loop' ? { ...s, body: map(s.body) } : s.kind === 'op' ? { ...s, threads: { minElems: per } } : s));
      return { ...q, steps: map(q.steps) };
    };
    expect(verifyKernelIR(ops(p, 0)).join('\n')).toMatch(/threads min_elems = 0 is not a positive whole number/);
  });
});

describe('renderers print the recorded schedule', () => {
  it('C: the ISA is the program\'s, not re-derived from the target: a program tiled for AVX-512 is refused for an AVX2 target (E701)', () => {
    const p = compileFor('tiny.moe', 'x86-avx512');
    const e = errorOf(() => renderC(p, loadTarget('x86-avx2')));
    expect(e.diagnostics[0].code).toBe('E701');
    expect(e.message).toContain("tiled for avx512 vectors, but target 'x86-avx2' offers avx2");
    expect(renderC(p, loadTarget('x86-avx512')).source).toContain('__m512');
  });

  it('C: rows per pass, depth chunks and panels per pass come from the tile (no mr = 4 or tile.m ?? 64 of its own)', () => {
    const p = compileFor('deepseek-v3.moe', 'x86-avx2');
    const src = renderC(p, loadTarget('x86-avx2')).source;
    const dense = kernels(p.steps).find((k): k is GemmKernel => k.kind === 'gemm')!;
    const t = dense.tile!;
    expect(src).toContain(`float acc[${t.panels} * ${t.rows} * ${t.nr}];`);
    // a different recorded blocking is printed as recorded
    const q = withTiles(p, (k) => ({ rows: k.tile!.mr, panels: 1, kc: 8 }), 'gemm');
    const src2 = renderC(q, loadTarget('x86-avx2')).source;
    expect(src2).toContain(`float acc[1 * ${t.mr} * ${t.nr}];`);
    expect(src2).toMatch(/const int kl = \d+ - kc < 8 \? \d+ - kc : 8;/);
    // untiled: refused rather than given a made-up micro-tile
    const untiled = withTiles(p, () => ({ rows: undefined }), 'gemm');
    expect(errorOf(() => renderC(untiled, loadTarget('x86-avx2'))).message).toMatch(/has no C cache blocking/);
  });

  it("C: an op's thread split is the kernel's threads(min_elems), one thread without one", () => {
    const p = compileFor('deepseek-v3.moe', 'x86-avx2');
    expect(renderC(p, loadTarget('x86-avx2')).source).toMatch(/\+ 16383\) \/ 16384 < \(size_t\)threads/);
    const map = (steps: readonly Step[], per: number | undefined): Step[] =>
      steps.map((s) => (s.kind === 'loop' ? { ...s, body: map(s.body, per) } : s.kind === 'op' ? { ...s, threads: per === undefined ? undefined : { minElems: per } } : s));
    const src = renderC({ ...p, steps: map(p.steps, 4096) }, loadTarget('x86-avx2')).source;
    expect(src).toMatch(/\+ 4095\) \/ 4096 < \(size_t\)threads/);
    expect(src).not.toContain('16384 < (size_t)threads');
    const one = renderC({ ...p, steps: map(p.steps, undefined) }, loadTarget('x86-avx2')).source;
    expect(one).not.toContain('16384 < (size_t)threads');
  });

  it('C: the quantized decode form and prefetch distance are the tile\'s', () => {
    const p = compileFor('tiny.moe', 'x86-avx2', 'i8');
    const src = renderC(p, loadTarget('x86-avx2')).source;
    expect(src).toContain('#define MOEC_QPREFETCH 2048');
    expect(src).toContain('_mm_prefetch(');
    expect(src).toContain('Per scale group the');
    const far = renderC(withTiles(p, () => ({ prefetch: 8192 })), loadTarget('x86-avx2')).source;
    expect(far).toContain('#define MOEC_QPREFETCH 8192');
    const each = renderC(withTiles(p, () => ({ qdecode: 'scale_each', prefetch: undefined })), loadTarget('x86-avx2')).source;
    expect(each).not.toContain('MOEC_QPREFETCH');
    expect(each).not.toContain('_mm_prefetch(');
    expect(each).toContain('Each weight is\n * decoded and scaled once');
    const none = withTiles(p, () => ({ qdecode: undefined, prefetch: undefined }));
    expect(errorOf(() => renderC(none, loadTarget('x86-avx2'))).message).toMatch(/has no decode path in its tile \(qdecode\)/);
  });

  it('C: the decode path reads as many panels at once as the tile\'s streams', () => {
    for (const quant of [undefined, 'i8'] as const) {
      const p = compileFor('tiny.moe', 'x86-avx2', quant);
      const src = renderC(p, loadTarget('x86-avx2')).source;
      expect(src).toContain('p + 4 <= p1; p += 4) { /* four panels at a time: four memory streams */');
      expect(src).toMatch(/_1x\d+_x4\(/);
      const two = renderC(withTiles(p, () => ({ streams: 2 })), loadTarget('x86-avx2')).source;
      expect(two).toContain('p + 2 <= p1; p += 2) { /* two panels at a time: two memory streams */');
      expect(two).toMatch(/_1x\d+_x2\(/);
      expect(two).not.toMatch(/_1x\d+_x4\(/);
      expect(errorOf(() => renderC(withTiles(p, () => ({ streams: undefined })), loadTarget('x86-avx2'))).message).toMatch(/has no decode path in its tile \(streams\)/);
    }
  });

  it('C: weight tiles go through the scratchpad by DMA where the tile says stage="dma" (the NPU), not where the target merely has one', () => {
    const p = compileFor('tiny.moe', 'npu-scratchpad');
    const gemms = kernels(p.steps).filter((k): k is GroupedGemmKernel => k.kind === 'grouped_gemm');
    for (const k of gemms) expect(k.tile!.stage).toBe('dma');
    for (const k of kernels(compileFor('tiny.moe', 'x86-avx2').steps)) if (k.kind === 'grouped_gemm') expect(k.tile!.stage).toBeUndefined();
    const npu = loadTarget('npu-scratchpad');
    expect(renderC(p, npu).source).toContain('DMA_LOAD(stage[(i + 1) & 1]');
    const inPlace = renderC(withTiles(p, () => ({ stage: undefined })), npu).source;
    expect(inPlace).not.toContain('DMA_LOAD');
    expect(inPlace).not.toContain('MOEC_SCRATCHPAD');
    expect(verifyKernelIR(withTiles(p, () => ({ kc: undefined }))).join('\n')).toMatch(/tile stage = dma stages kc-deep chunks, but the tile has no kc/);
  });

  it('Wasm: SIMD128 or the scalar build follows the program\'s isa; a program tiled for another target, or asking for group sums, is refused', () => {
    const simd = compileFor('tiny.moe', 'wasm-simd128');
    expect(buildModule(simd, loadTarget('wasm-simd128'), { optimize: false }).manifest.simd).toBe(true);
    const scalar = compileFor('tiny.moe', 'wasm-scalar');
    expect(buildModule(scalar, loadTarget('wasm-scalar'), { optimize: false }).manifest.simd).toBe(false);
    const e = errorOf(() => buildModule(scalar, loadTarget('wasm-simd128'), { optimize: false }));
    expect(e.message).toContain("tiled for scalar vectors, but target 'wasm-simd128' offers simd128");
    const q = compileFor('tiny.moe', 'wasm-simd128', 'i8');
    expect(errorOf(() => buildModule(withTiles(q, () => ({ qdecode: 'group_sum' })), loadTarget('wasm-simd128'), { optimize: false })).message).toMatch(/asks for group-sum decoding, which the wasm kernels do not do/);
  });

  it('WGSL: a program tiled for a CPU, or asking for group sums, is refused', () => {
    const cpu = compileFor('tiny.moe', 'x86-avx2');
    expect(errorOf(() => planWgsl(cpu, loadTarget('webgpu'))).message).toContain("tiled for avx2 vectors, but target 'webgpu' offers vec4");
    const q = compileFor('tiny.moe', 'webgpu', 'i8');
    expect(() => planWgsl(q, loadTarget('webgpu'))).not.toThrow();
    expect(errorOf(() => planWgsl(withTiles(q, () => ({ qdecode: 'group_sum' })), loadTarget('webgpu'))).message).toMatch(/asks for group-sum decoding, which the WGSL kernels do not do/);
  });

  it('WGSL: the workgroup sizes of the row-, slot- and token-wise shaders are the kernels\' threads(workgroup)', () => {
    const p = compileFor('deepseek-v3.moe', 'webgpu');
    const sizes = (q: KProgram): string[] => planWgsl(q, loadTarget('webgpu')).kernels.map((k) => `${k.name.replace(/^.*\./, '')}:${k.shader.workgroup[0]}`);
    const before = sizes(p);
    expect(before).toContain('align:256');
    expect(before).toContain('router:64');
    expect(before).toContain('decode:64');
    expect(before).toContain('rmsnorm:64');
    const map = (steps: readonly Step[], w: number | undefined): Step[] =>
      steps.map((s) => (s.kind === 'loop' ? { ...s, body: map(s.body, w) } : s.kind !== 'gemm' ? { ...s, threads: w === undefined ? undefined : { workgroup: s.kind === 'moe_align' ? 2 * w : w } } : s));
    const after = sizes({ ...p, steps: map(p.steps, 32) });
    expect(after).toContain('align:64');
    for (const v of ['router', 'decode', 'combine', 'rmsnorm', 'add']) if (before.includes(`${v}:64`)) expect(after, v).toContain(`${v}:32`);
    expect(planWgsl({ ...p, steps: map(p.steps, 32) }, loadTarget('webgpu')).kernels.find((k) => k.name.endsWith('.decode'))!.shader.code).toContain('@workgroup_size(32)');
    expect(errorOf(() => planWgsl({ ...p, steps: map(p.steps, undefined) }, loadTarget('webgpu'))).message).toMatch(/kernel has no workgroup size/);
    expect(verifyKernelIR({ ...p, steps: map(p.steps, 48) }).join('\n')).toMatch(/threads workgroup = 48 is not a power of two/);
  });

  it('tileProgram records the isa on the program it returns (and leaves its input alone); renderers refuse an untiled program', () => {
    const m = compileFile('examples/tiny.moe');
    const lowered = runPipeline(m, { target: loadTarget('x86-avx2'), maxTokens: 32, stopAfter: 'lower-kernels' }).program!;
    expect(lowered.isa).toBeUndefined();
    // an untiled program is refused with a user error (E701), not an internal one
    for (const render of [() => renderC({ ...lowered, arenaBytes: 0, maxTokens: 32 }, loadTarget('x86-avx2')), () => buildModule({ ...lowered, arenaBytes: 0, maxTokens: 32 }, loadTarget('wasm-simd128'))])
      expect(errorOf(render).message).toMatch(/E701: the kernel program has no vector ISA: it was not tiled/);
    const tiled = tileProgram(lowered, loadTarget('x86-avx512'), { maxTokens: 32 });
    expect(tiled.isa).toBe('avx512');
    expect(lowered.isa).toBeUndefined();
  });
});
