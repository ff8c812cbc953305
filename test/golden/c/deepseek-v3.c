/*
 * deepseek_v3.c: the deepseek_v3 MoE layer, compiled by moec 0.1.0 for x86-avx2 (2-core x86-64 with AVX2 + FMA (256-bit vectors), 32 KiB L1d and 512 KiB L2 per core, shared L3).
 * Generated code: edit the .moe file and recompile instead. The API is in deepseek_v3.h.
 *
 * Kernels, in order (fused by moec; tiles chosen for x86-avx2):
 *   k0_rmsnorm: rmsnorm over 7168
 *   k1_gemm: GEMM 7168 -> 36864, epilogue swiglu (concat), tile 4x24
 *   k2_gemm: GEMM 18432 -> 7168, epilogue none, tile 4x24
 *   k3_add: elementwise add
 *   k4_rmsnorm: rmsnorm over 7168
 *   k5_router: router: 256 experts, group top-8 (4 of 8 groups), sigmoid scores, 1 shared
 *   k6_moe_align: moe_align: 257 experts, blocks of 10 rows
 *   k7_grouped_gemm: grouped GEMM 7168 -> 4096, rows gathered from tokens, epilogue swiglu (concat), tile 5x16
 *   k8_grouped_gemm: grouped GEMM 2048 -> 7168, epilogue weighted combine, tile 5x16
 * Arena: 67258432 bytes at 256 tokens (every intermediate at a planned offset).
 */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "deepseek_v3.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- runtime: threads, math, micro-kernels ------------------------------------------- */

/*
 * The vector ISA the target was tiled for (AVX2 + FMA), used only when the compiler
 * has it enabled; otherwise every micro-kernel takes its portable C path.
 */
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define MOEC_SIMD 1
#else
#define MOEC_SIMD 0
#endif

/*
 * Fork-join over POSIX threads: work(arg, i, n) for i < n, the caller running i = 0.
 * Why pthreads and not OpenMP: no runtime library or compiler flag beyond -pthread, and a
 * vendor toolchain without OpenMP still builds this file (or drops threads with
 * -DMOEC_NO_THREADS).
 *
 * The threads are a persistent pool: started on the first parallel kernel that needs them and
 * parked on a condition variable between kernels, so a kernel call costs a wake-up instead of
 * a thread creation (~30 us each, paid per kernel per call before; a decode step runs four
 * kernels). Each kernel ends on a barrier: the caller waits until every worker has finished
 * its part, so forward still returns with all its work done. One caller at a time holds the
 * pool; another thread calling forward meanwhile, or a child process after fork (the pool's
 * threads are not copied into it), starts threads per kernel as before. If a thread cannot be
 * started, its part runs on the caller.
 */
typedef void (*moec_work)(const void *arg, int part, int parts);

#ifndef MOEC_NO_THREADS
#include <pthread.h>
#include <unistd.h>
#ifdef __STDC_NO_ATOMICS__
#error "moec's thread pool needs C11 atomics (<stdatomic.h>): build with -DMOEC_NO_THREADS for one thread"
#endif
#include <stdatomic.h>
#define MOEC_MAX_THREADS 64
/*
 * Spin before parking: a worker polls for the next job, and the caller for the last part, this
 * many pause instructions (tens of microseconds) before sleeping on the condition variable.
 * A decode step runs its kernels back to back, each a fraction of a millisecond; a wake-up
 * through the kernel costs 5-20 us a kernel (measured: ~0.5 ms of a 4 ms two-thread step).
 */
#ifndef MOEC_SPIN
#define MOEC_SPIN 4096
#endif
static void moec_relax(void) {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  __builtin_ia32_pause();
#endif
}
typedef struct {
  moec_work work;
  const void *arg;
  int part, parts;
} moec_task;

static void *moec_thread(void *p) {
  const moec_task *t = (const moec_task *)p;
  t->work(t->arg, t->part, t->parts);
  return NULL;
}

/* Threads started for this call alone: the fallback when the pool is busy or not ours. */
static void moec_fork_join(moec_work work, const void *arg, int n) {
  pthread_t tid[MOEC_MAX_THREADS];
  moec_task task[MOEC_MAX_THREADS];
  int started[MOEC_MAX_THREADS];
  int i;
  for (i = 1; i < n; i++) {
    task[i].work = work;
    task[i].arg = arg;
    task[i].part = i;
    task[i].parts = n;
    started[i] = pthread_create(&tid[i], NULL, moec_thread, &task[i]) == 0;
  }
  work(arg, 0, n);
  for (i = 1; i < n; i++) {
    if (started[i]) pthread_join(tid[i], NULL);
    else work(arg, i, n);
  }
}

/*
 * The pool: `workers` parked threads, worker w running part w of each job. A job is
 * published under `m` with a new generation number (mirrored in `gen` for the workers that
 * spin); the workers whose part exists run it and count `pending` down; the last one wakes
 * the caller, unless it is still spinning on `pending`.
 */
static struct {
  pthread_mutex_t owner; /* held by the caller whose kernels use the pool */
  pthread_mutex_t m;
  pthread_cond_t go, done;
  pid_t pid;             /* the process the workers belong to */
  int workers, parts;
  atomic_int pending;
  unsigned long generation;
  atomic_ulong gen;
  moec_work work;
  const void *arg;
  unsigned long born[MOEC_MAX_THREADS]; /* the generation when worker w was started: it runs the jobs after it */
} moec_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0, NULL, NULL, {0}};

static void *moec_worker(void *p) {
  const int w = (int)(size_t)p;
  unsigned long seen;
  pthread_mutex_lock(&moec_pool.m);
  seen = moec_pool.born[w];
  pthread_mutex_unlock(&moec_pool.m);
  for (;;) {
    int spin;
    for (spin = 0; spin < MOEC_SPIN && atomic_load_explicit(&moec_pool.gen, memory_order_acquire) == seen; spin++) moec_relax();
    pthread_mutex_lock(&moec_pool.m);
    while (moec_pool.generation == seen) pthread_cond_wait(&moec_pool.go, &moec_pool.m);
    seen = moec_pool.generation;
    if (w < moec_pool.parts) {
      const moec_work work = moec_pool.work;
      const void *arg = moec_pool.arg;
      const int parts = moec_pool.parts;
      pthread_mutex_unlock(&moec_pool.m);
      work(arg, w, parts);
      /* the last part wakes the caller; under `m`, so a caller between its test and its wait is not missed */
      if (atomic_fetch_sub(&moec_pool.pending, 1) == 1) {
        pthread_mutex_lock(&moec_pool.m);
        pthread_cond_signal(&moec_pool.done);
        pthread_mutex_unlock(&moec_pool.m);
      }
    } else
      pthread_mutex_unlock(&moec_pool.m);
  }
  return NULL;
}

/* Starts workers up to `want` (worker ids 1..want); returns how many there are. Caller holds `owner`. */
static int moec_pool_grow(int want) {
  pthread_attr_t attr;
  if (moec_pool.pid != getpid()) { /* first use, or a child after fork: no workers here */
    moec_pool.pid = getpid();
    moec_pool.workers = 0;
  }
  if (moec_pool.workers >= want || pthread_attr_init(&attr) != 0) return moec_pool.workers;
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  while (moec_pool.workers < want) {
    pthread_t tid;
    /* a new worker runs the jobs published after now, however late it first gets the lock */
    pthread_mutex_lock(&moec_pool.m);
    moec_pool.born[moec_pool.workers + 1] = moec_pool.generation;
    if (pthread_create(&tid, &attr, moec_worker, (void *)(size_t)(moec_pool.workers + 1)) != 0) {
      pthread_mutex_unlock(&moec_pool.m);
      break;
    }
    moec_pool.workers++;
    pthread_mutex_unlock(&moec_pool.m);
  }
  pthread_attr_destroy(&attr);
  return moec_pool.workers;
}
#endif

static void moec_parallel(moec_work work, const void *arg, int threads) {
#ifndef MOEC_NO_THREADS
  const int n = threads < MOEC_MAX_THREADS ? threads : MOEC_MAX_THREADS;
  int have, i;
  if (n <= 1) {
    work(arg, 0, 1);
    return;
  }
  if (pthread_mutex_trylock(&moec_pool.owner) != 0) {
    moec_fork_join(work, arg, n);
    return;
  }
  have = moec_pool_grow(n - 1);
  if (have > n - 1) have = n - 1;
  pthread_mutex_lock(&moec_pool.m);
  moec_pool.work = work;
  moec_pool.arg = arg;
  moec_pool.parts = n;
  atomic_store(&moec_pool.pending, have);
  moec_pool.generation++;
  atomic_store_explicit(&moec_pool.gen, moec_pool.generation, memory_order_release);
  pthread_cond_broadcast(&moec_pool.go);
  pthread_mutex_unlock(&moec_pool.m);
  work(arg, 0, n);
  for (i = have + 1; i < n; i++) work(arg, i, n); /* parts no worker could be started for */
  for (i = 0; i < MOEC_SPIN && atomic_load(&moec_pool.pending) > 0; i++) moec_relax();
  if (atomic_load(&moec_pool.pending) > 0) {
    pthread_mutex_lock(&moec_pool.m);
    while (atomic_load(&moec_pool.pending) > 0) pthread_cond_wait(&moec_pool.done, &moec_pool.m);
    pthread_mutex_unlock(&moec_pool.m);
  }
  pthread_mutex_unlock(&moec_pool.owner);
#else
  (void)threads;
  work(arg, 0, 1);
#endif
}

/* Part `part` of `parts` of the range [0, n): [*lo, *hi). */
static void moec_split(int n, int part, int parts, int *lo, int *hi) {
  *lo = (int)((long long)n * part / parts);
  *hi = (int)((long long)n * (part + 1) / parts);
}

/*
 * e^x in f32 within 1.5 ulp (libm's expf is correctly rounded but a call, so a loop of it never
 * vectorises; this one does, at -O3 with -fno-trapping-math): x = n ln2 + r with |r| <= ln2 / 2,
 * e^r a degree-7 polynomial (Cephes' expf coefficients), 2^n built in two halves from exponent
 * bits so that n = 128 (x up to 89) still overflows to inf only where e^x does. Below -104
 * (-inf included) it is 0, as e^x rounds to; NaN stays NaN.
 */
static inline float moec_exp(float x) {
  const float big = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer, in its low bits */
  const float xc = x > 89.0f ? 89.0f : x < -104.0f ? -104.0f : x;
  const float t = xc * 1.44269504088896341f + big, n = t - big;
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f; /* ln2 in two parts */
  float p = 1.9875691500e-4f, s1, s2;
  int32_t ti, h, b1, b2;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  memcpy(&ti, &t, sizeof ti);
  ti -= 0x4B400000; /* n, from the bits of t */
  h = ti / 2;
  b1 = (h + 127) * (1 << 23);
  b2 = (ti - h + 127) * (1 << 23);
  memcpy(&s1, &b1, sizeof s1);
  memcpy(&s2, &b2, sizeof s2);
  return x < -104.0f ? 0.0f : p * s1 * s2;
}
static float moec_silu(float x) { return x / (1.0f + moec_exp(-x)); }

/* ---- routing, in double: products of two floats are exact, sums in index order ------- */

/* out[i] = sum_k x[k] * w[i*d + k] for i < n, four rows at a time (each summed in order). */
static void moec_logits(const float *x, const float *w, int d, int n, double *out) {
  int i = 0, k;
  for (; i + 4 <= n; i += 4) {
    const float *w0 = w + (size_t)i * d, *w1 = w0 + d, *w2 = w1 + d, *w3 = w2 + d;
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (k = 0; k < d; k++) {
      const double xk = x[k];
      s0 += xk * w0[k];
      s1 += xk * w1[k];
      s2 += xk * w2[k];
      s3 += xk * w3[k];
    }
    out[i] = s0;
    out[i + 1] = s1;
    out[i + 2] = s2;
    out[i + 3] = s3;
  }
  for (; i < n; i++) {
    const float *wi = w + (size_t)i * d;
    double s = 0;
    for (k = 0; k < d; k++) s += (double)x[k] * wi[k];
    out[i] = s;
  }
}

