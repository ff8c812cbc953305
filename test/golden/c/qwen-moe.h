/*
 * qwen_moe.h: the qwen_moe MoE layer, compiled by moec 0.1.0 for x86-avx2 (2-core x86-64 with AVX2 + FMA (256-bit vectors), 32 KiB L1d and 512 KiB L2 per core, shared L3).
 * Generated code: edit the .moe file and recompile instead.
 *
 * How to call it (every region is the caller's; forward allocates nothing, keeps no state):
 *   - weights: QWEN_MOE_WEIGHTS_BYTES bytes, QWEN_MOE_ALIGN-aligned, in the packed layout
 *     `moec pack` writes (GEMM weights pre-transposed into panels; see the blob's manifest);
 *   - arena: scratch of qwen_moe_arena_bytes(T) bytes for calls with up to T tokens
 *     (QWEN_MOE_ARENA_BYTES at the bound), QWEN_MOE_ALIGN-aligned; never read between calls;
 *   - input x: f32[T-dependent, 2048] floats, row-major (_X_FLOATS(T));
 *   - output y: f32[T-dependent, 2048] floats, written (_Y_FLOATS(T));
 *   - T: 1 ..= QWEN_MOE_MAX_TOKENS tokens; threads: 1 or more (POSIX threads, joined
 *     before forward returns; build with -DMOEC_NO_THREADS for a single-threaded build).
 * Returns QWEN_MOE_OK, or an error code for bad arguments (nothing is written then).
 */
#ifndef QWEN_MOE_H
#define QWEN_MOE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QWEN_MOE_MAX_TOKENS 256
#define QWEN_MOE_ALIGN 64
#define QWEN_MOE_WEIGHTS_BYTES 2215092224u
#define QWEN_MOE_ARENA_BYTES 20550720u
#define QWEN_MOE_X_FLOATS(T) (((size_t)(T)) * (size_t)2048)
#define QWEN_MOE_Y_FLOATS(T) (((size_t)(T)) * (size_t)2048)

enum {
  QWEN_MOE_OK = 0,
  QWEN_MOE_ERR_NULL = 1,    /* a pointer argument is NULL */
  QWEN_MOE_ERR_TOKENS = 2,  /* T is not in 1 ..= QWEN_MOE_MAX_TOKENS */
  QWEN_MOE_ERR_ALIGN = 3,   /* weights or arena are not QWEN_MOE_ALIGN-aligned */
  QWEN_MOE_ERR_THREADS = 4, /* threads < 1 */
  QWEN_MOE_ERR_ROUTING = 5  /* an expert index out of range (corrupted routing) */
};

/* Bytes of arena that forward touches for any call with T <= max_tokens (0 if out of range). */
size_t qwen_moe_arena_bytes(int max_tokens);

int qwen_moe_forward(const void *weights, const float *x, int T, float *y, void *arena, int threads);

#ifdef __cplusplus
}
#endif

#endif /* QWEN_MOE_H */
