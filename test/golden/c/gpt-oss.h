/*
 * gpt_oss_moe.h: the gpt_oss_moe MoE layer, compiled by moec 0.1.0 for x86-avx2 (2-core x86-64 with AVX2 + FMA (256-bit vectors), 32 KiB L1d and 512 KiB L2 per core, shared L3).
 * Generated code: edit the .moe file and recompile instead.
 *
 * How to call it (every region is the caller's; forward allocates nothing, keeps no state):
 *   - weights: GPT_OSS_MOE_WEIGHTS_BYTES bytes, GPT_OSS_MOE_ALIGN-aligned, in the packed layout
 *     `moec pack` writes (GEMM weights pre-transposed into panels; see the blob's manifest);
 *   - arena: scratch of gpt_oss_moe_arena_bytes(T) bytes for calls with up to T tokens
 *     (GPT_OSS_MOE_ARENA_BYTES at the bound), GPT_OSS_MOE_ALIGN-aligned; never read between calls;
 *   - input x: f32[T-dependent, 2880] floats, row-major (_X_FLOATS(T));
 *   - output y: f32[T-dependent, 2880] floats, written (_Y_FLOATS(T));
 *   - T: 1 ..= GPT_OSS_MOE_MAX_TOKENS tokens; threads: 1 or more (POSIX threads, joined
 *     before forward returns; build with -DMOEC_NO_THREADS for a single-threaded build).
 * Returns GPT_OSS_MOE_OK, or an error code for bad arguments (nothing is written then).
 */
#ifndef GPT_OSS_MOE_H
#define GPT_OSS_MOE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GPT_OSS_MOE_MAX_TOKENS 256
#define GPT_OSS_MOE_ALIGN 64
#define GPT_OSS_MOE_WEIGHTS_BYTES 3186524288u
#define GPT_OSS_MOE_ARENA_BYTES 20342848u
#define GPT_OSS_MOE_X_FLOATS(T) (((size_t)(T)) * (size_t)2880)
#define GPT_OSS_MOE_Y_FLOATS(T) (((size_t)(T)) * (size_t)2880)

enum {
  GPT_OSS_MOE_OK = 0,
  GPT_OSS_MOE_ERR_NULL = 1,    /* a pointer argument is NULL */
  GPT_OSS_MOE_ERR_TOKENS = 2,  /* T is not in 1 ..= GPT_OSS_MOE_MAX_TOKENS */
  GPT_OSS_MOE_ERR_ALIGN = 3,   /* weights or arena are not GPT_OSS_MOE_ALIGN-aligned */
  GPT_OSS_MOE_ERR_THREADS = 4, /* threads < 1 */
  GPT_OSS_MOE_ERR_ROUTING = 5  /* an expert index out of range (corrupted routing) */
};

/* Bytes of arena that forward touches for any call with T <= max_tokens (0 if out of range). */
size_t gpt_oss_moe_arena_bytes(int max_tokens);

int gpt_oss_moe_forward(const void *weights, const float *x, int T, float *y, void *arena, int threads);

#ifdef __cplusplus
}
#endif

#endif /* GPT_OSS_MOE_H */