/*
 * The logits of nt <= MOEC_LOGIT_TOKENS consecutive rows x_j = x + j * d at once, into
 * out[j * n + i]: each token in a vector lane of doubles, k in order, so every sum is the one
 * moec_logits makes (a product of two floats is exact in double: FMA or not, one rounding per
 * step). A router reads its weights once per block of tokens instead of once per token, and
 * multiplies MOEC_LOGIT_TOKENS at a time. x is transposed MOEC_LOGIT_DEPTH columns at a time
 * (a small stack buffer at any d); the sums continue in `out` from chunk to chunk.
 * -DMOEC_LOGIT_TOKENS=1 computes token by token (the same numbers; the tests compare the two).
 */
#ifndef MOEC_LOGIT_TOKENS
#if MOEC_SIMD && defined(__AVX512F__)
#define MOEC_LOGIT_TOKENS 8
#elif MOEC_SIMD
#define MOEC_LOGIT_TOKENS 4
#else
#define MOEC_LOGIT_TOKENS 1
#endif
#endif
#define MOEC_LOGIT_DEPTH 256
static void moec_logits_tokens(const float *x, int nt, const float *w, int d, int n, double *out) {
#if MOEC_SIMD && MOEC_LOGIT_TOKENS > 1
#if MOEC_LOGIT_TOKENS == 8 && defined(__AVX512F__)
#define MOEC_LT_VEC __m512d
#define MOEC_LT_X(p) _mm512_cvtps_pd(_mm256_loadu_ps(p))
#define MOEC_LT_SPLAT(v) _mm512_set1_pd(v)
#define MOEC_LT_FMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define MOEC_LT_LOAD(p) _mm512_loadu_pd(p)
#define MOEC_LT_STORE(p, v) _mm512_storeu_pd(p, v)
#define MOEC_LT_ZERO() _mm512_setzero_pd()
#elif MOEC_LOGIT_TOKENS == 4
#define MOEC_LT_VEC __m256d
#define MOEC_LT_X(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
#define MOEC_LT_SPLAT(v) _mm256_set1_pd(v)
#define MOEC_LT_FMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define MOEC_LT_LOAD(p) _mm256_loadu_pd(p)
#define MOEC_LT_STORE(p, v) _mm256_storeu_pd(p, v)
#define MOEC_LT_ZERO() _mm256_setzero_pd()
#else
#error "MOEC_LOGIT_TOKENS is 1, or the vector's doubles (4 with AVX2, 8 with AVX-512)"
#endif
  enum { L = MOEC_LOGIT_TOKENS };
  float xt[MOEC_LOGIT_DEPTH * L];
  double acc[4 * L];
  int k0, i, k, j, q;
  for (k0 = 0; k0 < d; k0 += MOEC_LOGIT_DEPTH) {
    const int kn = d - k0 < MOEC_LOGIT_DEPTH ? d - k0 : MOEC_LOGIT_DEPTH;
    for (k = 0; k < kn; k++)
      for (j = 0; j < L; j++) xt[k * L + j] = j < nt ? x[(size_t)j * d + k0 + k] : 0.0f;
    for (i = 0; i < n; i += 4) {
      const int m = n - i < 4 ? n - i : 4; /* experts in this step */
      MOEC_LT_VEC s0, s1, s2, s3;
      if (k0 == 0) {
        s0 = s1 = s2 = s3 = MOEC_LT_ZERO();
      } else { /* continue the sums of the earlier chunks, lane j = token j */
        for (q = 0; q < m; q++)
          for (j = 0; j < L; j++) acc[q * L + j] = j < nt ? out[(size_t)j * n + i + q] : 0.0;
        s0 = MOEC_LT_LOAD(acc);
        s1 = m > 1 ? MOEC_LT_LOAD(acc + L) : MOEC_LT_ZERO();
        s2 = m > 2 ? MOEC_LT_LOAD(acc + 2 * L) : MOEC_LT_ZERO();
        s3 = m > 3 ? MOEC_LT_LOAD(acc + 3 * L) : MOEC_LT_ZERO();
      }
      {
        const float *w0 = w + (size_t)i * d + k0, *w1 = m > 1 ? w0 + d : w0, *w2 = m > 2 ? w0 + 2 * (size_t)d : w0, *w3 = m > 3 ? w0 + 3 * (size_t)d : w0;
        for (k = 0; k < kn; k++) {
          const MOEC_LT_VEC xv = MOEC_LT_X(xt + k * L);
          s0 = MOEC_LT_FMA(xv, MOEC_LT_SPLAT((double)w0[k]), s0);
          s1 = MOEC_LT_FMA(xv, MOEC_LT_SPLAT((double)w1[k]), s1);
          s2 = MOEC_LT_FMA(xv, MOEC_LT_SPLAT((double)w2[k]), s2);
          s3 = MOEC_LT_FMA(xv, MOEC_LT_SPLAT((double)w3[k]), s3);
        }
      }
      MOEC_LT_STORE(acc, s0);
      MOEC_LT_STORE(acc + L, s1);
      MOEC_LT_STORE(acc + 2 * L, s2);
      MOEC_LT_STORE(acc + 3 * L, s3);
      for (q = 0; q < m; q++)
        for (j = 0; j < nt; j++) out[(size_t)j * n + i + q] = acc[q * L + j];
    }
  }
#undef MOEC_LT_VEC
#undef MOEC_LT_X
#undef MOEC_LT_SPLAT
#undef MOEC_LT_FMA
#undef MOEC_LT_LOAD
#undef MOEC_LT_STORE
#undef MOEC_LT_ZERO
  (void)moec_logits; /* a shared gate may still call it; here it is not needed */
#else
  int j;
  for (j = 0; j < nt; j++) moec_logits(x + (size_t)j * d, w, d, n, out + (size_t)j * n);
#endif
}


/* v ranks above w: larger, and NaN above every number (so NaN is never hidden by top-k). */
static int moec_better(double v, double w) { return v > w || (v != v && w == w); }

/*
 * The k best of x[0..n) into vals/idxs, best first; ties keep the lower index. With `kept`,
 * element i is a candidate only if kept[i / per]. Returns how many were found.
 */
static int moec_topk(const double *x, int n, int k, double *vals, int *idxs, const unsigned char *kept, int per) {
  int count = 0, i, p;
  for (i = 0; i < n; i++) {
    double v;
    if (kept && !kept[i / per]) continue;
    v = x[i];
    if (count == k && !moec_better(v, vals[k - 1])) continue;
    p = count < k ? count++ : k - 1;
    while (p > 0 && moec_better(v, vals[p - 1])) {
      vals[p] = vals[p - 1];
      idxs[p] = idxs[p - 1];
      p--;
    }
    vals[p] = v;
    idxs[p] = i;
  }
  return count;
}

/*
 * c[r][v] (+)= sum_k a[r][koff + k] * panel[k][v] for k < kd: 1 rows x 24 columns, k in
 * order; `acc` continues sums from an earlier depth chunk, else they start at zero.
 * AVX2 + FMA: 3 accumulator registers, the panel row loaded once per k.
 */
static void moec_micro_1x24(const float *const *a, int koff, const float *panel, int kd, float *c, int acc) {
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 24 + 0) : _mm256_setzero_ps(), c0_1 = acc ? _mm256_loadu_ps(c + 0 * 24 + 8) : _mm256_setzero_ps(), c0_2 = acc ? _mm256_loadu_ps(c + 0 * 24 + 16) : _mm256_setzero_ps();
  const float *a0 = a[0] + koff;
  int k;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 24;
    const __m256 b0 = _mm256_loadu_ps(b + 0);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    const __m256 b2 = _mm256_loadu_ps(b + 16);
    {
      const __m256 x = _mm256_set1_ps(a0[k]);
      c0_0 = _mm256_fmadd_ps(x, b0, c0_0);
      c0_1 = _mm256_fmadd_ps(x, b1, c0_1);
      c0_2 = _mm256_fmadd_ps(x, b2, c0_2);
    }
  }
  _mm256_storeu_ps(c + 0 * 24 + 0, c0_0);
  _mm256_storeu_ps(c + 0 * 24 + 8, c0_1);
  _mm256_storeu_ps(c + 0 * 24 + 16, c0_2);
#else
  float sum[1][24];
  int r, k, v;
  for (r = 0; r < 1; r++)
    for (v = 0; v < 24; v++) sum[r][v] = acc ? c[r * 24 + v] : 0.0f;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 24;
    for (r = 0; r < 1; r++) {
      const float x = a[r][koff + k];
      for (v = 0; v < 24; v++) sum[r][v] += x * b[v];
    }
  }
  for (r = 0; r < 1; r++)
    for (v = 0; v < 24; v++) c[r * 24 + v] = sum[r][v];
#endif
}

/*
 * Decode: one row against four panels at once, c[j][v] = sum_k a[0][k] * panel_j[k][v] with
 * panel_j = panel + j * stride. One row does little arithmetic per weight, so the weights'
 * bandwidth is the limit, and four streams keep more of memory's requests in flight than one.
 */
static void moec_micro_1x24_x4(const float *const *a, const float *panel, size_t stride, int kd, float *c) {
#if MOEC_SIMD
  __m256 c0_0 = _mm256_setzero_ps(), c0_1 = _mm256_setzero_ps(), c0_2 = _mm256_setzero_ps();
  __m256 c1_0 = _mm256_setzero_ps(), c1_1 = _mm256_setzero_ps(), c1_2 = _mm256_setzero_ps();
  __m256 c2_0 = _mm256_setzero_ps(), c2_1 = _mm256_setzero_ps(), c2_2 = _mm256_setzero_ps();
  __m256 c3_0 = _mm256_setzero_ps(), c3_1 = _mm256_setzero_ps(), c3_2 = _mm256_setzero_ps();
  const float *a0 = a[0];
  int k;
  for (k = 0; k < kd; k++) {
    const __m256 x = _mm256_set1_ps(a0[k]);
    c0_0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 0 * stride + (size_t)k * 24 + 0), c0_0);
    c0_1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 0 * stride + (size_t)k * 24 + 8), c0_1);
    c0_2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 0 * stride + (size_t)k * 24 + 16), c0_2);
    c1_0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 1 * stride + (size_t)k * 24 + 0), c1_0);
    c1_1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 1 * stride + (size_t)k * 24 + 8), c1_1);
    c1_2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 1 * stride + (size_t)k * 24 + 16), c1_2);
    c2_0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 2 * stride + (size_t)k * 24 + 0), c2_0);
    c2_1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 2 * stride + (size_t)k * 24 + 8), c2_1);
    c2_2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 2 * stride + (size_t)k * 24 + 16), c2_2);
    c3_0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 3 * stride + (size_t)k * 24 + 0), c3_0);
    c3_1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 3 * stride + (size_t)k * 24 + 8), c3_1);
    c3_2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 3 * stride + (size_t)k * 24 + 16), c3_2);
  }
  _mm256_storeu_ps(c + 0 * 24 + 0, c0_0);
  _mm256_storeu_ps(c + 0 * 24 + 8, c0_1);
  _mm256_storeu_ps(c + 0 * 24 + 16, c0_2);
  _mm256_storeu_ps(c + 1 * 24 + 0, c1_0);
  _mm256_storeu_ps(c + 1 * 24 + 8, c1_1);
  _mm256_storeu_ps(c + 1 * 24 + 16, c1_2);
  _mm256_storeu_ps(c + 2 * 24 + 0, c2_0);
  _mm256_storeu_ps(c + 2 * 24 + 8, c2_1);
  _mm256_storeu_ps(c + 2 * 24 + 16, c2_2);
  _mm256_storeu_ps(c + 3 * 24 + 0, c3_0);
  _mm256_storeu_ps(c + 3 * 24 + 8, c3_1);
  _mm256_storeu_ps(c + 3 * 24 + 16, c3_2);
