/**
 * @fileoverview Tests for the pass manager: the verifier around every pass names a pass that
 * breaks the IR, a pass that mutates its input is caught, `requires` ordering is a bug
 * while disabling a required pass is a usage error, disabled passes do not run, and
 * `printAfter` dumps reloadable IR text. Also `cloneModule` and the registry.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MoecError } from '../../ir/diagnostics.ts';
import { UsageError } from '../../compiler/usage-error.ts';
import { compileFile } from '../../compiler/driver.ts';
import { canonicalize } from '../../compiler/passes/canonicalize.ts';
import { cloneModule } from '../../compiler/passes/clone.ts';
import { lowerKernelsPass } from '../../compiler/passes/lower-kernels.ts';
import { type PassInstrument, runPassList, runPasses } from '../../compiler/passes/manager.ts';
import type { GraphPass, KernelPass } from '../../compiler/passes/pass.ts';
import { planMemoryPass } from '../../compiler/passes/plan-memory.ts';
import { tilePass } from '../../compiler/passes/tile.ts';
import { GRAPH_PASSES, PASSES, findPass, runPipeline } from '../../compiler/pipeline.ts';
import { loadTarget } from '../../compiler/target/load.ts';
import type { KProgram } from '../../ir/kernel/kernel.ts';
import { printKernelIR } from '../../ir/kernel/kprint.ts';
import { type Module, Value, mainFunc } from '../../ir/graph/graph.ts';
import { parseIR } from '../../ir/graph/parse.ts';
import { printIR } from '../../ir/graph/print.ts';

const TEXT = `moec.ir 1
model t
dim T <= 64
weight w: f32[8, 8]

func main(%x: f32[T, 8]) {
  %w = weight() {name="w"} : f32[8, 8]
  %a = matmul(%x, %w) {transpose_b=true} : f32[T, 8]
  %dead = silu(%a) : f32[T, 8]
  %y = relu(%a) : f32[T, 8]
  return y = %y
}
`;

function sample(): Module {
  return parseIR(TEXT);
}

/** A well-behaved pass that records that it ran and returns an edited copy. */
function logPass(name: string, log: string[], requires: string[] = []): GraphPass {
  return {
    name,
    summary: 'test pass',
    level: 'graph',
    requires,
    run: (m) => {
      log.push(name);
      return cloneModule(m);
    },
  };
}

/** Removes the node defining %a from a copy, leaving its uses dangling: invalid IR. */
const breakIr: GraphPass = {
  name: 'break-ir',
  summary: 'drops a node that is still used',
  level: 'graph',
  requires: [],
  run: (m) => {
    const out = cloneModule(m);
    const main = mainFunc(out);
    main.body = main.body.filter((n) => n.outputs[0]?.name !== 'a');
    return out;
  },
};

/** Edits its input in place instead of a copy. */
const mutateInput: GraphPass = {
  name: 'mutate-input',
  summary: 'renames a value of its input',
  level: 'graph',
  requires: [],
  run: (m) => {
    mainFunc(m).body[1].outputs[0].name = 'renamed';
    return m;
  },
};

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an exception');
}

describe('runPasses: verifyEach', () => {
  it('reports invalid IR after a pass, naming the pass', () => {
    const e = thrown(() => runPasses(sample(), [canonicalize, breakIr], {}, { verifyEach: true }));
    expect(e).toBeInstanceOf(MoecError);
    const d = (e as MoecError).diagnostics;
    expect(d.length).toBeGreaterThan(0);
    for (const x of d) expect(x.message).toMatch(/^after break-ir: /);
    expect(d[0].code).toBe('E402');
    expect(d[0].message).toContain('%a is a dangling reference');
  });

  it('verifies the input before the first pass, naming it', () => {
    const bad = sample();
    mainFunc(bad).results[0].value = new Value('ghost', { dtype: 'f32', shape: [] });
    const e = thrown(() => runPasses(bad, [canonicalize], {}, { verifyEach: true }));
    expect(e).toBeInstanceOf(MoecError);
    expect((e as MoecError).diagnostics[0].message).toMatch(/^before canonicalize: .*ghost/);
  });

  it('does not verify with verifyEach off (the broken module comes back)', () => {
    const out = runPasses(sample(), [breakIr], {}, { verifyEach: false });
    expect(mainFunc(out).body.some((n) => n.outputs[0].name === 'a')).toBe(false);
  });

  it('verifies by default under vitest (the instrument is on in tests)', () => {
    const e = thrown(() => runPasses(sample(), [breakIr], {}));
    expect((e as MoecError).diagnostics[0].message).toMatch(/^after break-ir: /);
  });

  it('catches a pass that mutates its input, naming the pass and the change', () => {
    const e = thrown(() => runPasses(sample(), [mutateInput], {}, { verifyEach: true }));
    expect(e).not.toBeInstanceOf(MoecError);
    expect((e as Error).message).toMatch(/pass mutate-input mutated its input module/);
    expect((e as Error).message).toContain('%renamed');
  });

  it('leaves the input of a well-behaved pipeline untouched', () => {
    const m = sample();
    const out = runPasses(m, [canonicalize], {}, { verifyEach: true });
    expect(printIR(m)).toBe(TEXT);
    expect(printIR(out)).not.toContain('%dead');
  });
});

