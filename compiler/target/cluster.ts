/**
 * @fileoverview Clusters as data: `targets/clusters/*.yaml` describe N chips of a target and
 * the two link levels between them (chips in a node over a fast link such as NVLink, nodes
 * over a network such as InfiniBand), checked by the same schema reader as target sheets
 * (`parseSheet`: file:line:col, units, ranges, E6xx).
 *
 * A cluster is its own file rather than a `cluster:` key of a chip sheet: one chip sheet
 * serves many clusters (8 GPUs a node or 4, 4 nodes or 40), a chip sheet is what `--target`
 * compiles for while a cluster is only costed, and a cluster file that names its chip keeps
 * each fact in one place. `chip:` is a shipped target's name or a sheet's path, relative to
 * the cluster file.
 *
 * Text in, cluster out: `parseCluster` reads no files itself (the caller resolves the chip).
 */
import { type Diagnostic, MoecError } from '../../ir/diagnostics.ts';
import type { TargetCaps } from './caps.ts';
import { type FieldSpec, type SheetChecker, type SheetKind, bandwidth, count, mapOf, parseSheet, time } from './parse.ts';

/** One level of links: what each chip can send (and, at once, receive) over it. */
export interface ClusterLink {
  /** `NVLink`, `InfiniBand`: for reports. */
  name: string;
  /** Bytes/second per chip, each direction. */
  bandwidth: number;
  /** Seconds from the start of a transfer to its first byte arriving. */
  latency: number;
}

/** A cluster file as written (the chip still a name or path). */
export interface ClusterSheet {
  name: string;
  description: string;
  /** A shipped target's name, or a chip sheet's path relative to the cluster file. */
  chip: string;
  chipsPerNode: number;
  nodes: number;
  /** Between chips of one node. */
  link: ClusterLink;
  /** Between nodes. */
  network: ClusterLink;
}

/** A cluster with its chip's capability sheet. */
export interface Cluster extends Omit<ClusterSheet, 'chip'> {
  /** The chip as the file names it. */
  chipRef: string;
  chip: TargetCaps;
}

const LINK: readonly FieldSpec<ClusterLink>[] = [
  { field: 'name', type: { kind: 'string' }, required: true, doc: 'what the link is, such as `NVLink` or `InfiniBand`' },
  { field: 'bandwidth', type: bandwidth, required: true, doc: 'per chip and direction, such as `50 GB/s`' },
  { field: 'latency', type: time, required: true, doc: 'time to the first byte of a transfer, such as `5 us`' },
];

/** Chips per node and nodes: each becomes a rank count, an MPI process count at most. */
const MAX_CHIPS_PER_NODE = 4096;
const MAX_NODES = 65536;

const CLUSTER: readonly FieldSpec<ClusterSheet>[] = [
  {
    field: 'name',
    type: { kind: 'string', pattern: /^[a-z0-9][a-z0-9-]*$/, patternDoc: 'lower-case letters, digits and `-`' },
    required: true,
    doc: 'the cluster\'s name, as given to `--cluster` (such as `h800`)',
  },
  { field: 'description', type: { kind: 'string' }, required: true, doc: 'one line saying what machines these are' },
  { field: 'chip', type: { kind: 'string' }, required: true, doc: 'a shipped target (`x86-avx2`) or a chip sheet\'s path relative to this file' },
  { field: 'chipsPerNode', type: count(1, MAX_CHIPS_PER_NODE), required: true, doc: 'chips in one node, joined by `link`' },
  { field: 'nodes', type: count(1, MAX_NODES), required: true, doc: 'nodes, joined by `network`' },
  { field: 'link', type: mapOf(LINK), required: true, doc: 'the link between chips of a node: `name`, `bandwidth`, `latency`' },
  { field: 'network', type: mapOf(LINK), required: true, doc: 'the network between nodes: `name`, `bandwidth`, `latency`' },
];

export const CLUSTER_KIND: SheetKind = { file: 'cluster file', sheet: 'cluster file', scope: 'describes chips and two link levels in a few lines' };

/**
 * Parses and validates a cluster file's text. `resolveChip` turns `chip:` into the chip's
 * capability sheet; a chip it cannot find (no such target or file: an error without a
 * source of its own) is reported at the `chip:` value, and a chip sheet with mistakes in it
 * reports them in that sheet.
 */
export function parseCluster(text: string, path: string, resolveChip: (ref: string) => TargetCaps): Cluster {
  let chip: TargetCaps | undefined;
  const sheet = parseSheet(text, path, CLUSTER_KIND, CLUSTER, (c: ClusterSheet, checker: SheetChecker) => {
    try {
      chip = resolveChip(c.chip);
    } catch (e) {
      const d: Diagnostic | undefined = e instanceof MoecError && e.diagnostics.length === 1 ? e.diagnostics[0] : undefined;
      if (!d || d.span) throw e;
      const at = checker.spans.get(c as unknown as Record<string, unknown>)?.chip;
      if (!at) throw e;
      checker.report('E613', `the cluster's chip \`${c.chip}\`: ${d.message}`, at, d.hint);
    }
  });
  const { chip: chipRef, ...rest } = sheet;
  return { ...rest, chipRef, chip: chip! };
}

/** Chips the whole cluster has. */
export function clusterChips(c: Pick<Cluster, 'chipsPerNode' | 'nodes'>): number {
  return c.chipsPerNode * c.nodes;
}

/** The node rank `rank` sits on: ranks fill one node before the next. */
export function nodeOf(c: Pick<Cluster, 'chipsPerNode'>, rank: number): number {
  return Math.floor(rank / c.chipsPerNode);
}
