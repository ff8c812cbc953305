/**
 * @fileoverview WGSL for moe_align: one workgroup groups the token slots by expert on the
 * GPU, so the counts never go to the host.
 *
 * Invocation e (strided over experts) counts expert e's slots and later writes them in slot
 * order (the stable order the reference defines, with no atomics and no sort); one
 * invocation turns the counts into row and block starts (E additions); then every
 * invocation pads its expert's last block and the rows and blocks past the used ones with
 * -1. Each invocation scans all T*K slots per expert it owns: O(E*T*K / W) work for a
 * workgroup of W invocations (the kernel's threads(workgroup=W)), small next to the GEMMs it feeds. Writes past the buffers (which the reference reports as a
 * bug) are skipped.
 */
import type { MoeAlignKernel } from '../../../ir/kernel/kernel.ts';
import { type Operand, PRELUDE, type ShaderEntry, accessors, workgroupOf } from './shader.ts';

/** Operands idx, sorted, bexp, cnt; extras nslots, sortedLen, blocksLen. */
export function alignShader(k: MoeAlignKernel, ops: Operand[]): ShaderEntry {
  const E = k.experts;
  const B = k.block;
  const W = workgroupOf(k);
  const code = `${PRELUDE}${accessors(ops, ['nslots', 'sortedLen', 'blocksLen'])}
var<workgroup> cnt: array<u32, ${E}>;
var<workgroup> rowStart: array<u32, ${E}>;
var<workgroup> blockStart: array<u32, ${E}>;
var<workgroup> used: vec2<u32>;

@compute @workgroup_size(${W})
fn main(@builtin(local_invocation_index) lid: u32) {
  let n = nslots();
  for (var e = lid; e < ${E}u; e += ${W}u) {
    var c = 0u;
    for (var s = 0u; s < n; s++) { if (ld_idx(s) == i32(e)) { c++; } }
    cnt[e] = c;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var rows = 0u;
    var blocks = 0u;
    for (var e = 0u; e < ${E}u; e++) {
      rowStart[e] = rows;
      blockStart[e] = blocks;
      let nb = (cnt[e] + ${B - 1}u) / ${B}u;
      rows += nb * ${B}u;
      blocks += nb;
    }
    used = vec2<u32>(rows, blocks);
    st_cnt(0u, i32(rows));
  }
  workgroupBarrier();
  for (var e = lid; e < ${E}u; e += ${W}u) {
    var r = rowStart[e];
    for (var s = 0u; s < n; s++) {
      if (ld_idx(s) == i32(e)) {
        if (r < sortedLen()) { st_sorted(r, i32(s)); }
        r++;
      }
    }
    let nb = (cnt[e] + ${B - 1}u) / ${B}u;
    for (; r < rowStart[e] + nb * ${B}u; r++) { if (r < sortedLen()) { st_sorted(r, -1); } }
    for (var b = blockStart[e]; b < blockStart[e] + nb; b++) { if (b < blocksLen()) { st_bexp(b, i32(e)); } }
  }
  for (var r = used.x + lid; r < sortedLen(); r += ${W}u) { st_sorted(r, -1); }
  for (var b = used.y + lid; b < blocksLen(); b += ${W}u) { st_bexp(b, -1); }
}
`;
  return { entry: 'main', code, workgroup: [W, 1, 1], workgroupBytes: 4 * (3 * E + 2) };
}