describe('runPasses: requires', () => {
  it('runs passes in order when requirements come first', () => {
    const log: string[] = [];
    runPasses(sample(), [logPass('a', log), logPass('b', log, ['a'])], {}, { verifyEach: true });
    expect(log).toEqual(['a', 'b']);
  });

  it('treats a requirement listed later as a bug in the pipeline (plain Error), before running anything', () => {
    const log: string[] = [];
    const e = thrown(() => runPasses(sample(), [logPass('b', log, ['a']), logPass('a', log)], {}));
    expect(e).not.toBeInstanceOf(UsageError);
    expect((e as Error).message).toBe('pass pipeline is misordered: b requires a to run before it, but it comes after it');
    expect(log).toEqual([]);
  });

  it('treats a missing requirement as a bug too', () => {
    const e = thrown(() => runPasses(sample(), [logPass('b', [], ['a'])], {}));
    expect(e).not.toBeInstanceOf(UsageError);
    expect((e as Error).message).toContain('it is not in the pipeline');
  });
});

describe('runPasses: disabled', () => {
  it('skips disabled passes', () => {
    const log: string[] = [];
    runPasses(sample(), [logPass('a', log), logPass('b', log), logPass('c', log)], {}, { disabled: ['b'] });
    expect(log).toEqual(['a', 'c']);
  });

  it('refuses to disable a pass that an enabled pass requires (UsageError naming it)', () => {
    const log: string[] = [];
    const e = thrown(() => runPasses(sample(), [logPass('a', log), logPass('b', log, ['a'])], {}, { disabled: ['a'] }));
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).message).toBe('cannot disable a: pass b requires it');
    expect((e as UsageError).hint).toBe('disable b too, or keep a');
    expect(log).toEqual([]);
  });

  it('allows disabling a required pass together with the pass that needs it', () => {
    const log: string[] = [];
    runPasses(sample(), [logPass('a', log), logPass('b', log, ['a']), logPass('c', log)], {}, { disabled: ['a', 'b'] });
    expect(log).toEqual(['c']);
  });

  it('rejects an unknown pass name with a suggestion', () => {
    const e = thrown(() => runPasses(sample(), [canonicalize], {}, { disabled: ['canonicalise'] }));
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).message).toBe('--disable canonicalise: no pass named canonicalise');
    expect((e as UsageError).hint).toBe('did you mean `canonicalize`?');
  });

  it('verifies before the first enabled pass', () => {
    const bad = sample();
    mainFunc(bad).results[0].value = new Value('ghost', { dtype: 'f32', shape: [] });
    const e = thrown(() => runPasses(bad, [logPass('a', []), canonicalize], {}, { verifyEach: true, disabled: ['a'] }));
    expect((e as MoecError).diagnostics[0].message).toMatch(/^before canonicalize: /);
  });
});

describe('runPasses: printAfter', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('dumps after every pass with printAfter: all, as IR text that parses back', () => {
    const dumps: Array<[string, string]> = [];
    const out = runPasses(sample(), [logPass('a', []), canonicalize], {}, { printAfter: 'all', onDump: (p, t) => dumps.push([p, t]) });
    expect(dumps.map(([p]) => p)).toEqual(['a', 'canonicalize']);
    expect(dumps[0][1]).toBe(TEXT);
    expect(dumps[1][1]).toBe(printIR(out));
    expect(printIR(parseIR(dumps[1][1]))).toBe(dumps[1][1]);
  });

  it('dumps only after the named passes, and not after disabled ones', () => {
    const dumps: string[] = [];
    const passes = [logPass('a', []), logPass('b', []), logPass('c', [])];
    runPasses(sample(), passes, {}, { printAfter: ['b', 'c'], disabled: ['c'], onDump: (p) => dumps.push(p) });
    expect(dumps).toEqual(['b']);
  });

  it('rejects an unknown pass name', () => {
    const e = thrown(() => runPasses(sample(), [canonicalize], {}, { printAfter: ['fuse'] }));
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).message).toBe('--after fuse: no pass named fuse');
  });

  it('writes to stderr by default, under a comment line that keeps the dump parseable', () => {
    const writes: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    runPasses(sample(), [canonicalize], {}, { printAfter: ['canonicalize'] });
    expect(writes).toHaveLength(1);
    expect(writes[0].startsWith('// after canonicalize\nmoec.ir 1\n')).toBe(true);
    expect(() => parseIR(writes[0])).not.toThrow();
  });
});

