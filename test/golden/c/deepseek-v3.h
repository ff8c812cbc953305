/*
 * deepseek_v3.h: the deepseek_v3 MoE layer, compiled by moec 0.1.0 for x86-avx2 (2-core x86-64 with AVX2 + FMA (256-bit vectors), 32 KiB L1d and 512 KiB L2 per core, shared L3).
 * Generated code: edit the .moe file and recompile instead.
 *
 * How to call it (every region is the caller's; forward allocates nothing, keeps no state):
 *   - weights: DEEPSEEK_V3_WEIGHTS_BYTES bytes, DEEPSEEK_V3_ALIGN-aligned, in the packed layout
 *     `moec pack` writes (GEMM weights pre-transposed into panels; see the blob's manifest);
 *   - arena: scratch of deepseek_v3_arena_bytes(T) bytes for calls with up to T tokens
 *     (DEEPSEEK_V3_ARENA_BYTES at the bound), DEEPSEEK_V3_ALIGN-aligned; never read between calls;
 *   - input x: f32[T-dependent, 7168] floats, row-major (_X_FLOATS(T));
 *   - output y: f32[T-dependent, 7168] floats, written (_Y_FLOATS(T));
 *   - T: 1 ..= DEEPSEEK_V3_MAX_TOKENS tokens; threads: 1 or more (POSIX threads, joined
 *     before forward returns; build with -DMOEC_NO_THREADS for a single-threaded build).
 * Returns DEEPSEEK_V3_OK, or an error code for bad arguments (nothing is written then).
 */
#ifndef DEEPSEEK_V3_H
#define DEEPSEEK_V3_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DEEPSEEK_V3_MAX_TOKENS 256
#define DEEPSEEK_V3_ALIGN 64
#define DEEPSEEK_V3_WEIGHTS_BYTES 2631038048256u
#define DEEPSEEK_V3_ARENA_BYTES 67258432u
#define DEEPSEEK_V3_X_FLOATS(T) (((size_t)(T)) * (size_t)7168)
#define DEEPSEEK_V3_Y_FLOATS(T) (((size_t)(T)) * (size_t)7168)

enum {
  DEEPSEEK_V3_OK = 0,
  DEEPSEEK_V3_ERR_NULL = 1,    /* a pointer argument is NULL */
  DEEPSEEK_V3_ERR_TOKENS = 2,  /* T is not in 1 ..= DEEPSEEK_V3_MAX_TOKENS */
  DEEPSEEK_V3_ERR_ALIGN = 3,   /* weights or arena are not DEEPSEEK_V3_ALIGN-aligned */
  DEEPSEEK_V3_ERR_THREADS = 4, /* threads < 1 */
  DEEPSEEK_V3_ERR_ROUTING = 5  /* an expert index out of range (corrupted routing) */
};

/* Bytes of arena that forward touches for any call with T <= max_tokens (0 if out of range). */
size_t deepseek_v3_arena_bytes(int max_tokens);

int deepseek_v3_forward(const void *weights, const float *x, int T, float *y, void *arena, int threads);

#ifdef __cplusplus
}
#endif

#endif /* DEEPSEEK_V3_H */
