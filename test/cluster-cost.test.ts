/**
 * Clusters as data and the multi-chip cost model (issue 17): cluster YAML errors with
 * file:line:col, the all-to-all and overlap arithmetic by hand on the tiny model, the
 * imbalance model against a seeded simulation, training arithmetic (DeepSeek-V3's reported
 * 2.788M H800 GPU-hours), and `moec analyze --chips` as text, JSON and SVG.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, errorOf } from './capture.ts';
import { loadCluster, listClusters, loadTarget } from '../compiler/target/load.ts';
import { parseCluster } from '../compiler/target/cluster.ts';
import { expectedMaxCount, expertParallelCost, imbalanceOf, rankCounts } from '../compiler/cost/expert-parallel.ts';
import { planPlacement } from '../compiler/passes/place-experts.ts';
import { copyFor } from '../ir/kernel/placement.ts';
import { compileFile } from '../compiler/driver.ts';
import { compileForCost } from '../compiler/analysis/kernels.ts';
import { contextBindings } from '../compiler/analysis/flops.ts';
import { mfuFor, trainingCost } from '../compiler/analysis/train.ts';
import { countFlops } from '../compiler/analysis/flops.ts';
import { importHfConfig } from '../compiler/import/index.ts';
import { readmeClusterRow } from './cluster-readme.ts';

const dir = mkdtempSync(join(tmpdir(), 'moec-cluster-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = `name: two-by-two
description: test cluster
chip: x86-avx2
chipsPerNode: 2
nodes: 2
link:
  name: shm
  bandwidth: 10 GB/s
  latency: 1 us
network:
  name: tcp
  bandwidth: 2 GB/s
  latency: 20 us
`;

/** `CODE line:col message | hint` of each diagnostic of parsing `text`. */
function summary(text: string): string[] {
  const e = errorOf(() => parseCluster(text, 'c.yaml', (chip) => loadTarget(chip)));
  return e.diagnostics.map((d) => `${d.code} ${d.span ? `${e.sources.get('c.yaml')!.position(d.span.start).line}:${e.sources.get('c.yaml')!.position(d.span.start).col}` : '-'} ${d.message}${d.hint ? ` | ${d.hint}` : ''}`);
}

describe('cluster files', () => {
  it('the shipped clusters load, with their chips', () => {
    expect(listClusters()).toEqual(['dev-vm', 'h800']);
    const h = loadCluster('h800');
    expect([h.chip.name, h.chipsPerNode, h.nodes, h.link.bandwidth, h.network.bandwidth]).toEqual(['h800', 8, 256, 160e9, 50e9]);
    expect(h.chip.peakFlops.bf16).toBe(989e12);
    expect(loadCluster('dev-vm').chip.name).toBe('x86-avx2');
  });

  it('reads a good file; latencies take s, ms, us, µs, ns', () => {
    const c = parseCluster(GOOD.replace('1 us', '1 µs').replace('20 us', '0.02 ms'), 'c.yaml', (chip) => loadTarget(chip));
    expect(c.link.latency).toBeCloseTo(1e-6, 15);
    expect(c.network.latency).toBeCloseTo(2e-5, 15);
  });

  it('every mistake at its line and column, as target sheets report them', () => {
    expect(summary(GOOD.replace('chipsPerNode: 2', 'chipsPerNod: 2'))).toEqual([
      'E605 4:1 unknown key `chipsPerNod` | did you mean `chipsPerNode`?',
      'E606 1:1 missing required field `chipsPerNode` | `chipsPerNode`: chips in one node, joined by `link`',
    ]);
    expect(summary(GOOD.replace('latency: 1 us', 'latency: 1'))).toEqual(['E608 9:12 expected a time such as `5 us`, got `1` | add a unit: `1 s`, or one of `s`, `ms`, `us`, `µs`, `ns`']);
    expect(summary(GOOD.replace('latency: 1 us', 'latency: 1 usec'))[0]).toMatch(/^E608 9:14 .*\| write `us`$/);
    expect(summary(GOOD.replace('bandwidth: 2 GB/s', 'bandwidth: 2 GiB'))[0]).toMatch(/^E608 12:16 expected a bandwidth .*`GiB` is a unit of a size/);
    expect(summary(GOOD.replace('nodes: 2', 'nodes: 0'))).toEqual(['E610 5:8 `nodes` must be at least 1, got `0`']);
    expect(summary(GOOD.replace('latency: 20 us', 'latency: 2 s'))).toEqual(['E610 13:12 `network.latency` must be at most 1 s, got `2 s` | check the unit and the number against the data sheet']);
  });

  it('a chip that is no target is reported at `chip:` (E613); a missing file too', () => {
    expect(summary(GOOD.replace('chip: x86-avx2', 'chip: x86-avx3'))).toEqual(['E613 3:7 the cluster\'s chip `x86-avx3`: unknown target `x86-avx3` | did you mean `x86-avx2`?']);
    writeFileSync(join(dir, 'c.yaml'), GOOD.replace('chip: x86-avx2', 'chip: chips/none.yaml'));
    const e = errorOf(() => loadCluster(join(dir, 'c.yaml')));
    expect(e.diagnostics[0]!.code).toBe('E613');
    expect(e.diagnostics[0]!.message).toContain('none.yaml');
  });

  it('a chip path is relative to the cluster file', () => {
    writeFileSync(join(dir, 'chip.yaml'), readFileSync('targets/x86-avx2.yaml', 'utf8').replace('name: x86-avx2', 'name: my-chip'));
    writeFileSync(join(dir, 'rel.yaml'), GOOD.replace('chip: x86-avx2', 'chip: chip.yaml'));
    expect(loadCluster(join(dir, 'rel.yaml')).chip.name).toBe('my-chip');
  });

  it('an unknown cluster name is E613 with the shipped ones', () => {
    const e = errorOf(() => loadCluster('h80'));
    expect([e.diagnostics[0]!.code, e.diagnostics[0]!.hint]).toEqual(['E613', 'did you mean `h800`?']);
  });
});

