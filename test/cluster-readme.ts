/**
 * One row of the README's DeepSeek-V3 deployment table from `moec analyze --chips ... --json`'s
 * `cluster` object: the README shows these strings and test/cluster-cost.test.ts checks them.
 */
import type { ClusterAnalysis } from '../compiler/analysis/cluster.ts';
import { fmtBytes, fmtNumber, fmtSeconds } from '../compiler/format.ts';

export function readmeClusterRow(name: string, args: string, a: ClusterAnalysis): string {
  const l = a.layer!;
  const cells = [
    name, `\`${args}\``, `${a.chips} (${a.nodes} nodes)`, `${fmtBytes(l.bytesPerToken.link)} / ${fmtBytes(l.bytesPerToken.network)}`,
    fmtSeconds(l.dispatchSeconds + l.combineSeconds), fmtSeconds(l.expertSeconds + l.otherSeconds),
    `${((100 * a.total.hiddenSeconds) / a.total.serialSeconds).toFixed(1)}%`,
    `${l.imbalance.withReplicas.expected.toFixed(2)} / ${l.imbalance.withReplicas.batch.toFixed(2)}`,
    fmtNumber(a.tokensPerSecondPerChip), `${fmtBytes(a.memory.weightBytesPerRank)}${a.memory.fits ? '' : ' (over 80 GiB)'}`,
  ];
  return `| ${cells.join(' | ')} |`;
}