#else
  int j;
  for (j = 0; j < 4; j++) moec_micro_1x24(a, 0, panel + j * stride, kd, c + j * 24, 0);
#endif
}

/*
 * c[r][v] (+)= sum_k a[r][koff + k] * panel[k][v] for k < kd: 2 rows x 24 columns, k in
 * order; `acc` continues sums from an earlier depth chunk, else they start at zero.
 * AVX2 + FMA: 6 accumulator registers, the panel row loaded once per k.
 */
static void moec_micro_2x24(const float *const *a, int koff, const float *panel, int kd, float *c, int acc) {
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 24 + 0) : _mm256_setzero_ps(), c0_1 = acc ? _mm256_loadu_ps(c + 0 * 24 + 8) : _mm256_setzero_ps(), c0_2 = acc ? _mm256_loadu_ps(c + 0 * 24 + 16) : _mm256_setzero_ps();
  __m256 c1_0 = acc ? _mm256_loadu_ps(c + 1 * 24 + 0) : _mm256_setzero_ps(), c1_1 = acc ? _mm256_loadu_ps(c + 1 * 24 + 8) : _mm256_setzero_ps(), c1_2 = acc ? _mm256_loadu_ps(c + 1 * 24 + 16) : _mm256_setzero_ps();
  const float *a0 = a[0] + koff;
  const float *a1 = a[1] + koff;
  int k;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 24;
    const __m256 b0 = _mm256_loadu_ps(b + 0);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    const __m256 b2 = _mm256_loadu_ps(b + 16);
    {
      const __m256 x = _mm256_set1_ps(a0[k]);
      c0_0 = _mm256_fmadd_ps(x, b0, c0_0);
      c0_1 = _mm256_fmadd_ps(x, b1, c0_1);
      c0_2 = _mm256_fmadd_ps(x, b2, c0_2);
    }
    {
      const __m256 x = _mm256_set1_ps(a1[k]);
      c1_0 = _mm256_fmadd_ps(x, b0, c1_0);
      c1_1 = _mm256_fmadd_ps(x, b1, c1_1);
      c1_2 = _mm256_fmadd_ps(x, b2, c1_2);
    }
  }
  _mm256_storeu_ps(c + 0 * 24 + 0, c0_0);
  _mm256_storeu_ps(c + 0 * 24 + 8, c0_1);
  _mm256_storeu_ps(c + 0 * 24 + 16, c0_2);
  _mm256_storeu_ps(c + 1 * 24 + 0, c1_0);
  _mm256_storeu_ps(c + 1 * 24 + 8, c1_1);
  _mm256_storeu_ps(c + 1 * 24 + 16, c1_2);
#else
  float sum[2][24];
  int r, k, v;
  for (r = 0; r < 2; r++)
    for (v = 0; v < 24; v++) sum[r][v] = acc ? c[r * 24 + v] : 0.0f;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 24;
    for (r = 0; r < 2; r++) {
      const float x = a[r][koff + k];
      for (v = 0; v < 24; v++) sum[r][v] += x * b[v];
    }
  }
  for (r = 0; r < 2; r++)
    for (v = 0; v < 24; v++) c[r * 24 + v] = sum[r][v];
#endif
}

/*
 * c[r][v] (+)= sum_k a[r][koff + k] * panel[k][v] for k < kd: 3 rows x 24 columns, k in
 * order; `acc` continues sums from an earlier depth chunk, else they start at zero.
 * AVX2 + FMA: 9 accumulator registers, the panel row loaded once per k.
 */
static void moec_micro_3x24(const float *const *a, int koff, const float *panel, int kd, float *c, int acc) {
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 24 + 0) : _mm256_setzero_ps(), c0_1 = acc ? _mm256_loadu_ps(c + 0 * 24 + 8) : _mm256_setzero_ps(), c0_2 = acc ? _mm256_loadu_ps(c + 0 * 24 + 16) : _mm256_setzero_ps();
  __m256 c1_0 = acc ? _mm256_loadu_ps(c + 1 * 24 + 0) : _mm256_setzero_ps(), c1_1 = acc ? _mm256_loadu_ps(c + 1 * 24 + 8) : _mm256_setzero_ps(), c1_2 = acc ? _mm256_loadu_ps(c + 1 * 24 + 16) : _mm256_setzero_ps();
  __m256 c2_0 = acc ? _mm256_loadu_ps(c + 2 * 24 + 0) : _mm256_setzero_ps(), c2_1 = acc ? _mm256_loadu_ps(c + 2 * 24 + 8) : _mm256_setzero_ps(), c2_2 = acc ? _mm256_loadu_ps(c + 2 * 24 + 16) : _mm256_setzero_ps();
  const float *a0 = a[0] + koff;
  const float *a1 = a[1] + koff;
  const float *a2 = a[2] + koff;
  int k;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 24;
    const __m256 b0 = _mm256_loadu_ps(b + 0);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    const __m256 b2 = _mm256_loadu_ps(b + 16);
    {
      const __m256 x = _mm256_set1_ps(a0[k]);
      c0_0 = _mm256_fmadd_ps(x, b0, c0_0);
      c0_1 = _mm256_fmadd_ps(x, b1, c0_1);
      c0_2 = _mm256_fmadd_ps(x, b2, c0_2);
    }
    {
      const __m256 x = _mm256_set1_ps(a1[k]);
      c1_0 = _mm256_fmadd_ps(x, b0, c1_0);
      c1_1 = _mm256_fmadd_ps(x, b1, c1_1);
      c1_2 = _mm256_fmadd_ps(x, b2, c1_2);
    }
    {
      const __m256 x = _mm256_set1_ps(a2[k]);
      c2_0 = _mm256_fmadd_ps(x, b0, c2_0);
      c2_1 = _mm256_fmadd_ps(x, b1, c2_1);
      c2_2 = _mm256_fmadd_ps(x, b2, c2_2);
    }
  }
  _mm256_storeu_ps(c + 0 * 24 + 0, c0_0);
  _mm256_storeu_ps(c + 0 * 24 + 8, c0_1);
  _mm256_storeu_ps(c + 0 * 24 + 16, c0_2);
  _mm256_storeu_ps(c + 1 * 24 + 0, c1_0);
  _mm256_storeu_ps(c + 1 * 24 + 8, c1_1);
  _mm256_storeu_ps(c + 1 * 24 + 16, c1_2);
  _mm256_storeu_ps(c + 2 * 24 + 0, c2_0);
  _mm256_storeu_ps(c + 2 * 24 + 8, c2_1);
  _mm256_storeu_ps(c + 2 * 24 + 16, c2_2);
#else
  float sum[3][24];
  int r, k, v;
  for (r = 0; r < 3; r++)
    for (v = 0; v < 24; v++) sum[r][v] = acc ? c[r * 24 + v] : 0.0f;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 24;
    for (r = 0; r < 3; r++) {
      const float x = a[r][koff + k];
      for (v = 0; v < 24; v++) sum[r][v] += x * b[v];
    }
  }
  for (r = 0; r < 3; r++)
    for (v = 0; v < 24; v++) c[r * 24 + v] = sum[r][v];
#endif
}

/*
 * c[r][v] (+)= sum_k a[r][koff + k] * panel[k][v] for k < kd: 4 rows x 24 columns, k in
 * order; `acc` continues sums from an earlier depth chunk, else they start at zero.
 * AVX2 + FMA: 12 accumulator registers, the panel row loaded once per k.
 */
static void moec_micro_4x24(const float *const *a, int koff, const float *panel, int kd, float *c, int acc) {
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 24 + 0) : _mm256_setzero_ps(), c0_1 = acc ? _mm256_loadu_ps(c + 0 * 24 + 8) : _mm256_setzero_ps(), c0_2 = acc ? _mm256_loadu_ps(c + 0 * 24 + 16) : _mm256_setzero_ps();
  __m256 c1_0 = acc ? _mm256_loadu_ps(c + 1 * 24 + 0) : _mm256_setzero_ps(), c1_1 = acc ? _mm256_loadu_ps(c + 1 * 24 + 8) : _mm256_setzero_ps(), c1_2 = acc ? _mm256_loadu_ps(c + 1 * 24 + 16) : _mm256_setzero_ps();
  __m256 c2_0 = acc ? _mm256_loadu_ps(c + 2 * 24 + 0) : _mm256_setzero_ps(), c2_1 = acc ? _mm256_loadu_ps(c + 2 * 24 + 8) : _mm256_setzero_ps(), c2_2 = acc ? _mm256_loadu_ps(c + 2 * 24 + 16) : _mm256_setzero_ps();
  __m256 c3_0 = acc ? _mm256_loadu_ps(c + 3 * 24 + 0) : _mm256_setzero_ps(), c3_1 = acc ? _mm256_loadu_ps(c + 3 * 24 + 8) : _mm256_setzero_ps(), c3_2 = acc ? _mm256_loadu_ps(c + 3 * 24 + 16) : _mm256_setzero_ps();
  const float *a0 = a[0] + koff;
  const float *a1 = a[1] + koff;
  const float *a2 = a[2] + koff;
  const float *a3 = a[3] + koff;
  int k;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 24;
    const __m256 b0 = _mm256_loadu_ps(b + 0);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    const __m256 b2 = _mm256_loadu_ps(b + 16);
    {
      const __m256 x = _mm256_set1_ps(a0[k]);
      c0_0 = _mm256_fmadd_ps(x, b0, c0_0);
      c0_1 = _mm256_fmadd_ps(x, b1, c0_1);
      c0_2 = _mm256_fmadd_ps(x, b2, c0_2);
    }
    {
      const __m256 x = _mm256_set1_ps(a1[k]);
      c1_0 = _mm256_fmadd_ps(x, b0, c1_0);
      c1_1 = _mm256_fmadd_ps(x, b1, c1_1);
      c1_2 = _mm256_fmadd_ps(x, b2, c1_2);
    }
    {
      const __m256 x = _mm256_set1_ps(a2[k]);
      c2_0 = _mm256_fmadd_ps(x, b0, c2_0);
      c2_1 = _mm256_fmadd_ps(x, b1, c2_1);
      c2_2 = _mm256_fmadd_ps(x, b2, c2_2);
    }
    {
      const __m256 x = _mm256_set1_ps(a3[k]);
      c3_0 = _mm256_fmadd_ps(x, b0, c3_0);
      c3_1 = _mm256_fmadd_ps(x, b1, c3_1);
      c3_2 = _mm256_fmadd_ps(x, b2, c3_2);
    }
  }
  _mm256_storeu_ps(c + 0 * 24 + 0, c0_0);
  _mm256_storeu_ps(c + 0 * 24 + 8, c0_1);
  _mm256_storeu_ps(c + 0 * 24 + 16, c0_2);
  _mm256_storeu_ps(c + 1 * 24 + 0, c1_0);
  _mm256_storeu_ps(c + 1 * 24 + 8, c1_1);
  _mm256_storeu_ps(c + 1 * 24 + 16, c1_2);
  _mm256_storeu_ps(c + 2 * 24 + 0, c2_0);
  _mm256_storeu_ps(c + 2 * 24 + 8, c2_1);
  _mm256_storeu_ps(c + 2 * 24 + 16, c2_2);
  _mm256_storeu_ps(c + 3 * 24 + 0, c3_0);
  _mm256_storeu_ps(c + 3 * 24 + 8, c3_1);
  _mm256_storeu_ps(c + 3 * 24 + 16, c3_2);