/** A seeded generator (mulberry32): the simulation is the same every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Mean over `trials` of the busiest rank's count: each token draws k distinct experts by `share`, each choice goes to `copyFor`'s rank. */
function simulatedMax(p: ReturnType<typeof planPlacement>, share: number[], tokens: number, k: number, trials: number, seed: number, independent = false): number {
  const rand = rng(seed);
  let sum = 0;
  for (let t = 0; t < trials; t++) {
    const counts = new Array<number>(p.ranks).fill(0);
    let choice = 0;
    for (let i = 0; i < tokens; i++) {
      const picked = new Set<number>();
      if (independent) {
        // k independent choices by share: expert e gets k·share[e] of the choices on average,
        // what a routing-statistics load means (sampling k distinct by weight does not keep that)
        for (let j = 0; j < k; j++) {
          let u = rand();
          let e = 0;
          while (e < share.length - 1 && (u -= share[e]!) > 0) e++;
          counts[copyFor(p, e, choice++)]!++;
        }
        continue;
      }
      while (picked.size < k) {
        let u = rand() * share.filter((_, e) => !picked.has(e)).reduce((a, b) => a + b, 0);
        let e = 0;
        for (; e < share.length; e++) {
          if (picked.has(e)) continue;
          u -= share[e]!;
          if (u <= 0) break;
        }
        picked.add(Math.min(e, share.length - 1));
      }
      for (const e of picked) counts[copyFor(p, e, choice++)]!++;
    }
    sum += Math.max(...counts);
  }
  return sum / trials;
}

describe('load imbalance at a finite batch', () => {
  // the independence of the ranks' counts is an approximation: worst at a handful of choices
  // where a token's k distinct choices must land on k different ranks
  it.each([
    [8, 16, 2, 8, 0.03],
    [8, 16, 2, 256, 0.03],
    [4, 4, 2, 4, 0.08],
    [16, 64, 6, 64, 0.03],
  ])('%i ranks, %i experts, top-%i, %i tokens: the model is within %d of a seeded simulation', (ranks, experts, k, tokens, tolerance) => {
    const share = new Array<number>(experts).fill(1 / experts);
    const p = planPlacement({ experts, ranks });
    const model = expectedMaxCount(rankCounts(p, share, tokens, k));
    const sim = simulatedMax(p, share, tokens, k, 3000, 17);
    expect(Math.abs(model - sim) / sim).toBeLessThan(tolerance);
  });

  it('with a hot expert, replicas lower the imbalance, and the model follows the simulation', () => {
    const experts = 8;
    const load = [6, 1, 1, 1, 1, 1, 1, 1];
    const share = load.map((v) => v / 13);
    const p0 = planPlacement({ experts, ranks: 4, load, slotsPerRank: 3 });
    const p1 = planPlacement({ experts, ranks: 4, load, slotsPerRank: 3, redundant: 4 });
    const i0 = imbalanceOf(p0, share, 200, 2);
    const i1 = imbalanceOf(p1, share, 200, 2);
    expect(i1.expected).toBeLessThan(i0.expected);
    expect(i1.batch).toBeLessThan(i0.batch);
    for (const [p, i] of [[p0, i0], [p1, i1]] as const) {
      const sim = simulatedMax(p, share, 200, 2, 2000, 5, true) / ((200 * 2) / 4);
      expect(Math.abs(i.batch - sim) / sim).toBeLessThan(0.04);
    }
  });
});

