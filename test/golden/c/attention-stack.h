/*
 * m.h: the m MoE layer, compiled by moec 0.1.0 for x86-avx2 (2-core x86-64 with AVX2 + FMA (256-bit vectors), 32 KiB L1d and 512 KiB L2 per core, shared L3).
 * Generated code: edit the .moe file and recompile instead.
 *
 * How to call it (every region is the caller's; forward allocates nothing and keeps no state
 * but its worker threads, parked between calls):
 *   - weights: M_WEIGHTS_BYTES bytes, M_ALIGN-aligned, in the packed layout
 *     `moec pack` writes (GEMM weights pre-transposed into panels; see the blob's manifest);
 *   - arena: scratch of m_arena_bytes(T) bytes for calls with up to T tokens
 *     (M_ARENA_BYTES at the bound), M_ALIGN-aligned; never read between calls;
 *   - input x: f32[T-dependent, 4, 8] floats, row-major (_X_FLOATS(T));
 *   - input k: f32[T-dependent, 2, 8] floats, row-major (_K_FLOATS(T));
 *   - input v: f32[T-dependent, 2, 8] floats, row-major (_V_FLOATS(T));
 *   - output y: f32[T-dependent, 4, 8] floats, written (_Y_FLOATS(T));
 *   - cache: the KV caches, m_cache_bytes(max_context) bytes, M_ALIGN-aligned,
 *     kept by the caller between calls: a call with L positions already cached writes the
 *     new tokens' keys and values at positions L ..= L + T - 1 and attends over 0 ..= L + T - 1
 *     (prefill: L = 0; decode: T = 1); max_context (1 ..= M_MAX_CONTEXT) is the bound
 *     the region was sized for, the same in every call; m_reset zeroes it (optional:
 *     positions at L and beyond are written before they are read);
 *   - T: 1 ..= M_MAX_TOKENS tokens; threads: 1 or more (a pool of POSIX threads,
 *     started on the first call that needs them and kept for later calls; every kernel's
 *     work is done before forward returns; build with -DMOEC_NO_THREADS for a
 *     single-threaded build).
 * Returns M_OK, or an error code for bad arguments (nothing is written then).
 */
#ifndef M_H
#define M_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define M_MAX_TOKENS 16
#define M_ALIGN 64
#define M_WEIGHTS_BYTES 64u
#define M_ARENA_BYTES 8192u
#define M_MAX_CONTEXT 64
#define M_X_FLOATS(T) (((size_t)(T)) * (size_t)4 * (size_t)8)
#define M_K_FLOATS(T) (((size_t)(T)) * (size_t)2 * (size_t)8)
#define M_V_FLOATS(T) (((size_t)(T)) * (size_t)2 * (size_t)8)
#define M_Y_FLOATS(T) (((size_t)(T)) * (size_t)4 * (size_t)8)

enum {
  M_OK = 0,
  M_ERR_NULL = 1,    /* a pointer argument is NULL */
  M_ERR_TOKENS = 2,  /* T is not in 1 ..= M_MAX_TOKENS */
  M_ERR_ALIGN = 3,   /* weights, arena or cache are not M_ALIGN-aligned */
  M_ERR_THREADS = 4, /* threads < 1 */
  M_ERR_ROUTING = 5,  /* an expert index out of range (corrupted routing) */
  M_ERR_CONTEXT = 8  /* max_context outside 1 ..= M_MAX_CONTEXT, L < 0 or L + T > max_context */
};

/* Bytes of arena that forward touches for any call with T <= max_tokens (0 if out of range). */
size_t m_arena_bytes(int max_tokens);

/* Bytes of the cache region for contexts up to max_context positions (0 if out of range). */
size_t m_cache_bytes(int max_context);

/* Empties the cache region (zeroes its m_cache_bytes(max_context) bytes). */
void m_reset(void *cache, int max_context);

int m_forward(const void *weights, const float *x, const float *k, const float *v, int T, int L, float *y, void *arena, void *cache, int max_context, int threads);

#ifdef MOEC_PROFILE
/*
 * A timing build (-DMOEC_PROFILE): forward adds each kernel's wall time, in ms, to
 * m_kernel_ms[i] for kernel i of M_KERNEL_NAMES (a kernel inside a loop adds every
 * iteration's), so a regression points at its kernel. Not thread-safe across concurrent calls.
 */
#define M_KERNELS 4
#define M_KERNEL_NAMES { "k0_attention", "k1_add", "k2_attention", "k3_add" }
extern double m_kernel_ms[M_KERNELS];
#endif

#ifdef __cplusplus
}
#endif

#endif /* M_H */