#else
  float sum[4][24];
  int r, k, v;
  for (r = 0; r < 4; r++)
    for (v = 0; v < 24; v++) sum[r][v] = acc ? c[r * 24 + v] : 0.0f;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 24;
    for (r = 0; r < 4; r++) {
      const float x = a[r][koff + k];
      for (v = 0; v < 24; v++) sum[r][v] += x * b[v];
    }
  }
  for (r = 0; r < 4; r++)
    for (v = 0; v < 24; v++) c[r * 24 + v] = sum[r][v];
#endif
}

/*
 * c[r][v] (+)= sum_k a[r][koff + k] * panel[k][v] for k < kd: 1 rows x 16 columns, k in
 * order; `acc` continues sums from an earlier depth chunk, else they start at zero.
 * AVX2 + FMA: 2 accumulator registers, the panel row loaded once per k.
 */
static void moec_micro_1x16(const float *const *a, int koff, const float *panel, int kd, float *c, int acc) {
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 16 + 0) : _mm256_setzero_ps(), c0_1 = acc ? _mm256_loadu_ps(c + 0 * 16 + 8) : _mm256_setzero_ps();
  const float *a0 = a[0] + koff;
  int k;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 16;
    const __m256 b0 = _mm256_loadu_ps(b + 0);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    {
      const __m256 x = _mm256_set1_ps(a0[k]);
      c0_0 = _mm256_fmadd_ps(x, b0, c0_0);
      c0_1 = _mm256_fmadd_ps(x, b1, c0_1);
    }
  }
  _mm256_storeu_ps(c + 0 * 16 + 0, c0_0);
  _mm256_storeu_ps(c + 0 * 16 + 8, c0_1);
#else
  float sum[1][16];
  int r, k, v;
  for (r = 0; r < 1; r++)
    for (v = 0; v < 16; v++) sum[r][v] = acc ? c[r * 16 + v] : 0.0f;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 16;
    for (r = 0; r < 1; r++) {
      const float x = a[r][koff + k];
      for (v = 0; v < 16; v++) sum[r][v] += x * b[v];
    }
  }
  for (r = 0; r < 1; r++)
    for (v = 0; v < 16; v++) c[r * 16 + v] = sum[r][v];
#endif
}

/*
 * Decode: one row against four panels at once, c[j][v] = sum_k a[0][k] * panel_j[k][v] with
 * panel_j = panel + j * stride. One row does little arithmetic per weight, so the weights'
 * bandwidth is the limit, and four streams keep more of memory's requests in flight than one.
 */
static void moec_micro_1x16_x4(const float *const *a, const float *panel, size_t stride, int kd, float *c) {
#if MOEC_SIMD
  __m256 c0_0 = _mm256_setzero_ps(), c0_1 = _mm256_setzero_ps();
  __m256 c1_0 = _mm256_setzero_ps(), c1_1 = _mm256_setzero_ps();
  __m256 c2_0 = _mm256_setzero_ps(), c2_1 = _mm256_setzero_ps();
  __m256 c3_0 = _mm256_setzero_ps(), c3_1 = _mm256_setzero_ps();
  const float *a0 = a[0];
  int k;
  for (k = 0; k < kd; k++) {
    const __m256 x = _mm256_set1_ps(a0[k]);
    c0_0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 0 * stride + (size_t)k * 16 + 0), c0_0);
    c0_1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 0 * stride + (size_t)k * 16 + 8), c0_1);
    c1_0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 1 * stride + (size_t)k * 16 + 0), c1_0);
    c1_1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 1 * stride + (size_t)k * 16 + 8), c1_1);
    c2_0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 2 * stride + (size_t)k * 16 + 0), c2_0);
    c2_1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 2 * stride + (size_t)k * 16 + 8), c2_1);
    c3_0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 3 * stride + (size_t)k * 16 + 0), c3_0);
    c3_1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(panel + 3 * stride + (size_t)k * 16 + 8), c3_1);
  }
  _mm256_storeu_ps(c + 0 * 16 + 0, c0_0);
  _mm256_storeu_ps(c + 0 * 16 + 8, c0_1);
  _mm256_storeu_ps(c + 1 * 16 + 0, c1_0);
  _mm256_storeu_ps(c + 1 * 16 + 8, c1_1);
  _mm256_storeu_ps(c + 2 * 16 + 0, c2_0);
  _mm256_storeu_ps(c + 2 * 16 + 8, c2_1);
  _mm256_storeu_ps(c + 3 * 16 + 0, c3_0);
  _mm256_storeu_ps(c + 3 * 16 + 8, c3_1);
#else
  int j;
  for (j = 0; j < 4; j++) moec_micro_1x16(a, 0, panel + j * stride, kd, c + j * 16, 0);
#endif
}

/*
 * c[r][v] (+)= sum_k a[r][koff + k] * panel[k][v] for k < kd: 2 rows x 16 columns, k in
 * order; `acc` continues sums from an earlier depth chunk, else they start at zero.
 * AVX2 + FMA: 4 accumulator registers, the panel row loaded once per k.
 */
static void moec_micro_2x16(const float *const *a, int koff, const float *panel, int kd, float *c, int acc) {
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 16 + 0) : _mm256_setzero_ps(), c0_1 = acc ? _mm256_loadu_ps(c + 0 * 16 + 8) : _mm256_setzero_ps();
  __m256 c1_0 = acc ? _mm256_loadu_ps(c + 1 * 16 + 0) : _mm256_setzero_ps(), c1_1 = acc ? _mm256_loadu_ps(c + 1 * 16 + 8) : _mm256_setzero_ps();
  const float *a0 = a[0] + koff;
  const float *a1 = a[1] + koff;
  int k;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 16;
    const __m256 b0 = _mm256_loadu_ps(b + 0);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    {
      const __m256 x = _mm256_set1_ps(a0[k]);
      c0_0 = _mm256_fmadd_ps(x, b0, c0_0);
      c0_1 = _mm256_fmadd_ps(x, b1, c0_1);
    }
    {
      const __m256 x = _mm256_set1_ps(a1[k]);
      c1_0 = _mm256_fmadd_ps(x, b0, c1_0);
      c1_1 = _mm256_fmadd_ps(x, b1, c1_1);
    }
  }
  _mm256_storeu_ps(c + 0 * 16 + 0, c0_0);
  _mm256_storeu_ps(c + 0 * 16 + 8, c0_1);
  _mm256_storeu_ps(c + 1 * 16 + 0, c1_0);
  _mm256_storeu_ps(c + 1 * 16 + 8, c1_1);
#else
  float sum[2][16];
  int r, k, v;
  for (r = 0; r < 2; r++)
    for (v = 0; v < 16; v++) sum[r][v] = acc ? c[r * 16 + v] : 0.0f;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 16;
    for (r = 0; r < 2; r++) {
      const float x = a[r][koff + k];
      for (v = 0; v < 16; v++) sum[r][v] += x * b[v];
    }
  }
  for (r = 0; r < 2; r++)
    for (v = 0; v < 16; v++) c[r * 16 + v] = sum[r][v];
#endif
}

/*
 * c[r][v] (+)= sum_k a[r][koff + k] * panel[k][v] for k < kd: 3 rows x 16 columns, k in
 * order; `acc` continues sums from an earlier depth chunk, else they start at zero.
 * AVX2 + FMA: 6 accumulator registers, the panel row loaded once per k.
 */
static void moec_micro_3x16(const float *const *a, int koff, const float *panel, int kd, float *c, int acc) {
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 16 + 0) : _mm256_setzero_ps(), c0_1 = acc ? _mm256_loadu_ps(c + 0 * 16 + 8) : _mm256_setzero_ps();
  __m256 c1_0 = acc ? _mm256_loadu_ps(c + 1 * 16 + 0) : _mm256_setzero_ps(), c1_1 = acc ? _mm256_loadu_ps(c + 1 * 16 + 8) : _mm256_setzero_ps();
  __m256 c2_0 = acc ? _mm256_loadu_ps(c + 2 * 16 + 0) : _mm256_setzero_ps(), c2_1 = acc ? _mm256_loadu_ps(c + 2 * 16 + 8) : _mm256_setzero_ps();
  const float *a0 = a[0] + koff;
  const float *a1 = a[1] + koff;
  const float *a2 = a[2] + koff;
  int k;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 16;
    const __m256 b0 = _mm256_loadu_ps(b + 0);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    {
      const __m256 x = _mm256_set1_ps(a0[k]);
      c0_0 = _mm256_fmadd_ps(x, b0, c0_0);
      c0_1 = _mm256_fmadd_ps(x, b1, c0_1);
    }
    {
      const __m256 x = _mm256_set1_ps(a1[k]);
      c1_0 = _mm256_fmadd_ps(x, b0, c1_0);
      c1_1 = _mm256_fmadd_ps(x, b1, c1_1);
    }
    {
      const __m256 x = _mm256_set1_ps(a2[k]);
      c2_0 = _mm256_fmadd_ps(x, b0, c2_0);
      c2_1 = _mm256_fmadd_ps(x, b1, c2_1);
    }
  }
  _mm256_storeu_ps(c + 0 * 16 + 0, c0_0);
  _mm256_storeu_ps(c + 0 * 16 + 8, c0_1);
  _mm256_storeu_ps(c + 1 * 16 + 0, c1_0);
  _mm256_storeu_ps(c + 1 * 16 + 8, c1_1);
  _mm256_storeu_ps(c + 2 * 16 + 0, c2_0);
  _mm256_storeu_ps(c + 2 * 16 + 8, c2_1);
#else
  float sum[3][16];
  int r, k, v;
  for (r = 0; r < 3; r++)
    for (v = 0; v < 16; v++) sum[r][v] = acc ? c[r * 16 + v] : 0.0f;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 16;
    for (r = 0; r < 3; r++) {
      const float x = a[r][koff + k];
      for (v = 0; v < 16; v++) sum[r][v] += x * b[v];
    }
  }
  for (r = 0; r < 3; r++)
    for (v = 0; v < 16; v++) c[r * 16 + v] = sum[r][v];
#endif
}

/*
 * c[r][v] (+)= sum_k a[r][koff + k] * panel[k][v] for k < kd: 4 rows x 16 columns, k in
 * order; `acc` continues sums from an earlier depth chunk, else they start at zero.
 * AVX2 + FMA: 8 accumulator registers, the panel row loaded once per k.
 */
static void moec_micro_4x16(const float *const *a, int koff, const float *panel, int kd, float *c, int acc) {
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 16 + 0) : _mm256_setzero_ps(), c0_1 = acc ? _mm256_loadu_ps(c + 0 * 16 + 8) : _mm256_setzero_ps();
  __m256 c1_0 = acc ? _mm256_loadu_ps(c + 1 * 16 + 0) : _mm256_setzero_ps(), c1_1 = acc ? _mm256_loadu_ps(c + 1 * 16 + 8) : _mm256_setzero_ps();
  __m256 c2_0 = acc ? _mm256_loadu_ps(c + 2 * 16 + 0) : _mm256_setzero_ps(), c2_1 = acc ? _mm256_loadu_ps(c + 2 * 16 + 8) : _mm256_setzero_ps();
  __m256 c3_0 = acc ? _mm256_loadu_ps(c + 3 * 16 + 0) : _mm256_setzero_ps(), c3_1 = acc ? _mm256_loadu_ps(c + 3 * 16 + 8) : _mm256_setzero_ps();
  const float *a0 = a[0] + koff;
  const float *a1 = a[1] + koff;
  const float *a2 = a[2] + koff;
  const float *a3 = a[3] + koff;
  int k;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 16;
    const __m256 b0 = _mm256_loadu_ps(b + 0);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    {
      const __m256 x = _mm256_set1_ps(a0[k]);
      c0_0 = _mm256_fmadd_ps(x, b0, c0_0);
      c0_1 = _mm256_fmadd_ps(x, b1, c0_1);
    }
    {
      const __m256 x = _mm256_set1_ps(a1[k]);
      c1_0 = _mm256_fmadd_ps(x, b0, c1_0);
      c1_1 = _mm256_fmadd_ps(x, b1, c1_1);
    }
    {
      const __m256 x = _mm256_set1_ps(a2[k]);
      c2_0 = _mm256_fmadd_ps(x, b0, c2_0);
      c2_1 = _mm256_fmadd_ps(x, b1, c2_1);
    }
    {
      const __m256 x = _mm256_set1_ps(a3[k]);
      c3_0 = _mm256_fmadd_ps(x, b0, c3_0);
      c3_1 = _mm256_fmadd_ps(x, b1, c3_1);
    }
  }
  _mm256_storeu_ps(c + 0 * 16 + 0, c0_0);
  _mm256_storeu_ps(c + 0 * 16 + 8, c0_1);
  _mm256_storeu_ps(c + 1 * 16 + 0, c1_0);
  _mm256_storeu_ps(c + 1 * 16 + 8, c1_1);
  _mm256_storeu_ps(c + 2 * 16 + 0, c2_0);
  _mm256_storeu_ps(c + 2 * 16 + 8, c2_1);
  _mm256_storeu_ps(c + 3 * 16 + 0, c3_0);
  _mm256_storeu_ps(c + 3 * 16 + 8, c3_1);