describe('the cost model by hand on the tiny model', () => {
  const m = compileFile('examples/tiny.moe');
  const cluster = loadCluster('dev-vm');
  const T = 16;
  const bindings = contextBindings(m, T, 0);
  const program = compileForCost(m, cluster.chip, T, bindings);
  const c = expertParallelCost({ program, chip: cluster.chip, links: cluster, ranks: 4, tokens: T, bindings });
  const l = c.layers[0]!;

  it('all-to-all bytes: T·k rows of D f32 values, a quarter staying, a quarter to the node\'s other rank, half off the node', () => {
    const row = 8 * 4;
    expect(c.moeLayers).toBe(1);
    expect([l.experts, l.k, l.hidden, l.slotsPerRank]).toEqual([4, 2, 8, 1]);
    expect(l.dispatch.link).toBeCloseTo((T * 2 * row) / 4, 9);
    expect(l.dispatch.network).toBeCloseTo((T * 2 * row) / 2, 9);
  });

  it('communication: both levels at once, the busiest rank receiving `imbalance` × the mean, plus the slower latency', () => {
    const row = 8 * 4;
    const I = l.imbalance.withReplicas.batch;
    const recvMean = T * 2 * row * (3 / 4);
    const link = Math.max(l.dispatch.link, (I * recvMean * 1) / 3) / 10e9;
    const network = Math.max(l.dispatch.network, (I * recvMean * 2) / 3) / 2e9;
    expect(l.dispatchSeconds).toBeCloseTo(Math.max(link, network) + 20e-6, 12);
    expect(l.combineSeconds).toBe(l.dispatchSeconds);
  });

  it('overlap: each layer takes max(compute, communication); what it hides is the min', () => {
    const compute = l.expertSeconds + l.otherSeconds;
    const comm = l.dispatchSeconds + l.combineSeconds;
    expect(c.serialSeconds).toBeCloseTo(c.outsideSeconds + compute + comm, 15);
    expect(c.overlapSeconds).toBeCloseTo(c.outsideSeconds + Math.max(compute, comm), 15);
    expect(c.hiddenSeconds).toBeCloseTo(Math.min(compute, comm), 15);
    expect(c.tokensPerSecondPerChip).toBeCloseTo(T / c.overlapSeconds, 6);
  });

  it('one rank holds a quarter of the experts: weights are the router plus one expert of each of the three matrices', () => {
    const all = program.buffers.filter((b) => b.kind === 'weight');
    const total = all.reduce((a, b) => a + b.shape.reduce<number>((x, d) => x * (d as number), 1) * 4, 0);
    const router = 4 * 8 * 4;
    expect(c.weightBytesPerRank).toBeCloseTo(router + (total - router) / 4, 6);
  });

  it('a repeated layer\'s per-iteration slices are views, not storage: one rank of a looped model holds each stacked weight once', () => {
    const looped = compileFile('examples/deepseek-v3.moe', { consts: { D: 64, F_DENSE: 96, F: 32, E: 8, K: 2, GROUPS: 4, TOPK_GROUPS: 2, DENSE_LAYERS: 1, LAYERS: 4 } });
    const lb = contextBindings(looped, T, 0);
    const lp = compileForCost(looped, cluster.chip, T, lb);
    const one = expertParallelCost({ program: lp, chip: cluster.chip, links: cluster, ranks: 1, tokens: T, bindings: lb });
    const stored = looped.weights.reduce((a, w) => a + w.type.shape.reduce<number>((x, d) => x * (d as number), 1) * 4, 0);
    const packed = lp.buffers.filter((b) => b.kind === 'weight');
    expect(packed.length).toBeGreaterThan(0);
    // packing may add bytes (a shared expert appended to the routed ones), never a layer's worth of each weight
    expect(one.weightBytesPerRank).toBeGreaterThanOrEqual(stored * 0.99);
    expect(one.weightBytesPerRank).toBeLessThan(stored * 1.2);
  });

  it('a slower network costs more time per token, never less', () => {
    const slow = expertParallelCost({ program, chip: cluster.chip, links: { ...cluster, network: { ...cluster.network, bandwidth: 1e8 } }, ranks: 4, tokens: T, bindings });
    expect(slow.commSeconds).toBeGreaterThan(c.commSeconds);
    expect(slow.overlapSeconds).toBeGreaterThanOrEqual(c.overlapSeconds);
  });
});