describe('runPassList: kernel passes, under the same instruments', () => {
  const target = loadTarget('x86-avx2');
  const lowered = (): KProgram => runPipeline(sample(), { target, stopAfter: 'lower-kernels' }).program!;

  /** Drops the first buffer (the input's) from a copy: every kernel that reads it names a missing buffer. */
  const dropBuffer: KernelPass = {
    name: 'drop-buffer',
    summary: 'drops a buffer that is still read',
    level: 'kernel',
    requires: [],
    run: (p) => ({ ...p, buffers: p.buffers.slice(1) }),
  };

  /** Edits its input program in place instead of a copy. */
  const mutateProgram: KernelPass = {
    name: 'mutate-program',
    summary: 'renames a buffer of its input',
    level: 'kernel',
    requires: [],
    run: (p) => {
      p.buffers[p.buffers.length - 1].name = 'renamed';
      return p;
    },
  };

  it('reports an invalid kernel program after a kernel pass, naming the pass (E402)', () => {
    const e = thrown(() => runPassList({ level: 'kernel', ir: lowered() }, [dropBuffer], { target }, { verifyEach: true }));
    expect(e).toBeInstanceOf(MoecError);
    const d = (e as MoecError).diagnostics;
    expect(d[0].code).toBe('E402');
    for (const x of d) expect(x.message).toMatch(/^after drop-buffer: /);
  });

  it('catches a kernel pass that mutates its input program, naming the pass and the change', () => {
    const e = thrown(() => runPassList({ level: 'kernel', ir: lowered() }, [mutateProgram], { target }, { verifyEach: true }));
    expect(e).not.toBeInstanceOf(MoecError);
    expect((e as Error).message).toMatch(/^pass mutate-program mutated its input kernel program \(line \d+: /);
    expect((e as Error).message).toContain('renamed');
  });

  it('verifies between the passes of a whole pipeline: a broken kernel pass is named before the next one runs', () => {
    const log: string[] = [];
    const spy: KernelPass = { ...planMemoryPass, run: (p, ctx) => (log.push('plan-memory'), planMemoryPass.run(p, ctx)) };
    const passes = [...GRAPH_PASSES.filter((p) => p.name !== 'quantize'), lowerKernelsPass, tilePass, { ...dropBuffer, requires: ['tile'] }, spy];
    const e = thrown(() => runPassList({ level: 'graph', ir: sample() }, passes, { target, maxTokens: 16 }));
    expect((e as MoecError).diagnostics[0].message).toMatch(/^after drop-buffer: /);
    expect(log).toEqual([]);
  });

  it('dumps kernel IR after kernel passes, and the lowering records the token bound it was given', () => {
    const dumps: Array<[string, string]> = [];
    const r = runPassList({ level: 'graph', ir: sample() }, [lowerKernelsPass, tilePass], { target, maxTokens: 16 }, { printAfter: 'all', onDump: (p, t) => dumps.push([p, t]) });
    expect(dumps.map(([p]) => p)).toEqual(['lower-kernels', 'tile']);
    expect(dumps[0][1]).toMatch(/^moec\.kernel-ir 1\nprogram t max_tokens 16\n/);
    expect(dumps[1][1]).toBe(printKernelIR(r.kernel!));
    expect(r.graph).toBeDefined();
    expect(r.kernel!.maxTokens).toBe(16);
  });

  it('calls extra instruments around every pass of both levels, with the IR each reads and returns', () => {
    const log: string[] = [];
    const instrument: PassInstrument = {
      beforeAll: (input, first) => log.push(`start ${input.level} ${first.name}`),
      before: (pass, input) => log.push(`${pass.name} reads ${input.level}`),
      after: (pass, input, output) => log.push(`${pass.name} ${input.level} -> ${output.level}`),
    };
    runPassList({ level: 'graph', ir: sample() }, [canonicalize, lowerKernelsPass, tilePass, planMemoryPass], { target, maxTokens: 16 }, { instruments: [instrument] });
    expect(log).toEqual([
      'start graph canonicalize',
      'canonicalize reads graph',
      'canonicalize graph -> graph',
      'lower-kernels reads graph',
      'lower-kernels graph -> kernel',
      'tile reads kernel',
      'tile kernel -> kernel',
      'plan-memory reads kernel',
      'plan-memory kernel -> kernel',
    ]);
  });

  it('treats a pass that reads the wrong level as a bug in the pipeline (plain Error), before running anything', () => {
    const e = thrown(() => runPassList({ level: 'graph', ir: sample() }, [tilePass], { target }));
    expect(e).not.toBeInstanceOf(UsageError);
    expect((e as Error).message).toBe('pass pipeline is misordered: tile requires lower-kernels to run before it, but it is not in the pipeline');
    const e2 = thrown(() => runPassList({ level: 'graph', ir: sample() }, [{ ...tilePass, requires: [] }], { target }));
    expect((e2 as Error).message).toBe('pass pipeline is misordered: tile reads kernel IR, but the IR is graph IR there');
  });

  it('refuses to disable an essential pass, saying what needs it (UsageError, nothing run)', () => {
    for (const name of ['lower-kernels', 'tile', 'plan-memory']) {
      const e = thrown(() => runPipeline(sample(), { target, disabled: [name] }));
      expect(e, name).toBeInstanceOf(UsageError);
      expect((e as UsageError).message, name).toBe(`cannot disable ${name}: ${findPass(name)!.essential}`);
      expect((e as UsageError).hint, name).toContain('the passes --disable can skip: canonicalize, fuse-router');
    }
  });
});

describe('cloneModule', () => {
  it('copies deeply: same text, no shared values, nodes, attribute lists or types', () => {
    const m = compileFile('examples/deepseek-v3.moe');
    const c = cloneModule(m);
    expect(printIR(c)).toBe(printIR(m));
    const values = (x: Module): Value[] => x.funcs.flatMap((f) => [...f.params, ...f.body.flatMap((n) => n.outputs)]);
    const orig = new Set<unknown>(values(m));
    expect(values(c).some((v) => orig.has(v))).toBe(false);
    expect(values(c).some((v, i) => v.type === values(m)[i].type)).toBe(false);
    const mainC = mainFunc(c);
    const mainM = mainFunc(m);
    expect(mainC.body.some((n, i) => n === mainM.body[i] || n.attrs === mainM.body[i].attrs)).toBe(false);
    expect(c.weights.some((w, i) => w === m.weights[i] || w.source === m.weights[i].source)).toBe(false);
  });

  it('preserves the value graph: uses point at the copied definitions', () => {
    const c = cloneModule(sample());
    const main = mainFunc(c);
    const [w, a, , y] = main.body;
    expect(a.inputs[0]).toBe(main.params[0]);
    expect(a.inputs[1]).toBe(w.outputs[0]);
    expect(y.inputs[0]).toBe(a.outputs[0]);
    expect(main.results[0].value).toBe(y.outputs[0]);
  });
});

describe('registry', () => {
  it('lists every pass of both levels, graph passes first, and only the lowering changes level', () => {
    expect(PASSES.map((p) => p.name)).toEqual([...GRAPH_PASSES.map((p) => p.name), 'lower-kernels', 'tile', 'plan-memory']);
    expect(PASSES.filter((p) => (p.lowersTo ?? p.level) !== p.level).map((p) => p.name)).toEqual(['lower-kernels']);
  });

  it('lists canonicalize and finds passes by name', () => {
    expect(GRAPH_PASSES.map((p) => p.name)).toContain('canonicalize');
    expect(findPass('canonicalize')).toBe(canonicalize);
    expect(findPass('no-such-pass')).toBeUndefined();
  });

  it('has unique kebab-case names, a summary each, and a valid order', () => {
    const names = GRAPH_PASSES.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    for (const p of GRAPH_PASSES) {
      expect(p.name).toMatch(/^[a-z]+(-[a-z0-9]+)*$/);
      expect(p.summary.length).toBeGreaterThan(0);
    }
    expect(() => runPasses(sample(), GRAPH_PASSES, {}, { verifyEach: true })).not.toThrow();
  });

  it('runs the whole registry on every example under the verifier', () => {
    for (const file of ['tiny', 'mixtral', 'deepseek-v3', 'qwen-moe', 'gpt-oss', 'switch']) {
      const m = compileFile(`examples/${file}.moe`);
      expect(() => runPasses(m, GRAPH_PASSES, {}, { verifyEach: true }), file).not.toThrow();
    }
  });
});
