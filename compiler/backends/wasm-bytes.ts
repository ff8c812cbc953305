/**
 * @fileoverview A tiny WebAssembly assembler: function bodies written as lists of
 * instructions by their text-format names (`['f64x2.div']`, `['local.get', 3]`), encoded to a
 * module's bytes synchronously, with no dependency.
 *
 * The kernels of a compiled model are built with binaryen (compiler/backends/wasm/), which
 * loads asynchronously and costs a third of a second to start. The few helper modules
 * that run inside the compiler itself (the pack-time quantizer, quant-simd.ts) must be
 * usable from synchronous code on every backend, the C one included, so they are written
 * here instead: only the instructions they use are known, each with its immediates.
 */

/** One instruction: its text-format name, then its immediates (memarg: align log2, offset). */
export type Instr = readonly (string | number)[];

/** The immediates an instruction takes after its opcode. */
type Imm = 'u32' | 's32' | 'f64' | 'memarg' | 'lane' | 'lanes16' | 'bytes16' | 'block';

/** Opcode bytes (SIMD: 0xfd then the LEB128 of its number) and immediates, by name. */
const OPS: Record<string, { code: number[]; imm?: Imm[] }> = {};
const op = (name: string, code: number[], imm?: Imm[]): void => void (OPS[name] = { code, ...(imm ? { imm } : {}) });
const simd = (name: string, n: number, imm?: Imm[]): void => op(name, [0xfd, ...leb(n)], imm);

op('block', [0x02], ['block']);
op('loop', [0x03], ['block']);
op('if', [0x04], ['block']);
op('else', [0x05]);
op('end', [0x0b]);
op('br', [0x0c], ['u32']);
op('br_if', [0x0d], ['u32']);
op('return', [0x0f]);
op('select', [0x1b]);
op('local.get', [0x20], ['u32']);
op('local.set', [0x21], ['u32']);
op('local.tee', [0x22], ['u32']);
op('i32.load', [0x28], ['memarg']);
op('f32.load', [0x2a], ['memarg']);
op('i32.load8_u', [0x2d], ['memarg']);
op('f32.store', [0x38], ['memarg']);
op('i32.store8', [0x3a], ['memarg']);
op('i32.const', [0x41], ['s32']);
op('f32.const', [0x43], ['f64']);
op('f64.const', [0x44], ['f64']);
op('i32.eqz', [0x45]);
op('i32.lt_u', [0x49]);
op('i32.gt_u', [0x4b]);
op('f32.lt', [0x5d]);
op('f32.gt', [0x5e]);
op('i32.add', [0x6a]);
op('i32.sub', [0x6b]);
op('i32.mul', [0x6c]);
op('i32.and', [0x71]);
op('i32.or', [0x72]);
op('i32.shl', [0x74]);
op('f64.neg', [0x9a]);
op('f64.div', [0xa3]);
op('f32.demote_f64', [0xb6]);
op('f64.promote_f32', [0xbb]);
simd('v128.load', 0x00, ['memarg']);
simd('v128.store', 0x0b, ['memarg']);
simd('v128.const', 0x0c, ['bytes16']);
simd('i8x16.shuffle', 0x0d, ['lanes16']);
simd('i16x8.splat', 0x10);
simd('i64x2.splat', 0x12);
simd('f64x2.splat', 0x14);
simd('f32x4.extract_lane', 0x1f, ['lane']);
simd('f64x2.ne', 0x48);
simd('f64x2.lt', 0x49);
simd('f64x2.ge', 0x4c);
simd('v128.and', 0x4e);
simd('v128.or', 0x50);
simd('v128.bitselect', 0x52);
simd('v128.store64_lane', 0x5b, ['memarg', 'lane']);
simd('f64x2.promote_low_f32x4', 0x5f);
simd('i8x16.narrow_i16x8_s', 0x65);
simd('i8x16.narrow_i16x8_u', 0x66);
simd('i16x8.narrow_i32x4_s', 0x85);
simd('i16x8.narrow_i32x4_u', 0x86);
simd('i16x8.shr_u', 0x8d);
simd('f64x2.nearest', 0x94);
simd('i32x4.max_s', 0xb8);
simd('i64x2.shl', 0xcb);
simd('i64x2.shr_u', 0xcd);
simd('i64x2.add', 0xce);
simd('i64x2.sub', 0xd1);
simd('f32x4.abs', 0xe0);
simd('f64x2.abs', 0xec);
simd('f64x2.add', 0xf0);
simd('f64x2.mul', 0xf2);
simd('f64x2.div', 0xf3);
simd('f64x2.pmin', 0xf6);
simd('f64x2.pmax', 0xf7);
simd('i32x4.trunc_sat_f64x2_s_zero', 0xfc);

