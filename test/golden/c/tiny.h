/*
 * tiny.h: the tiny MoE layer, compiled by moec 0.1.0 for x86-avx2 (2-core x86-64 with AVX2 + FMA (256-bit vectors), 32 KiB L1d and 512 KiB L2 per core, shared L3).
 * Generated code: edit the .moe file and recompile instead.
 *
 * How to call it (every region is the caller's; forward allocates nothing, keeps no state):
 *   - weights: TINY_WEIGHTS_BYTES bytes, TINY_ALIGN-aligned, in the packed layout
 *     `moec pack` writes (GEMM weights pre-transposed into panels; see the blob's manifest);
 *   - arena: scratch of tiny_arena_bytes(T) bytes for calls with up to T tokens
 *     (TINY_ARENA_BYTES at the bound), TINY_ALIGN-aligned; never read between calls;
 *   - input x: f32[T-dependent, 8] floats, row-major (_X_FLOATS(T));
 *   - output y: f32[T-dependent, 8] floats, written (_Y_FLOATS(T));
 *   - T: 1 ..= TINY_MAX_TOKENS tokens; threads: 1 or more (POSIX threads, joined
 *     before forward returns; build with -DMOEC_NO_THREADS for a single-threaded build).
 * Returns TINY_OK, or an error code for bad arguments (nothing is written then).
 */
#ifndef TINY_H
#define TINY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TINY_MAX_TOKENS 256
#define TINY_ALIGN 64
#define TINY_WEIGHTS_BYTES 6272u
#define TINY_ARENA_BYTES 115904u
#define TINY_X_FLOATS(T) (((size_t)(T)) * (size_t)8)
#define TINY_Y_FLOATS(T) (((size_t)(T)) * (size_t)8)

enum {
  TINY_OK = 0,
  TINY_ERR_NULL = 1,    /* a pointer argument is NULL */
  TINY_ERR_TOKENS = 2,  /* T is not in 1 ..= TINY_MAX_TOKENS */
  TINY_ERR_ALIGN = 3,   /* weights or arena are not TINY_ALIGN-aligned */
  TINY_ERR_THREADS = 4, /* threads < 1 */
  TINY_ERR_ROUTING = 5  /* an expert index out of range (corrupted routing) */
};

/* Bytes of arena that forward touches for any call with T <= max_tokens (0 if out of range). */
size_t tiny_arena_bytes(int max_tokens);

int tiny_forward(const void *weights, const float *x, int T, float *y, void *arena, int threads);

#ifdef __cplusplus
}
#endif

#endif /* TINY_H */
