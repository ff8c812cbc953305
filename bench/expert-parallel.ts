/**
 * @fileoverview The expert-parallel benchmark (issue 17): each workload (bench/workloads.ts)
 * on 2 MPI ranks of 1 thread each (`--chips 2`, mpirun --oversubscribe on this machine)
 * against 1 rank with 2 threads, same seeded weights and tokens, in one run; the bytes of
 * token rows that crossed between the ranks per token, as the MPI runner counted them, next to
 * the placement's prediction (compiler/cluster/exchange.ts). Results are checked against the
 * single-chip run (1e-6 relative) before they are timed.
 *
 *   npx tsx bench/expert-parallel.ts [--tokens 32,256,1024] [--repeat 7]
 *
 * Times are medians of `--repeat` forward calls in one process (the MPI runner times between
 * barriers: the slowest rank's), caches warm: this compares the two ways to spend two cores,
 * not DRAM bandwidth.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadC } from '../compiler/backends/c/index.ts';
import { loadCMpi } from '../compiler/backends/c/mpi.ts';
import { predictExchange } from '../compiler/cluster/exchange.ts';
import { compile, compileForCaps, randomInputs, randomWeights } from '../compiler/driver-core.ts';
import { loadTarget } from '../compiler/target/load.ts';
import { forEachKernel } from '../ir/kernel/walk.ts';
import { WORKLOADS } from './workloads.ts';

const { values } = parseArgs({ options: { tokens: { type: 'string' }, repeat: { type: 'string' } } });
const tokenCounts = (values.tokens ?? '32,256,1024').split(',').map(Number);
const repeat = Number(values.repeat ?? 7);
const target = loadTarget('x86-avx2');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const rows: string[] = ['| workload | T (total) | 1 rank × 2 threads (ms) | 2 ranks × 1 thread (ms) | 2 ranks / 1 rank | bytes/token measured | predicted | measured / predicted |', '|---|---|---|---|---|---|---|---|'];
for (const w of WORKLOADS) {
  const m = compile(readFileSync(w.file, 'utf8'), { path: w.file, consts: w.consts });
  const weights = randomWeights(m, 0);
  const maxTokens = Math.max(...tokenCounts);
  const one = compileForCaps(m, { target, maxTokens }).program;
  const ep = compileForCaps(m, { target, maxTokens: Math.ceil(maxTokens / 2), chips: 2 }).program;
  const single = loadC(one, target, weights);
  single.threads = 2;
  const dist = loadCMpi(ep, target, weights);
  dist.threads = 1;
  try {
    for (const T of tokenCounts) {
      const inputs = randomInputs(m, { T }, 1);
      const a = single.run(inputs, T, repeat);
      const b = dist.run(inputs, T, repeat);
      const [name, ref] = Object.entries(a.outputs)[0]!;
      const got = b.outputs[name]!;
      let d = 0;
      let mx = 0;
      for (let i = 0; i < ref.data.length; i++) {
        mx = Math.max(mx, Math.abs(ref.data[i]!));
        d = Math.max(d, Math.abs(ref.data[i]! - got.data[i]!));
      }
      if (!(d / mx < 1e-6)) throw new Error(`${w.name} T=${T}: 2 ranks differ from 1 by ${d / mx} relative`);
      // One MoE layer per workload: the placement and the routed k of its dispatch.
      let routed = 0;
      forEachKernel(ep.steps, (k) => {
        if (k.kind === 'dispatch') routed = k.routed;
      });
      const q = ep.ep!.placements[0]!;
      const predicted = predictExchange({ placement: q.placement, routed, rowBytes: 4 * (m.weights.find((x) => x.name === 'router')?.type.shape[1] as number) }).bytesPerToken;
      const measured = (dist.lastExchangeBytes ?? NaN) / T;
      const [ta, tb] = [median(a.times), median(b.times)];
      rows.push(`| ${w.name} | ${T} | ${ta.toFixed(2)} | ${tb.toFixed(2)} | ${(tb / ta).toFixed(2)} | ${measured.toFixed(0)} | ${predicted.toFixed(0)} | ${(measured / predicted).toFixed(3)} |`);
      console.error(rows.at(-1));
    }
  } finally {
    single.dispose();
    dist.dispose();
  }
}
console.log(rows.join('\n'));