/** Value types by their text names. */
export const T = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b } as const;
export type ValType = (typeof T)[keyof typeof T];

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) return [...out, b];
    out.push(b | 0x80);
  }
}

function encode(i: Instr): number[] {
  const name = String(i[0]);
  const args = i.slice(1).map(Number);
  const o = OPS[name];
  if (!o) throw new Error(`wasm-bytes: no instruction '${name}'`);
  const out = [...o.code];
  let a = 0;
  for (const kind of o.imm ?? []) {
    if (kind === 'u32' || kind === 'lane') out.push(...leb(args[a++]));
    else if (kind === 's32') out.push(...sleb(args[a++]));
    else if (kind === 'memarg') out.push(...leb(args[a++]), ...leb(args[a++]));
    else if (kind === 'block') out.push(0x40); // no result: every block here is a statement
    else if (kind === 'f64') out.push(...new Uint8Array(name === 'f32.const' ? Float32Array.of(args[a++]).buffer : Float64Array.of(args[a++]).buffer));
    else {
      const bytes = args.slice(a, a + 16);
      a += 16;
      if (bytes.length !== 16) throw new Error(`wasm-bytes: ${name} takes 16 bytes`);
      out.push(...bytes);
    }
  }
  if (a !== args.length) throw new Error(`wasm-bytes: ${name} takes ${a} immediates, given ${args.length}`);
  return out;
}

/** A function: its parameters, result, further locals and body (without the final `end`). */
export interface FuncDef {
  name: string;
  params: ValType[];
  result?: ValType;
  locals: ValType[];
  body: Instr[];
}

const section = (id: number, content: number[]): number[] => [id, ...leb(content.length), ...content];
const vec = (items: number[][]): number[] => [...leb(items.length), ...items.flat()];
const str = (s: string): number[] => [...leb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

/** A module of `funcs` (all exported by name) and one memory exported as `memory`, `pages` long to start. */
export function assemble(funcs: readonly FuncDef[], pages: number): Uint8Array<ArrayBuffer> {
  const types = vec(funcs.map((f) => [0x60, ...vec(f.params.map((p) => [p])), ...(f.result === undefined ? [0] : [1, f.result])]));
  const code = vec(
    funcs.map((f) => {
      const body = [...vec(f.locals.map((t) => [1, t])), ...f.body.flatMap(encode), 0x0b];
      return [...leb(body.length), ...body];
    }),
  );
  const exports = vec([...funcs.map((f, i) => [...str(f.name), 0x00, ...leb(i)]), [...str('memory'), 0x02, 0]]);
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, types),
    ...section(3, vec(funcs.map((_, i) => leb(i)))),
    ...section(5, vec([[0x00, ...leb(pages)]])),
    ...section(7, exports),
    ...section(10, code),
  ]);
}

/**
 * `for (i = from; i < end; i += step) body` as a block around a loop, the test at the top
 * (i, from, end, step: locals; body must not leave values).
 */
export function forRange(i: number, from: Instr[], end: Instr[], step: Instr[], body: Instr[]): Instr[] {
  return [
    ...from,
    ['local.set', i],
    ['block'],
    ['loop'],
    ['local.get', i],
    ...end,
    ['i32.lt_u'],
    ['i32.eqz'],
    ['br_if', 1],
    ...body,
    ['local.get', i],
    ...step,
    ['i32.add'],
    ['local.set', i],
    ['br', 0],
    ['end'],
    ['end'],
  ];
}