#else
  float sum[4][16];
  int r, k, v;
  for (r = 0; r < 4; r++)
    for (v = 0; v < 16; v++) sum[r][v] = acc ? c[r * 16 + v] : 0.0f;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 16;
    for (r = 0; r < 4; r++) {
      const float x = a[r][koff + k];
      for (v = 0; v < 16; v++) sum[r][v] += x * b[v];
    }
  }
  for (r = 0; r < 4; r++)
    for (v = 0; v < 16; v++) c[r * 16 + v] = sum[r][v];
#endif
}

/*
 * c[r][v] (+)= sum_k a[r][koff + k] * panel[k][v] for k < kd: 5 rows x 16 columns, k in
 * order; `acc` continues sums from an earlier depth chunk, else they start at zero.
 * AVX2 + FMA: 10 accumulator registers, the panel row loaded once per k.
 */
static void moec_micro_5x16(const float *const *a, int koff, const float *panel, int kd, float *c, int acc) {
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 16 + 0) : _mm256_setzero_ps(), c0_1 = acc ? _mm256_loadu_ps(c + 0 * 16 + 8) : _mm256_setzero_ps();
  __m256 c1_0 = acc ? _mm256_loadu_ps(c + 1 * 16 + 0) : _mm256_setzero_ps(), c1_1 = acc ? _mm256_loadu_ps(c + 1 * 16 + 8) : _mm256_setzero_ps();
  __m256 c2_0 = acc ? _mm256_loadu_ps(c + 2 * 16 + 0) : _mm256_setzero_ps(), c2_1 = acc ? _mm256_loadu_ps(c + 2 * 16 + 8) : _mm256_setzero_ps();
  __m256 c3_0 = acc ? _mm256_loadu_ps(c + 3 * 16 + 0) : _mm256_setzero_ps(), c3_1 = acc ? _mm256_loadu_ps(c + 3 * 16 + 8) : _mm256_setzero_ps();
  __m256 c4_0 = acc ? _mm256_loadu_ps(c + 4 * 16 + 0) : _mm256_setzero_ps(), c4_1 = acc ? _mm256_loadu_ps(c + 4 * 16 + 8) : _mm256_setzero_ps();
  const float *a0 = a[0] + koff;
  const float *a1 = a[1] + koff;
  const float *a2 = a[2] + koff;
  const float *a3 = a[3] + koff;
  const float *a4 = a[4] + koff;
  int k;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 16;
    const __m256 b0 = _mm256_loadu_ps(b + 0);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    {
      const __m256 x = _mm256_set1_ps(a0[k]);
      c0_0 = _mm256_fmadd_ps(x, b0, c0_0);
      c0_1 = _mm256_fmadd_ps(x, b1, c0_1);
    }
    {
      const __m256 x = _mm256_set1_ps(a1[k]);
      c1_0 = _mm256_fmadd_ps(x, b0, c1_0);
      c1_1 = _mm256_fmadd_ps(x, b1, c1_1);
    }
    {
      const __m256 x = _mm256_set1_ps(a2[k]);
      c2_0 = _mm256_fmadd_ps(x, b0, c2_0);
      c2_1 = _mm256_fmadd_ps(x, b1, c2_1);
    }
    {
      const __m256 x = _mm256_set1_ps(a3[k]);
      c3_0 = _mm256_fmadd_ps(x, b0, c3_0);
      c3_1 = _mm256_fmadd_ps(x, b1, c3_1);
    }
    {
      const __m256 x = _mm256_set1_ps(a4[k]);
      c4_0 = _mm256_fmadd_ps(x, b0, c4_0);
      c4_1 = _mm256_fmadd_ps(x, b1, c4_1);
    }
  }
  _mm256_storeu_ps(c + 0 * 16 + 0, c0_0);
  _mm256_storeu_ps(c + 0 * 16 + 8, c0_1);
  _mm256_storeu_ps(c + 1 * 16 + 0, c1_0);
  _mm256_storeu_ps(c + 1 * 16 + 8, c1_1);
  _mm256_storeu_ps(c + 2 * 16 + 0, c2_0);
  _mm256_storeu_ps(c + 2 * 16 + 8, c2_1);
  _mm256_storeu_ps(c + 3 * 16 + 0, c3_0);
  _mm256_storeu_ps(c + 3 * 16 + 8, c3_1);
  _mm256_storeu_ps(c + 4 * 16 + 0, c4_0);
  _mm256_storeu_ps(c + 4 * 16 + 8, c4_1);
#else
  float sum[5][16];
  int r, k, v;
  for (r = 0; r < 5; r++)
    for (v = 0; v < 16; v++) sum[r][v] = acc ? c[r * 16 + v] : 0.0f;
  for (k = 0; k < kd; k++) {
    const float *b = panel + (size_t)k * 16;
    for (r = 0; r < 5; r++) {
      const float x = a[r][koff + k];
      for (v = 0; v < 16; v++) sum[r][v] += x * b[v];
    }
  }
  for (r = 0; r < 5; r++)
    for (v = 0; v < 16; v++) c[r * 16 + v] = sum[r][v];
#endif
}

#ifdef MOEC_PROFILE
#include <time.h>
double deepseek_v3_kernel_ms[DEEPSEEK_V3_KERNELS];
static double moec_profile_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
#define MOEC_PROFILE_START const double moec_t0 = moec_profile_now();
#define MOEC_PROFILE_STOP(i) deepseek_v3_kernel_ms[i] += moec_profile_now() - moec_t0;
#else
#define MOEC_PROFILE_START
#define MOEC_PROFILE_STOP(i)
#endif

/* ---- kernels -------------------------------------------------------------------------- */





/* k0_rmsnorm: rmsnorm over rows of 7168: x / sqrt(mean(x^2) + 0.000001) * w, the sum of squares in double. */
typedef struct {
  const float *x, *w;
  float *out;
  size_t rows;
} k0_rmsnorm_args;

static void k0_rmsnorm_work(const void *arg, int part, int parts) {
  const k0_rmsnorm_args *g = (const k0_rmsnorm_args *)arg;
  int r0, r1, r, i;
  moec_split((int)g->rows, part, parts, &r0, &r1);
  for (r = r0; r < r1; r++) {
    const float *x = g->x + (size_t)r * 7168;
    float *o = g->out + (size_t)r * 7168;
    double ss = 0, denom;
    for (i = 0; i < 7168; i++) ss += (double)x[i] * x[i];
    denom = sqrt(ss / 7168 + 0.000001);
    for (i = 0; i < 7168; i++) o[i] = (float)(x[i] / denom * g->w[i]);
  }
}





/*
 * k1_gemm: dense GEMM (dense.0 x dense.packed.gate_up): [rows x 7168] x [7168 x 36864] in panels of 24 columns
 * (1536), 4-row register tiles, epilogue: swiglu (concat). Threads split the panels.
 * One row (decode, e.g. the LM head at T = 1): four panels at a time through the one-row
 * kernel's four-stream form, the whole depth at once.
 */
typedef struct {
  const float *a, *w;
  float *out;
  int rows;
} k1_gemm_args;

/* The epilogue and the store of row `row` of panel pp: its sums c (24 of them). */
static void k1_gemm_finish(const k1_gemm_args *g, float *c, int row, int pp) {
  const int valid = 18432 - pp * 12 < 12 ? 18432 - pp * 12 : 12;
  float *o = g->out + (size_t)row * 18432 + (size_t)pp * 12;
  const int e = 0;
  int v;
        for (v = 0; v < 12; v++) c[v] = moec_silu(c[v]) * c[12 + v]; /* SwiGLU: gate | up */
  for (v = 0; v < valid; v++) o[v] = c[v];
  (void)e;
  (void)v;
}

static void k1_gemm_work(const void *arg, int part, int parts) {
  const k1_gemm_args *g = (const k1_gemm_args *)arg;
  /* acc[q][row][v]: sums of 256 rows for panel q of the group, across depth chunks. */
  float acc[2 * 256 * 24];
  /* The micro-kernels by rows: the last tile of a pass computes only the rows there are. */
  static void (*const micro[4 + 1])(const float *const *, int, const float *, int, float *, int) = { NULL, moec_micro_1x24, moec_micro_2x24, moec_micro_3x24, moec_micro_4x24 };
  const float *a[256];
  int p0, p1, p, r0, r, q, t, i, chunks;
  moec_split(1536, part, parts, &p0, &p1);
  if (g->rows == 1) {
    /* sums of the four panels of a window (one row reads each weight once: no depth chunks, no staging) */
    float tile[4 * 24];
    a[0] = g->a;
    for (p = p0; p < p1;) {
      /*
       * The window of four panels from p, moved back to end at the last panel when fewer
       * remain: every column is summed by the same kernel at any thread count (a quantized
       * group-sum rounds otherwise than a panel alone). Panels outside [p0, p1) are read, not stored.
       */
      const int s0 = p < 1536 - 4 ? p : 1536 - 4;
      const int end = s0 + 4 < p1 ? s0 + 4 : p1;
      moec_micro_1x24_x4(a, g->w + (size_t)s0 * 172032, 172032, 7168, tile);
      for (; p < end; p++) k1_gemm_finish(g, tile + (size_t)(p - s0) * 24, 0, p);
    }
    return;
  }
  for (p = p0; p < p1; p += 2) {
    const int np = p1 - p < 2 ? p1 - p : 2;
    for (r0 = 0; r0 < g->rows; r0 += 256) {
      const int rows = g->rows - r0 < 256 ? g->rows - r0 : 256;
      const int tiles = (rows + 4 - 1) / 4;
      for (r = 0; r < 256; r++) a[r] = g->a + (size_t)(r < rows ? r0 + r : r0) * 7168;
      /* chunk i: depth chunk i / np of panel p + i % np */
      chunks = (7168 + 256 - 1) / 256 * np;
      for (i = 0; i < chunks; i++) {
        const int kc = i / np * 256, q = i % np;
        const int kl = 7168 - kc < 256 ? 7168 - kc : 256;
        const float *panel = g->w + (size_t)(p + q) * 172032 + (size_t)kc * 24;
        for (t = 0; t < tiles; t++) micro[rows - t * 4 < 4 ? rows - t * 4 : 4](a + t * 4, kc, panel, kl, acc + ((size_t)q * 256 + t * 4) * 24, kc > 0);
      }
      for (q = 0; q < np; q++)
        for (r = 0; r < rows; r++) k1_gemm_finish(g, acc + ((size_t)q * 256 + r) * 24, r0 + r, p + q);
    }
  }
}






/*
 * k2_gemm: dense GEMM (dense.4 x dense.dense.mlp.down): [rows x 18432] x [18432 x 7168] in panels of 24 columns
 * (299), 4-row register tiles, epilogue: none. Threads split the panels.
 * One row (decode, e.g. the LM head at T = 1): four panels at a time through the one-row
 * kernel's four-stream form, the whole depth at once.
 */
