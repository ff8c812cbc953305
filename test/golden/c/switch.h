/*
 * switch_ffn.h: the switch_ffn MoE layer, compiled by moec 0.1.0 for x86-avx2 (2-core x86-64 with AVX2 + FMA (256-bit vectors), 32 KiB L1d and 512 KiB L2 per core, shared L3).
 * Generated code: edit the .moe file and recompile instead.
 *
 * How to call it (every region is the caller's; forward allocates nothing, keeps no state):
 *   - weights: SWITCH_FFN_WEIGHTS_BYTES bytes, SWITCH_FFN_ALIGN-aligned, in the packed layout
 *     `moec pack` writes (GEMM weights pre-transposed into panels; see the blob's manifest);
 *   - arena: scratch of switch_ffn_arena_bytes(T) bytes for calls with up to T tokens
 *     (SWITCH_FFN_ARENA_BYTES at the bound), SWITCH_FFN_ALIGN-aligned; never read between calls;
 *   - input x: f32[T-dependent, 768] floats, row-major (_X_FLOATS(T));
 *   - output y: f32[T-dependent, 768] floats, written (_Y_FLOATS(T));
 *   - T: 1 ..= SWITCH_FFN_MAX_TOKENS tokens; threads: 1 or more (POSIX threads, joined
 *     before forward returns; build with -DMOEC_NO_THREADS for a single-threaded build).
 * Returns SWITCH_FFN_OK, or an error code for bad arguments (nothing is written then).
 */
#ifndef SWITCH_FFN_H
#define SWITCH_FFN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SWITCH_FFN_MAX_TOKENS 256
#define SWITCH_FFN_ALIGN 64
#define SWITCH_FFN_WEIGHTS_BYTES 151019520u
#define SWITCH_FFN_ARENA_BYTES 5472896u
#define SWITCH_FFN_X_FLOATS(T) (((size_t)(T)) * (size_t)768)
#define SWITCH_FFN_Y_FLOATS(T) (((size_t)(T)) * (size_t)768)

enum {
  SWITCH_FFN_OK = 0,
  SWITCH_FFN_ERR_NULL = 1,    /* a pointer argument is NULL */
  SWITCH_FFN_ERR_TOKENS = 2,  /* T is not in 1 ..= SWITCH_FFN_MAX_TOKENS */
  SWITCH_FFN_ERR_ALIGN = 3,   /* weights or arena are not SWITCH_FFN_ALIGN-aligned */
  SWITCH_FFN_ERR_THREADS = 4, /* threads < 1 */
  SWITCH_FFN_ERR_ROUTING = 5  /* an expert index out of range (corrupted routing) */
};

/* Bytes of arena that forward touches for any call with T <= max_tokens (0 if out of range). */
size_t switch_ffn_arena_bytes(int max_tokens);

int switch_ffn_forward(const void *weights, const float *x, int T, float *y, void *arena, int threads);

#ifdef __cplusplus
}
#endif

#endif /* SWITCH_FFN_H */
