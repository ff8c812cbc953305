/*
 * mixtral_moe.h: the mixtral_moe MoE layer, compiled by moec 0.1.0 for x86-avx2 (2-core x86-64 with AVX2 + FMA (256-bit vectors), 32 KiB L1d and 512 KiB L2 per core, shared L3).
 * Generated code: edit the .moe file and recompile instead.
 *
 * How to call it (every region is the caller's; forward allocates nothing, keeps no state):
 *   - weights: MIXTRAL_MOE_WEIGHTS_BYTES bytes, MIXTRAL_MOE_ALIGN-aligned, in the packed layout
 *     `moec pack` writes (GEMM weights pre-transposed into panels; see the blob's manifest);
 *   - arena: scratch of mixtral_moe_arena_bytes(T) bytes for calls with up to T tokens
 *     (MIXTRAL_MOE_ARENA_BYTES at the bound), MIXTRAL_MOE_ALIGN-aligned; never read between calls;
 *   - input x: f32[T-dependent, 4096] floats, row-major (_X_FLOATS(T));
 *   - output y: f32[T-dependent, 4096] floats, written (_Y_FLOATS(T));
 *   - T: 1 ..= MIXTRAL_MOE_MAX_TOKENS tokens; threads: 1 or more (POSIX threads, joined
 *     before forward returns; build with -DMOEC_NO_THREADS for a single-threaded build).
 * Returns MIXTRAL_MOE_OK, or an error code for bad arguments (nothing is written then).
 */
#ifndef MIXTRAL_MOE_H
#define MIXTRAL_MOE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MIXTRAL_MOE_MAX_TOKENS 256
#define MIXTRAL_MOE_ALIGN 64
#define MIXTRAL_MOE_WEIGHTS_BYTES 5637275648u
#define MIXTRAL_MOE_ARENA_BYTES 42337024u
#define MIXTRAL_MOE_X_FLOATS(T) (((size_t)(T)) * (size_t)4096)
#define MIXTRAL_MOE_Y_FLOATS(T) (((size_t)(T)) * (size_t)4096)

enum {
  MIXTRAL_MOE_OK = 0,
  MIXTRAL_MOE_ERR_NULL = 1,    /* a pointer argument is NULL */
  MIXTRAL_MOE_ERR_TOKENS = 2,  /* T is not in 1 ..= MIXTRAL_MOE_MAX_TOKENS */
  MIXTRAL_MOE_ERR_ALIGN = 3,   /* weights or arena are not MIXTRAL_MOE_ALIGN-aligned */
  MIXTRAL_MOE_ERR_THREADS = 4, /* threads < 1 */
  MIXTRAL_MOE_ERR_ROUTING = 5  /* an expert index out of range (corrupted routing) */
};

/* Bytes of arena that forward touches for any call with T <= max_tokens (0 if out of range). */
size_t mixtral_moe_arena_bytes(int max_tokens);

int mixtral_moe_forward(const void *weights, const float *x, int T, float *y, void *arena, int threads);

#ifdef __cplusplus
}
#endif

#endif /* MIXTRAL_MOE_H */