typedef struct {
  const float *a, *w;
  float *out;
  int rows;
} k2_gemm_args;

/* The epilogue and the store of row `row` of panel pp: its sums c (24 of them). */
static void k2_gemm_finish(const k2_gemm_args *g, float *c, int row, int pp) {
  const int valid = 7168 - pp * 24 < 24 ? 7168 - pp * 24 : 24;
  float *o = g->out + (size_t)row * 7168 + (size_t)pp * 24;
  const int e = 0;
  int v;
  for (v = 0; v < valid; v++) o[v] = c[v];
  (void)e;
  (void)v;
}

static void k2_gemm_work(const void *arg, int part, int parts) {
  const k2_gemm_args *g = (const k2_gemm_args *)arg;
  /* acc[q][row][v]: sums of 128 rows for panel q of the group, across depth chunks. */
  float acc[5 * 128 * 24];
  /* The micro-kernels by rows: the last tile of a pass computes only the rows there are. */
  static void (*const micro[4 + 1])(const float *const *, int, const float *, int, float *, int) = { NULL, moec_micro_1x24, moec_micro_2x24, moec_micro_3x24, moec_micro_4x24 };
  const float *a[128];
  int p0, p1, p, r0, r, q, t, i, chunks;
  moec_split(299, part, parts, &p0, &p1);
  if (g->rows == 1) {
    /* sums of the four panels of a window (one row reads each weight once: no depth chunks, no staging) */
    float tile[4 * 24];
    a[0] = g->a;
    for (p = p0; p < p1;) {
      /*
       * The window of four panels from p, moved back to end at the last panel when fewer
       * remain: every column is summed by the same kernel at any thread count (a quantized
       * group-sum rounds otherwise than a panel alone). Panels outside [p0, p1) are read, not stored.
       */
      const int s0 = p < 299 - 4 ? p : 299 - 4;
      const int end = s0 + 4 < p1 ? s0 + 4 : p1;
      moec_micro_1x24_x4(a, g->w + (size_t)s0 * 442368, 442368, 18432, tile);
      for (; p < end; p++) k2_gemm_finish(g, tile + (size_t)(p - s0) * 24, 0, p);
    }
    return;
  }
  for (p = p0; p < p1; p += 5) {
    const int np = p1 - p < 5 ? p1 - p : 5;
    for (r0 = 0; r0 < g->rows; r0 += 128) {
      const int rows = g->rows - r0 < 128 ? g->rows - r0 : 128;
      const int tiles = (rows + 4 - 1) / 4;
      for (r = 0; r < 128; r++) a[r] = g->a + (size_t)(r < rows ? r0 + r : r0) * 18432;
      /* chunk i: depth chunk i / np of panel p + i % np */
      chunks = (18432 + 256 - 1) / 256 * np;
      for (i = 0; i < chunks; i++) {
        const int kc = i / np * 256, q = i % np;
        const int kl = 18432 - kc < 256 ? 18432 - kc : 256;
        const float *panel = g->w + (size_t)(p + q) * 442368 + (size_t)kc * 24;
        for (t = 0; t < tiles; t++) micro[rows - t * 4 < 4 ? rows - t * 4 : 4](a + t * 4, kc, panel, kl, acc + ((size_t)q * 128 + t * 4) * 24, kc > 0);
      }
      for (q = 0; q < np; q++)
        for (r = 0; r < rows; r++) k2_gemm_finish(g, acc + ((size_t)q * 128 + r) * 24, r0 + r, p + q);
    }
  }
}







/* k3_add: elementwise add of two same-shaped buffers. */
typedef struct {
  const float *x, *y;
  float *out;
  size_t n;
} k3_add_args;

static void k3_add_work(const void *arg, int part, int parts) {
  const k3_add_args *g = (const k3_add_args *)arg;
  int lo, hi, i;
  moec_split((int)g->n, part, parts, &lo, &hi);
  for (i = lo; i < hi; i++) g->out[i] = g->x[i] + g->y[i];
}






/* k4_rmsnorm: rmsnorm over rows of 7168: x / sqrt(mean(x^2) + 0.000001) * w, the sum of squares in double. */
typedef struct {
  const float *x, *w;
  float *out;
  size_t rows;
} k4_rmsnorm_args;

static void k4_rmsnorm_work(const void *arg, int part, int parts) {
  const k4_rmsnorm_args *g = (const k4_rmsnorm_args *)arg;
  int r0, r1, r, i;
  moec_split((int)g->rows, part, parts, &r0, &r1);
  for (r = r0; r < r1; r++) {
    const float *x = g->x + (size_t)r * 7168;
    float *o = g->out + (size_t)r * 7168;
    double ss = 0, denom;
    for (i = 0; i < 7168; i++) ss += (double)x[i] * x[i];
    denom = sqrt(ss / 7168 + 0.000001);
    for (i = 0; i < 7168; i++) o[i] = (float)(x[i] / denom * g->w[i]);
  }
}


/*
 * k5_router: router. logits = x . w over 256 experts (7168 features);
 * scores = sigmoid; select top-4 of 8 groups (group score: sum_top2), then top-8 on scores + correction bias;
 * weights = chosen scores, normalised, x 2.5; 1 shared expert(s) appended.
 * Everything in double, rounded once when stored: the reference interpreter's numbers.
 */
typedef struct {
  const float *x, *w, *select_bias;
  int *indices;
  float *weights;
  int T;
} k5_router_args;

static void k5_router_work(const void *arg, int part, int parts) {
  const k5_router_args *g = (const k5_router_args *)arg;
  double score[256], vals[8];
  double sel[256];
  double group[8], best2[2], gvals[4];
  int best2i[2], gidx[4];
  unsigned char kept[8];
  int idx[8];
  int t, t0, t1, e, j;
  double block[MOEC_LOGIT_TOKENS * 256]; /* the logits of a block of tokens */
  moec_split(g->T, part, parts, &t0, &t1);
  for (t = t0; t < t1; t++) {
    const float *x = g->x + (size_t)t * 7168;
    int *oi = g->indices + (size_t)t * 9;
    float *ow = g->weights + (size_t)t * 9;
    double sum = 0;
    if ((t - t0) % MOEC_LOGIT_TOKENS == 0) moec_logits_tokens(x, t1 - t < MOEC_LOGIT_TOKENS ? t1 - t : MOEC_LOGIT_TOKENS, g->w, 7168, 256, block);
    memcpy(score, block + (size_t)((t - t0) % MOEC_LOGIT_TOKENS) * 256, sizeof score);
    for (e = 0; e < 256; e++) score[e] = 1.0 / (1.0 + exp(-score[e]));
    for (e = 0; e < 256; e++) sel[e] = score[e] + g->select_bias[e];
    /* Group scores, the kept groups, then the best experts of those (DeepSeek: the others are -inf). */
    for (j = 0; j < 8; j++) {
      moec_topk(sel + j * 32, 32, 2, best2, best2i, NULL, 1);
      group[j] = best2[0] + best2[1];
    }
    moec_topk(group, 8, 4, gvals, gidx, NULL, 1);
    for (j = 0; j < 8; j++) kept[j] = 0;
    for (j = 0; j < 4; j++) kept[gidx[j]] = 1;
    moec_topk(sel, 256, 8, vals, idx, kept, 32);
    for (j = 0; j < 8; j++) vals[j] = score[idx[j]]; /* weights from the uncorrected scores */
    for (j = 0; j < 8; j++) sum += vals[j];
    for (j = 0; j < 8; j++) vals[j] /= sum;
    for (j = 0; j < 8; j++) {
      oi[j] = idx[j];
      ow[j] = (float)(vals[j] * 2.5);
    }
    for (j = 0; j < 1; j++) {
      oi[8 + j] = 256 + j;
      ow[8 + j] = 1.0f;
    }
    (void)sum;
    (void)e;
  }
}

static void k5_router(const k5_router_args *g, int threads) {
  /* Tokens are the parallel unit: never more threads than tokens (at T = 1, none are started). */
  moec_parallel(k5_router_work, g, g->T < threads ? g->T : threads);
}







/*
 * k6_moe_align: moe_align. Token slots (t*9 + choice) grouped by expert, in slot order, each
 * expert's rows padded with -1 to whole blocks of 10 (the GEMM tile height);
 * block_expert[b] is the expert of block b; count[0] the rows used. Experts no token chose
 * get no block. Serial: O(T*k), small against the GEMMs.
 */
typedef struct {
  const int *indices;
  int *sorted, *block_expert, *count;
  int T;
} k6_moe_align_args;

static int k6_moe_align(const k6_moe_align_args *g) {
  int count[257], next[257];
  const int slots = g->T * 9;
  const size_t rows_cap = ((size_t)9 * (size_t)(g->T) + (size_t)2313), blocks_cap = ((size_t)(g->T) + (size_t)232);
  int s, e, rows = 0, blocks = 0;
  size_t i;
  for (e = 0; e < 257; e++) count[e] = 0;
  for (s = 0; s < slots; s++) {
    e = g->indices[s];
    if (e == -1) continue;
    if (e < -1 || e >= 257) return DEEPSEEK_V3_ERR_ROUTING;
    count[e]++;
  }
  for (i = 0; i < rows_cap; i++) g->sorted[i] = -1;
  for (i = 0; i < blocks_cap; i++) g->block_expert[i] = -1;
  for (e = 0; e < 257; e++) {
    const int n = (count[e] + 10 - 1) / 10;
    int b;
    next[e] = rows;
    if ((size_t)(blocks + n) > blocks_cap || (size_t)rows + (size_t)n * 10 > rows_cap) return DEEPSEEK_V3_ERR_ROUTING;
    for (b = 0; b < n; b++) g->block_expert[blocks + b] = e;
    blocks += n;
    rows += n * 10;
  }
  for (s = 0; s < slots; s++)
    if (g->indices[s] != -1) g->sorted[next[g->indices[s]]++] = s;
  g->count[0] = rows;
  return 0;
}







/*
 * k7_grouped_gemm: grouped GEMM (token rows gathered through the sorted slots).
 * Per expert e: [rows of its tokens] x [7168 x 4096] (panels of 16 columns, 256 per expert),
 * 5-row register tiles, then the epilogue in registers' reach: swiglu (concat).
 * Sorted path (T >= 2): the aligned blocks of 10 rows, an expert's blocks
 * together so its panels stay in cache; per block, 4 panel(s) at a time in depth chunks
 * of 64, so a chunk of the block's rows and of one panel stay in L1 while every
 * 5-row tile of the block uses them. Decode path (T < 2): each routed slot
 * directly, no sort. Threads split the panels (output columns), so no two write one element
 * and the result does not depend on the thread count.
 */
typedef struct {
  const float *a, *w;
  const int *indices, *sorted, *block_expert, *count;
  float *out;
  int T;
} k7_grouped_gemm_args;

/* The epilogue and the store of a tile of `rows` rows: slot[r] < 0 rows are padding. */
static void k7_grouped_gemm_finish(const k7_grouped_gemm_args *g, float *tile, int rows, const int *slot, const int *orow, int e, int pp) {
  const int valid = 2048 - pp * 8 < 8 ? 2048 - pp * 8 : 8;
  int r, v;
  for (r = 0; r < rows; r++) {
    float *c = tile + r * 16;
    if (slot[r] < 0) continue;
        for (v = 0; v < 8; v++) c[v] = moec_silu(c[v]) * c[8 + v]; /* SwiGLU: gate | up */
    {
      float *o = g->out + (size_t)orow[r] * 2048 + (size_t)pp * 8;
      for (v = 0; v < valid; v++) o[v] = c[v];
    }
  }
  (void)e;
  (void)orow;
  (void)v;
}

