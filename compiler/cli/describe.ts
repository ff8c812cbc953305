/**
 * @fileoverview One-line descriptions of kernels for people: what a kernel computes and
 * what it fused, for `moec compile`'s report.
 */
import type { Epilogue, Kernel } from '../../ir/kernel/kernel.ts';

function epilogueText(e: Epilogue): string {
  switch (e.kind) {
    case 'bias':
      return '+bias';
    case 'act':
      return e.fn;
    case 'glu':
      return e.fn === 'swiglu_clamped' ? `clamped SwiGLU (${e.layout}, limit ${e.limit}, alpha ${e.alpha})` : `SwiGLU (${e.layout})`;
    case 'combine':
      return 'weighted combine';
  }
}

/** What a kernel does, including the graph ops fused into it. */
export function describeKernel(k: Kernel): string {
  switch (k.kind) {
    case 'router': {
      const parts = [`linear${k.bias ? '+bias' : ''}`];
      if (k.score !== 'none') parts.push(k.score);
      if (k.selectBias) parts.push('+correction bias (selection only)');
      parts.push(
        k.select.kind === 'group_topk'
          ? `group-limited top-${k.k} of ${k.experts} (${k.select.topkGroups} of ${k.select.groups} groups by ${k.select.groupScore})`
          : `top-${k.k} of ${k.experts}`,
      );
      if (k.selectBias) parts.push('gather unbiased scores');
      if (k.postSoftmax) parts.push('softmax over chosen');
      if (k.normalize) parts.push('normalise');
      if (k.scale !== 1) parts.push(`×${k.scale}`);
      if (k.capacityFactor !== undefined) parts.push(`capacity ×${k.capacityFactor}`);
      if (k.shared > 0) parts.push(`+${k.shared} shared expert${k.shared > 1 ? 's' : ''}${k.sharedGate ? ' (sigmoid-gated)' : ''}`);
      return `router: ${parts.join(' → ')}`;
    }
    case 'moe_align':
      return `group ${k.k} slots/token by expert into blocks of ${k.block} (${k.experts} experts)`;
    case 'grouped_gemm': {
      const rows = k.gather ? 'token rows gathered by expert' : 'expert rows';
      const epi = k.epilogue.map(epilogueText);
      if (k.init) epi.push('+residual');
      return `grouped GEMM over ${rows}${epi.length ? ` → ${epi.join(' → ')}` : ''}`;
    }
    case 'gemm':
      return `GEMM${k.epilogue.length ? ` → ${k.epilogue.map(epilogueText).join(' → ')}` : ''}`;
    case 'op':
      return k.op === 'elementwise' ? `elementwise ${String(k.attrs.expr)}` : k.op;
    case 'attention':
      return `attention (online softmax${k.window > 0 ? `, window ${k.window}` : ''}${k.sinks ? ', sinks' : ''})`;
    case 'mla_attention':
      return 'latent attention (W_UK absorbed into the query, W_UV into the output; online softmax)';
    case 'dispatch':
      return `all-to-all: send each routed choice's token row to its expert's rank (placement ${k.placement})`;
    case 'ep_combine':
      return `all-to-all back, then combine the weighted expert rows per token${k.init ? ' → +residual' : ''}`;
  }
}