describe('the README\'s DeepSeek-V3 deployment table', () => {
  const readme = readFileSync('README.md', 'utf8');
  const rows = [...readme.matchAll(/^\| ((?:prefill|decode), EP\d+) \| `([^`]+)` \|.*$/gm)];

  it('has the prefill and decode rows', () => {
    expect(rows.map((r) => r[1])).toEqual(['prefill, EP32', 'decode, EP320']);
  });

  it.each(rows.map((r) => [r[1]!, r[2]!, r[0]] as const))('%s: the numbers are what `moec analyze %s --json` reports', async (name, args, row) => {
    const r = await cli('analyze', 'examples/hf/DeepSeek-V3/config.json', ...args.split(' '), '--json');
    expect(r.code, r.err).toBe(0);
    expect(row).toBe(readmeClusterRow(name, args, JSON.parse(r.out).cluster));
  }, 60_000);

  it('the training paragraph: 3.71e24 FLOPs, 2.788M GPU-hours at MFU 0.374', async () => {
    expect(readme).toContain('come to 3.71e24 FLOPs (251 GFLOP a token');
    expect(readme).toContain('is an MFU of 0.374 of\n989 TFLOP/s');
    const r = await cli('analyze', 'examples/hf/DeepSeek-V3/config.json', '--cluster', 'h800', '--train-tokens', '14.8e12', '--mfu', '0.374', '--json');
    expect(r.code, r.err).toBe(0);
    const t = JSON.parse(r.out).training;
    expect(t.flops.toExponential(2)).toBe('3.71e+24');
    expect(Math.round(t.flopsPerToken / 1e9)).toBe(251);
    expect((t.chipHours / 1e6).toFixed(2)).toBe('2.79');
  }, 60_000);
});

describe('training cost', () => {
  it('DeepSeek-V3: FLOPs = 3 × the forward pass at 4K context × 14.8T tokens; the MFU that gives the reported 2.788M H800 GPU-hours', () => {
    const r = importHfConfig(readFileSync('examples/hf/DeepSeek-V3/config.json', 'utf8'), 'config.json');
    const chip = loadCluster('h800').chip;
    const prefill = countFlops(r.module, { bindings: contextBindings(r.module, 4096, 0) });
    const t = trainingCost({ tokens: 14.8e12, mfu: 0.4, context: 4096, prefill, chip });
    expect(t.flopsPerToken).toBeCloseTo((3 * prefill.total) / 4096, 0);
    expect(t.flops).toBeCloseTo(t.flopsPerToken * 14.8e12, -12);
    expect(t.chipHours).toBeCloseTo(t.flops / (989e12 * 0.4) / 3600, -1);
    // the active parameters' GEMMs are 2 FLOPs a parameter: 2 × 35.6B without the embedding lookup
    expect(t.forwardPerToken.gemm / 2 / 1e9).toBeCloseTo(35.6, 0);
    const mfu = mfuFor(t.flops, 2.788e6, 989e12);
    expect(trainingCost({ tokens: 14.8e12, mfu, context: 4096, prefill, chip }).chipHours).toBeCloseTo(2.788e6, -2);
    expect(mfu).toBeCloseTo(0.374, 3);
  });
});

describe('moec analyze --chips', () => {
  it('text: the expert-parallel section on the dev cluster', async () => {
    const r = await cli('analyze', 'examples/tiny.moe', '--chips', '4', '--cluster', 'dev-vm', '--tokens', '16', '--context', '16');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('expert parallelism on dev-vm: 4 × x86-avx2 (2 nodes of up to 2; shared memory 10.0 GB/s, loopback TCP 2.00 GB/s per chip)');
    expect(r.out).toContain('micro-batch per chip: prefill of 16 tokens, at f32; 1 MoE layer');
    expect(r.out).toMatch(/all-to-all bytes per token \(dispatch \+ combine\) +96 B {2}\(shared memory 32 B, loopback TCP 64 B\)/);
    expect(r.out).toMatch(/with two micro-batches overlapped/);
  });

  it('JSON: the cluster analysis and training as docs/analyze.md lists them', async () => {
    const r = await cli('analyze', 'examples/tiny.moe', '--chips', '2', '--cluster', 'dev-vm', '--json', '--train-tokens', '1e6', '--mfu', '0.5');
    expect(r.code, r.err).toBe(0);
    const a = JSON.parse(r.out);
    expect(Object.keys(a.cluster)).toEqual(['cluster', 'chip', 'chips', 'nodes', 'chipsPerNode', 'links', 'tokens', 'context', 'phase', 'dtype', 'moeLayers', 'layer', 'total', 'secondsPerToken', 'tokensPerSecondPerChip', 'memory', 'scaling']);
    expect([a.cluster.chips, a.cluster.nodes, a.cluster.phase]).toEqual([2, 1, 'decode']);
    // two ranks on one node: nothing crosses the network
    expect(a.cluster.layer.bytesPerToken.network).toBe(0);
    expect(a.cluster.layer.bytesPerToken.link).toBe(2 * 2 * 8 * 4 * 0.5);
    expect(a.training.flops).toBeCloseTo(3 * a.training.forwardPerToken.total * 1e6, 0);
    expect(a.training.peakDType).toBe('f32');
    const doc = readFileSync('docs/analyze.md', 'utf8');
    for (const f of Object.keys(a.cluster)) expect(doc, f).toContain(`\`cluster.${f}\``);
    for (const f of Object.keys(a.training)) expect(doc, f).toContain(`\`training.${f}\``);
  });

  it('--svg: time per token against chips, one point per chip count', async () => {
    const svg = join(dir, 'scaling.svg');
    const r = await cli('analyze', 'examples/tiny.moe', '--chips', '3', '--cluster', 'dev-vm', '--svg', svg);
    expect(r.code, r.err).toBe(0);
    const text = readFileSync(svg, 'utf8');
    expect([...text.matchAll(/data-chips="(\d+)"/g)].map((m) => Number(m[1]))).toEqual([1, 2, 3, 4]);
    expect(text).toContain('N = 3:');
  });

  it('--expert-load: the statistics `moec run --record-routing` writes set the expected load, and replicas follow the hot expert', async () => {
    // a hand-written statistics file for tiny.moe's one router: 70% of the choices to expert 2
    const rec = join(dir, 'rec.json');
    const r0 = await cli('run', 'examples/tiny.moe', '--tokens', '8', '--record-routing', rec);
    expect(r0.code, r0.err).toBe(0);
    const stats = JSON.parse(readFileSync(rec, 'utf8'));
    for (const l of stats.layers) l.counts = l.counts.map((_: number, e: number) => (e === 2 ? 70 : 10));
    const hot = join(dir, 'hot.json');
    writeFileSync(hot, JSON.stringify(stats));
    const plain = JSON.parse((await cli('analyze', 'examples/tiny.moe', '--chips', '4', '--cluster', 'dev-vm', '--tokens', '64', '--json')).out).cluster;
    const skewed = await cli('analyze', 'examples/tiny.moe', '--chips', '4', '--cluster', 'dev-vm', '--tokens', '64', '--redundant-experts', '3', '--expert-load', hot, '--json');
    expect(skewed.code, skewed.err).toBe(0);
    const a = JSON.parse(skewed.out).cluster;
    expect(plain.layer.imbalance.withoutReplicas.expected).toBeCloseTo(1, 6);
    expect(a.layer.imbalance.withoutReplicas.expected).toBeCloseTo(0.7 * 4, 6); // one chip holds expert 2 alone: 70% of the choices against a 25% mean
    expect(a.layer.imbalance.withReplicas.expected).toBeLessThan(a.layer.imbalance.withoutReplicas.expected);
    expect(a.layer.replicas).toBeGreaterThan(0);
    const bad = await cli('analyze', 'examples/tiny.moe', '--expert-load', hot);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--expert-load place experts over several chips: give --chips N/);
  });

  it('command-line mistakes are exit 2 with a hint; a bad cluster file is exit 1', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--cluster', 'dev-vm'], /--cluster needs --chips N/],
      [['--chips', '5', '--cluster', 'dev-vm'], /--chips 5 is more than cluster `dev-vm` has \(2 nodes of 2: 4 chips\)/],
      [['--chips', '2', '--target', 'x86-avx2'], /leave out --target/],
      [['--train-tokens', '1e6'], /--train-tokens needs --mfu/],
      [['--train-tokens', '1e6', '--mfu', '1.5', '--target', 'x86-avx2'], /--mfu must be a share of the peak/],
      [['--chips', '0'], /--chips must be a whole number from 1/],
    ];
    for (const [args, msg] of cases) {
      const r = await cli('analyze', 'examples/tiny.moe', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
    }
    writeFileSync(join(dir, 'bad.yaml'), GOOD.replace('nodes: 2', 'nodes: two'));
    const r = await cli('analyze', 'examples/tiny.moe', '--chips', '2', '--cluster', join(dir, 'bad.yaml'));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.yaml:5:8/);
    expect(existsSync(join(dir, 'bad.yaml'))).toBe(true);
  });
});