static void k7_grouped_gemm_work(const void *arg, int part, int parts) {
  const k7_grouped_gemm_args *g = (const k7_grouped_gemm_args *)arg;
  int p0, p1, p, r;
  moec_split(256, part, parts, &p0, &p1);
  if (g->T < 2) {
    const int slots = g->T * 9;
    float tile[4 * 16];
    const float *a[1];
    int s, slot[1];
    for (s = 0; s < slots; s++) {
      const int e = g->indices[s];
      if (e < 0) continue;
      a[0] = g->a + (size_t)(s / 9) * 7168;
      slot[0] = s;
      for (p = p0; p < p1;) { /* four panels at a time: four memory streams */
        /*
         * The window of four panels from p, moved back to end at the expert's last panel when
         * fewer remain: every column is summed by the same kernel at any thread count (a quantized
         * group-sum rounds otherwise than a panel alone). Panels outside [p0, p1) are read, not stored.
         */
        const int s0 = p < 256 - 4 ? p : 256 - 4;
        const int end = s0 + 4 < p1 ? s0 + 4 : p1;
        moec_micro_1x16_x4(a, g->w + ((size_t)e * 256 + s0) * 114688, 114688, 7168, tile);
        for (; p < end; p++) k7_grouped_gemm_finish(g, tile + (size_t)(p - s0) * 16, 1, slot, slot, e, p);
      }
    }
  } else {
    /* acc[q][row][v]: the block's sums for panel q of the group, across depth chunks. */
    float acc[4 * 10 * 16];
    /*
     * The micro-kernels by rows: a tile computes up to its last live row (an expert's last block
     * ends in padding rows, and at small T most of a block is padding), not all 5.
     */
    static void (*const micro[5 + 1])(const float *const *, int, const float *, int, float *, int) = { NULL, moec_micro_1x16, moec_micro_2x16, moec_micro_3x16, moec_micro_4x16, moec_micro_5x16 };
    const float *a[10];
    int slot[10], orow[10], live[10 / 5];
    const int blocks = g->count[0] / 10;
    int b = 0;
    while (b < blocks) {
      const int e = g->block_expert[b];
      int b1 = b + 1, bb;
      while (b1 < blocks && g->block_expert[b1] == e) b1++;
      if (e >= 0)
        for (p = p0; p < p1; p += 4) {
          const int np = p1 - p < 4 ? p1 - p : 4;
          for (bb = b; bb < b1; bb++) {
            const float *first = NULL;
            int chunks, i, q, t;
            for (r = 0; r < 10; r++) {
              const int row = bb * 10 + r;
              slot[r] = r < 10 ? g->sorted[row] : -1;
              orow[r] = row;
              a[r] = slot[r] < 0 ? NULL : g->a + (size_t)(slot[r] / 9) * 7168;
              if (a[r] && !first) first = a[r];
            }
            if (!first) continue;
            for (t = 0; t < 10 / 5; t++) {
              live[t] = 0; /* rows of tile t up to its last live one (padding comes last, so: its live rows) */
              for (r = t * 5; r < (t + 1) * 5; r++)
                if (slot[r] >= 0) live[t] = r - t * 5 + 1;
            }
            for (r = 0; r < 10; r++)
              if (!a[r]) a[r] = first; /* padding rows compute on a real row; never stored */
            /* chunk i: depth chunk i / np of panel p + i % np */
            chunks = (7168 + 64 - 1) / 64 * np;
            for (i = 0; i < chunks; i++) {
              const int kc = i / np * 64, q = i % np;
              const int kl = 7168 - kc < 64 ? 7168 - kc : 64;
              const float *panel = g->w + ((size_t)e * 256 + p + q) * 114688 + (size_t)kc * 16;
              for (t = 0; t < 10 / 5; t++)
                if (live[t]) micro[live[t]](a + t * 5, kc, panel, kl, acc + ((size_t)q * 10 + t * 5) * 16, kc > 0);
            }
            for (q = 0; q < np; q++)
              for (t = 0; t < 10 / 5; t++)
                if (live[t]) k7_grouped_gemm_finish(g, acc + ((size_t)q * 10 + t * 5) * 16, live[t], slot + t * 5, orow + t * 5, e, p + q);
          }
        }
      b = b1;
    }
  }
}






/*
 * k8_grouped_gemm: grouped GEMM (rows in sorted order).
 * Per expert e: [rows of its tokens] x [2048 x 7168] (panels of 16 columns, 448 per expert),
 * 5-row register tiles, then the epilogue in registers' reach: weighted combine.
 * Sorted path (T >= 2): the aligned blocks of 10 rows, an expert's blocks
 * together so its panels stay in cache; per block, 4 panel(s) at a time in depth chunks
 * of 32, so a chunk of the block's rows and of one panel stay in L1 while every
 * 5-row tile of the block uses them. Decode path (T < 2): each routed slot
 * directly, no sort. Threads split the panels (output columns), so no two write one element
 * and the result does not depend on the thread count.
 */
typedef struct {
  const float *a, *w, *weights, *init;
  const int *indices, *sorted, *block_expert, *count;
  float *out;
  int T;
} k8_grouped_gemm_args;

/* The epilogue and the store of a tile of `rows` rows: slot[r] < 0 rows are padding. */
static void k8_grouped_gemm_finish(const k8_grouped_gemm_args *g, float *tile, int rows, const int *slot, const int *orow, int e, int pp) {
  const int valid = 7168 - pp * 16 < 16 ? 7168 - pp * 16 : 16;
  int r, v;
  for (r = 0; r < rows; r++) {
    float *c = tile + r * 16;
    if (slot[r] < 0) continue;
    {
      const float wv = g->weights[slot[r]];
      float *o = g->out + (size_t)(slot[r] / 9) * 7168 + (size_t)pp * 16;
      for (v = 0; v < valid; v++) o[v] += wv * c[v];
    }
  }
  (void)e;
  (void)orow;
  (void)v;
}

static void k8_grouped_gemm_work(const void *arg, int part, int parts) {
  const k8_grouped_gemm_args *g = (const k8_grouped_gemm_args *)arg;
  int p0, p1, p, r;
  moec_split(448, part, parts, &p0, &p1);
  { /* this thread's columns of out start from the residual */
    const int j0 = p0 * 16, j1 = p1 * 16 < 7168 ? p1 * 16 : 7168;
    int t, j;
    for (t = 0; t < g->T; t++)
      for (j = j0; j < j1; j++) g->out[(size_t)t * 7168 + j] = g->init[(size_t)t * 7168 + j];
  }
  if (g->T < 2) {
    const int slots = g->T * 9;
    float tile[4 * 16];
    const float *a[1];
    int s, slot[1];
    for (s = 0; s < slots; s++) {
      const int e = g->indices[s];
      if (e < 0) continue;
      a[0] = g->a + (size_t)s * 2048;
      slot[0] = s;
      for (p = p0; p < p1;) { /* four panels at a time: four memory streams */
        /*
         * The window of four panels from p, moved back to end at the expert's last panel when
         * fewer remain: every column is summed by the same kernel at any thread count (a quantized
         * group-sum rounds otherwise than a panel alone). Panels outside [p0, p1) are read, not stored.
         */
        const int s0 = p < 448 - 4 ? p : 448 - 4;
        const int end = s0 + 4 < p1 ? s0 + 4 : p1;
        moec_micro_1x16_x4(a, g->w + ((size_t)e * 448 + s0) * 32768, 32768, 2048, tile);
        for (; p < end; p++) k8_grouped_gemm_finish(g, tile + (size_t)(p - s0) * 16, 1, slot, slot, e, p);
      }
    }
  } else {
    /* acc[q][row][v]: the block's sums for panel q of the group, across depth chunks. */
    float acc[4 * 10 * 16];
    /*
     * The micro-kernels by rows: a tile computes up to its last live row (an expert's last block
     * ends in padding rows, and at small T most of a block is padding), not all 5.
     */
    static void (*const micro[5 + 1])(const float *const *, int, const float *, int, float *, int) = { NULL, moec_micro_1x16, moec_micro_2x16, moec_micro_3x16, moec_micro_4x16, moec_micro_5x16 };
    const float *a[10];
    int slot[10], orow[10], live[10 / 5];
    const int blocks = g->count[0] / 10;
    int b = 0;
    while (b < blocks) {
      const int e = g->block_expert[b];
      int b1 = b + 1, bb;
      while (b1 < blocks && g->block_expert[b1] == e) b1++;
      if (e >= 0)
        for (p = p0; p < p1; p += 4) {
          const int np = p1 - p < 4 ? p1 - p : 4;
          for (bb = b; bb < b1; bb++) {
            const float *first = NULL;
            int chunks, i, q, t;
            for (r = 0; r < 10; r++) {
              const int row = bb * 10 + r;
              slot[r] = r < 10 ? g->sorted[row] : -1;
              orow[r] = row;
              a[r] = slot[r] < 0 ? NULL : g->a + (size_t)row * 2048;
              if (a[r] && !first) first = a[r];
            }
            if (!first) continue;
            for (t = 0; t < 10 / 5; t++) {
              live[t] = 0; /* rows of tile t up to its last live one (padding comes last, so: its live rows) */
              for (r = t * 5; r < (t + 1) * 5; r++)
                if (slot[r] >= 0) live[t] = r - t * 5 + 1;
            }
            for (r = 0; r < 10; r++)
              if (!a[r]) a[r] = first; /* padding rows compute on a real row; never stored */
            /* chunk i: depth chunk i / np of panel p + i % np */
            chunks = (2048 + 32 - 1) / 32 * np;
            for (i = 0; i < chunks; i++) {
              const int kc = i / np * 32, q = i % np;
              const int kl = 2048 - kc < 32 ? 2048 - kc : 32;
              const float *panel = g->w + ((size_t)e * 448 + p + q) * 32768 + (size_t)kc * 16;
              for (t = 0; t < 10 / 5; t++)
                if (live[t]) micro[live[t]](a + t * 5, kc, panel, kl, acc + ((size_t)q * 10 + t * 5) * 16, kc > 0);
            }
            for (q = 0; q < np; q++)
              for (t = 0; t < 10 / 5; t++)
                if (live[t]) k8_grouped_gemm_finish(g, acc + ((size_t)q * 10 + t * 5) * 16, live[t], slot + t * 5, orow + t * 5, e, p + q);
          }
        }
      b = b1;
    }
  }
}




/* ---- entry points --------------------------------------------------------------------- */

size_t deepseek_v3_arena_bytes(int max_tokens) {
  const size_t T = (size_t)max_tokens;
  size_t end = 0;
  if (max_tokens < 1 || max_tokens > DEEPSEEK_V3_MAX_TOKENS) return 0;
  if (((size_t)102400 * (size_t)(T)) + ((size_t)(T)) * (size_t)7168 * 4 > end) end = ((size_t)102400 * (size_t)(T)) + ((size_t)(T)) * (size_t)7168 * 4;
  if (((size_t)73728 * (size_t)(T)) + ((size_t)(T)) * (size_t)7168 * 4 > end) end = ((size_t)73728 * (size_t)(T)) + ((size_t)(T)) * (size_t)7168 * 4;
  if ((size_t)0 + ((size_t)(T)) * (size_t)18432 * 4 > end) end = (size_t)0 + ((size_t)(T)) * (size_t)18432 * 4;
  if (((size_t)73728 * (size_t)(T)) + ((size_t)(T)) * (size_t)7168 * 4 > end) end = ((size_t)73728 * (size_t)(T)) + ((size_t)(T)) * (size_t)7168 * 4;
  if (((size_t)73728 * (size_t)(T) + (size_t)18948096) + ((size_t)(T)) * (size_t)7168 * 4 > end) end = ((size_t)73728 * (size_t)(T) + (size_t)18948096) + ((size_t)(T)) * (size_t)7168 * 4;
  if (((size_t)159744 * (size_t)(T) + (size_t)18948096) + ((size_t)(T)) * (size_t)7168 * 4 > end) end = ((size_t)159744 * (size_t)(T) + (size_t)18948096) + ((size_t)(T)) * (size_t)7168 * 4;
  if (((size_t)131072 * (size_t)(T) + (size_t)18948096) + ((size_t)(T)) * (size_t)7168 * 4 > end) end = ((size_t)131072 * (size_t)(T) + (size_t)18948096) + ((size_t)(T)) * (size_t)7168 * 4;
  if (((size_t)188480 * (size_t)(T) + (size_t)18957376) + ((size_t)(T)) * (size_t)9 * 4 > end) end = ((size_t)188480 * (size_t)(T) + (size_t)18957376) + ((size_t)(T)) * (size_t)9 * 4;
  if (((size_t)188544 * (size_t)(T) + (size_t)18957376) + ((size_t)(T)) * (size_t)9 * 4 > end) end = ((size_t)188544 * (size_t)(T) + (size_t)18957376) + ((size_t)(T)) * (size_t)9 * 4;
  if (((size_t)188416 * (size_t)(T) + (size_t)18948096) + ((size_t)9 * (size_t)(T) + (size_t)2313) * 4 > end) end = ((size_t)188416 * (size_t)(T) + (size_t)18948096) + ((size_t)9 * (size_t)(T) + (size_t)2313) * 4;
  if (((size_t)188608 * (size_t)(T) + (size_t)18957376) + ((size_t)(T) + (size_t)232) * 4 > end) end = ((size_t)188608 * (size_t)(T) + (size_t)18957376) + ((size_t)(T) + (size_t)232) * 4;
  if (((size_t)188672 * (size_t)(T) + (size_t)18958336) + (size_t)1 * 4 > end) end = ((size_t)188672 * (size_t)(T) + (size_t)18958336) + (size_t)1 * 4;
  if ((size_t)0 + ((size_t)9 * (size_t)(T) + (size_t)2313) * (size_t)2048 * 4 > end) end = (size_t)0 + ((size_t)9 * (size_t)(T) + (size_t)2313) * (size_t)2048 * 4;
  (void)T;
  return (end + DEEPSEEK_V3_ALIGN - 1) / DEEPSEEK_V3_ALIGN * DEEPSEEK_V3_ALIGN;
}

int deepseek_v3_forward(const void *weights, const float *x, int T, float *y, void *arena, int threads) {
  const unsigned char *W = (const unsigned char *)weights;
  unsigned char *A = (unsigned char *)arena;
  /* The thread helpers, referenced: a model whose kernels all run on one thread (an embedding
     alone) still builds under -Wall -Werror. */
  (void)moec_parallel;
  (void)moec_split;
  const float *b0_x = x;
  const float *b1_dense_norm = (const float *)(W + 0);
  const float *b2_dense_mlp_down = (const float *)(W + 86016);
  const float *b3_packed_gate_up_1 = (const float *)(W + 1587302400);
  const float *b4_moe_norm = (const float *)(W + 4758196224);
  const float *b5_moe_router = (const float *)(W + 4759859200);
  const float *b6_moe_bias = (const float *)(W + 5185581056);
  const float *b7_packed_shared_gate_up_3 = (const float *)(W + 5185640448);
  const float *b8_packed_shared_down_2 = (const float *)(W + 1755753912320);
  float *b9_dense_x = (float *)(A + ((size_t)102400 * (size_t)(T)));
  float *b13_dense_0 = (float *)(A + ((size_t)73728 * (size_t)(T)));
  float *b14_dense_4 = (float *)(A + (size_t)0);
  float *b15_dense_dense_mlp_r0 = (float *)(A + ((size_t)73728 * (size_t)(T)));
  float *b16_dense_dense_r0 = (float *)(A + ((size_t)73728 * (size_t)(T) + (size_t)18948096));
  float *b17_moe_x = (float *)(A + ((size_t)159744 * (size_t)(T) + (size_t)18948096));
  float *b23_moe_h = (float *)(A + ((size_t)131072 * (size_t)(T) + (size_t)18948096));
  int *b24_moe_sel_indices = (int *)(A + ((size_t)188480 * (size_t)(T) + (size_t)18957376));
  float *b25_moe_w_1 = (float *)(A + ((size_t)188544 * (size_t)(T) + (size_t)18957376));
  int *b26_moe_routed_sorted = (int *)(A + ((size_t)188416 * (size_t)(T) + (size_t)18948096));
  int *b27_moe_routed_block_expert = (int *)(A + ((size_t)188608 * (size_t)(T) + (size_t)18957376));
  int *b28_moe_routed_count = (int *)(A + ((size_t)188672 * (size_t)(T) + (size_t)18958336));
  float *b29_moe_routed_hidden = (float *)(A + (size_t)0);
  float *b30_moe_13 = y;
  if (!weights || !arena || !x || !y) return DEEPSEEK_V3_ERR_NULL;
  if (T < 1 || T > DEEPSEEK_V3_MAX_TOKENS) return DEEPSEEK_V3_ERR_TOKENS;
  if ((uintptr_t)weights % DEEPSEEK_V3_ALIGN != 0 || (uintptr_t)arena % DEEPSEEK_V3_ALIGN != 0) return DEEPSEEK_V3_ERR_ALIGN;
  if (threads < 1) return DEEPSEEK_V3_ERR_THREADS;
  (void)W;
  (void)A;
  memmove(b9_dense_x, b0_x, ((size_t)(T)) * (size_t)7168 * 4);
  for (int i0 = 0; i0 < 3; i0++) { /* 3 iterations (a repeat) */
    const float *b10_dense_dense_norm = b1_dense_norm + (size_t)i0 * (size_t)7168;
    const float *b11_dense_dense_mlp_down = b2_dense_mlp_down + (size_t)i0 * 132268032;
    const float *b12_dense_packed_gate_up = b3_packed_gate_up_1 + (size_t)i0 * 264241152;
    { /* rmsnorm over 7168 */
      k0_rmsnorm_args g;
      g.x = b9_dense_x;
      g.w = b10_dense_dense_norm;
      g.out = b13_dense_0;
      g.rows = ((size_t)(T));
      MOEC_PROFILE_START
      moec_parallel(k0_rmsnorm_work, &g, (int)((((size_t)(T)) * (size_t)7168 + 16383) / 16384 < (size_t)threads ? (((size_t)(T)) * (size_t)7168 + 16383) / 16384 : (size_t)threads));
      MOEC_PROFILE_STOP(0)
    }
    { /* GEMM 7168 -> 36864, epilogue swiglu (concat), tile 4x24 */
      k1_gemm_args g;
      g.a = b13_dense_0;
      g.w = b12_dense_packed_gate_up;
      g.out = b14_dense_4;
      g.rows = (int)(((size_t)(T)));
      MOEC_PROFILE_START
      moec_parallel(k1_gemm_work, &g, threads);
      MOEC_PROFILE_STOP(1)
    }
    { /* GEMM 18432 -> 7168, epilogue none, tile 4x24 */
      k2_gemm_args g;
      g.a = b14_dense_4;
      g.w = b11_dense_dense_mlp_down;
      g.out = b15_dense_dense_mlp_r0;
      g.rows = (int)(((size_t)(T)));
      MOEC_PROFILE_START
      moec_parallel(k2_gemm_work, &g, threads);
      MOEC_PROFILE_STOP(2)
    }
    { /* elementwise add */
      k3_add_args g;
      g.x = b9_dense_x;
      g.y = b15_dense_dense_mlp_r0;
      g.out = b16_dense_dense_r0;
      g.n = ((size_t)(T)) * (size_t)7168;
      MOEC_PROFILE_START
      moec_parallel(k3_add_work, &g, (int)((((size_t)(T)) * (size_t)7168 + 16383) / 16384 < (size_t)threads ? (((size_t)(T)) * (size_t)7168 + 16383) / 16384 : (size_t)threads));
      MOEC_PROFILE_STOP(3)
    }
    memmove(b9_dense_x, b16_dense_dense_r0, ((size_t)(T)) * (size_t)7168 * 4);
  }
  memmove(b17_moe_x, b16_dense_dense_r0, ((size_t)(T)) * (size_t)7168 * 4);
  for (int i0 = 0; i0 < 58; i0++) { /* 58 iterations (a repeat) */
    const float *b18_moe_moe_norm = b4_moe_norm + (size_t)i0 * (size_t)7168;
    const float *b19_moe_moe_router = b5_moe_router + (size_t)i0 * (size_t)256 * (size_t)7168;
    const float *b20_moe_moe_bias = b6_moe_bias + (size_t)i0 * (size_t)256;
    const float *b21_moe_packed_shared_gate_up = b7_packed_shared_gate_up_3 + (size_t)i0 * 7545552896;
    const float *b22_moe_packed_shared_down = b8_packed_shared_down_2 + (size_t)i0 * 3772776448;
    { /* rmsnorm over 7168 */
      k4_rmsnorm_args g;
      g.x = b17_moe_x;
      g.w = b18_moe_moe_norm;
      g.out = b23_moe_h;
      g.rows = ((size_t)(T));
      MOEC_PROFILE_START
      moec_parallel(k4_rmsnorm_work, &g, (int)((((size_t)(T)) * (size_t)7168 + 16383) / 16384 < (size_t)threads ? (((size_t)(T)) * (size_t)7168 + 16383) / 16384 : (size_t)threads));
      MOEC_PROFILE_STOP(4)
    }
    { /* router: 256 experts, group top-8 (4 of 8 groups), sigmoid scores, 1 shared */
      k5_router_args g;
      g.x = b23_moe_h;
      g.w = b19_moe_moe_router;
      g.select_bias = b20_moe_moe_bias;
      g.indices = b24_moe_sel_indices;
      g.weights = b25_moe_w_1;
      g.T = T;
      MOEC_PROFILE_START
      k5_router(&g, threads);
      MOEC_PROFILE_STOP(5)
    }
    { /* moe_align: 257 experts, blocks of 10 rows */
      k6_moe_align_args g;
      g.indices = b24_moe_sel_indices;
      g.sorted = b26_moe_routed_sorted;
      g.block_expert = b27_moe_routed_block_expert;
      g.count = b28_moe_routed_count;
      g.T = T;
      MOEC_PROFILE_START
      { const int rc = k6_moe_align(&g); if (rc != 0) return rc; }
      MOEC_PROFILE_STOP(6)
    }
    { /* grouped GEMM 7168 -> 4096, rows gathered from tokens, epilogue swiglu (concat), tile 5x16 */
      k7_grouped_gemm_args g;
      g.a = b23_moe_h;
      g.w = b21_moe_packed_shared_gate_up;
      g.indices = b24_moe_sel_indices;
      g.sorted = b26_moe_routed_sorted;
      g.block_expert = b27_moe_routed_block_expert;
      g.count = b28_moe_routed_count;
      g.out = b29_moe_routed_hidden;
      g.T = T;
      MOEC_PROFILE_START
      moec_parallel(k7_grouped_gemm_work, &g, threads);
      MOEC_PROFILE_STOP(7)
    }
    { /* grouped GEMM 2048 -> 7168, epilogue weighted combine, tile 5x16 */
      k8_grouped_gemm_args g;
      g.a = b29_moe_routed_hidden;
      g.w = b22_moe_packed_shared_down;
      g.weights = b25_moe_w_1;
      g.init = b17_moe_x;
      g.indices = b24_moe_sel_indices;
      g.sorted = b26_moe_routed_sorted;
      g.block_expert = b27_moe_routed_block_expert;
      g.count = b28_moe_routed_count;
      g.out = b30_moe_13;
      g.T = T;
      MOEC_PROFILE_START
      moec_parallel(k8_grouped_gemm_work, &g, threads);
      MOEC_PROFILE_STOP(8)
    }
    memmove(b17_moe_x, b30_moe_13, ((size_t)(T)) * (size_t)7168 * 4);
  }
  return DEEPSEEK_V3_OK;
}
