/*
 * tiny.c: the tiny MoE layer, compiled by moec 0.1.0 for x86-avx2 (2-core x86-64 with AVX2 + FMA (256-bit vectors), 32 KiB L1d and 512 KiB L2 per core, shared L3).
 * Generated code: edit the .moe file and recompile instead. The API is in tiny.h.
 *
 * Kernels, in order (fused by moec; tiles chosen for x86-avx2):
 *   k0_router: router: 4 experts, top-2, softmax scores
 *   k1_moe_align: moe_align: 4 experts, blocks of 5 rows
 *   k2_grouped_gemm: grouped GEMM 8 -> 32, rows gathered from tokens, epilogue swiglu (concat), tile 5x16
 *   k3_grouped_gemm: grouped GEMM 16 -> 8, epilogue weighted combine, tile 5x8
 * Arena: 29888 bytes at 64 tokens (every intermediate at a planned offset).
 */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "tiny.h"

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


/* Stable softmax in place; a NaN anywhere makes the row NaN, as in torch. */
static void moec_softmax(double *v, int n) {
  double m = -HUGE_VAL, s = 0;
  int i;
  for (i = 0; i < n; i++) {
    if (v[i] > m || v[i] != v[i]) m = v[i];
    if (m != m) break;
  }
  for (i = 0; i < n; i++) {
    v[i] = exp(v[i] - m);
    s += v[i];
  }
  for (i = 0; i < n; i++) v[i] /= s;
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

/* ---- quantized weights: codes to floats (exact; the scale multiply is the kernels') ---- */

#if defined(__GNUC__) || defined(__clang__)
#define MOEC_MAYBE_UNUSED __attribute__((unused))
#else
#define MOEC_MAYBE_UNUSED
#endif
/* i4 code v of a panel row: runs of `span` columns, byte j of a run = column j (low nibble) | column j + span/2 (high). */
MOEC_MAYBE_UNUSED static float moec_i4(const unsigned char *row, int v, int span) {
  const int j = v % span, half = span / 2;
  const int byte = row[(v - j) / 2 + j % half];
  const int nib = j >= half ? byte >> 4 : byte & 15;
  return (float)((nib ^ 8) - 8);
}
/* i4 code k of a row-major weight (two per byte along the row: even k in the low nibble). */
MOEC_MAYBE_UNUSED static float moec_i4_flat(const unsigned char *row, int k) {
  const int nib = k & 1 ? row[k >> 1] >> 4 : row[k >> 1] & 15;
  return (float)((nib ^ 8) - 8);
}
/* out[i] = sum_k x[k] * w[i][k], w [n][d] as i4 codes (row-major) with scales [n][ceil(d / group)]: in double, each weight the reference's f32. */
MOEC_MAYBE_UNUSED static void moec_logits_i4(const float *x, const unsigned char *w, const float *scales, int group, int d, int n, double *out) {
  const int groups = (d + group - 1) / group;
  int i, j, k;
  for (i = 0; i < n; i++) {
    const unsigned char *wi = w + (size_t)i * (size_t)(d / 2);
    double s = 0;
    for (j = 0; j < groups; j++) { /* k in order, one scale per group */
      const float sc = scales[(size_t)i * groups + j];
      const int end = (j + 1) * group < d ? (j + 1) * group : d;
      for (k = j * group; k < end; k++) {
        const float wk = moec_i4_flat(wi, k) * sc;
        s += (double)x[k] * wk;
      }
    }
    out[i] = s;
  }
}
#if MOEC_SIMD
MOEC_MAYBE_UNUSED static __m256 moec_ld_i4(const unsigned char *p) {
  int v;
  __m256i x;
  memcpy(&v, p, 4);
  x = _mm256_cvtepu8_epi32(_mm_set1_epi32(v)); /* bytes 0..3 in lanes 0..3 and again in 4..7 */
  x = _mm256_srai_epi32(_mm256_sllv_epi32(x, _mm256_setr_epi32(28, 28, 28, 28, 24, 24, 24, 24)), 28);
  return _mm256_cvtepi32_ps(x);
}
#endif

/*
 * Software prefetch, bytes ahead in each panel stream of the one-row kernels (four at once
 * below, the decode path of grouped and dense GEMMs; one in the direct kernel). Quantized panel
 * rows are short (16 bytes of i8 for 16 columns), so a stream crosses pages fast and the hardware
 * prefetcher, which stops at each 4 KiB page, leaves a core waiting on DRAM: measured on
 * mixtral-mini i8 at T = 1 on one core, 4096 bytes ahead took 2.17 ms to 1.50 ms (AVX2) and
 * 1.73 to 1.32 ms (AVX-512); 1024 did little, 8192 no better; 2048 is faster still on most
 * (the tiler's QUANT_PREFETCH_BYTES says where). Prefetches never fault.
 */
#ifndef MOEC_QPREFETCH
#define MOEC_QPREFETCH 2048
#endif

/*
 * c[r][v] (+)= sum_k a[r][k] * w[k][v] for k in [koff, koff + kd), w[k][v] = i4 code * the
 * scale of (k / group, v): 1 rows x 16 columns, k in order; `panel` points at depth koff
 * (rows of 8 bytes), `scales` at the panel's [groups][16]. Each code is decoded in
 * registers and scaled once (the reference's f32 weight), then FMA'd; a group's scales are
 * loaded once. AVX2 + FMA: 2 accumulator registers.
 */
static void moec_micro_i4_1x16(const float *const *a, int koff, const unsigned char *panel, const float *scales, int group, int kd, float *c, int acc) {
  const int end = koff + kd;
  int k0 = koff, k;
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 16 + 0) : _mm256_setzero_ps(), c0_1 = acc ? _mm256_loadu_ps(c + 0 * 16 + 8) : _mm256_setzero_ps();
  const float *a0 = a[0];
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 16;
    const __m256 s0 = _mm256_loadu_ps(s + 0);
    const __m256 s1 = _mm256_loadu_ps(s + 8);
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 8;
      _mm_prefetch((const char *)(b + MOEC_QPREFETCH), _MM_HINT_T0);
      const __m256 b0 = _mm256_mul_ps(moec_ld_i4(b + 0), s0);
      const __m256 b1 = _mm256_mul_ps(moec_ld_i4(b + 4), s1);
      {
        const __m256 x = _mm256_set1_ps(a0[k]);
        c0_0 = _mm256_fmadd_ps(x, b0, c0_0);
        c0_1 = _mm256_fmadd_ps(x, b1, c0_1);
      }
    }
    k0 = k1;
  }
  _mm256_storeu_ps(c + 0 * 16 + 0, c0_0);
  _mm256_storeu_ps(c + 0 * 16 + 8, c0_1);
#else
  float sum[1][16], wv[16];
  int r, v;
  for (r = 0; r < 1; r++)
    for (v = 0; v < 16; v++) sum[r][v] = acc ? c[r * 16 + v] : 0.0f;
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 16;
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 8;
      for (v = 0; v < 16; v++) wv[v] = moec_i4(b, v, 8) * s[v];
      for (r = 0; r < 1; r++) {
        const float x = a[r][k];
        for (v = 0; v < 16; v++) sum[r][v] += x * wv[v];
      }
    }
    k0 = k1;
  }
  for (r = 0; r < 1; r++)
    for (v = 0; v < 16; v++) c[r * 16 + v] = sum[r][v];
#endif
}

/*
 * Decode: one row against four i4 panels at once (panel j at panel + j * stride, its scales
 * at scales + j * sstride), k from 0. The codes are the memory traffic. Per scale group the
 * kernel sums a[k] * decode(code) in registers and applies the group's scale once, to that
 * partial sum: the same sum as a[k] * fround(decode * scale) summed, rounded differently (within
 * the parity tolerance, like any change of summation order), and one decode, one convert and
 * one FMA per vector instead of also a scale multiply: decoding T = 1 is instruction-bound on
 * narrow cores once the weights are 4x smaller, so this is what makes i8 pay.
 */
static void moec_micro_i4_1x16_x4(const float *const *a, const unsigned char *panel, size_t stride, const float *scales, size_t sstride, int group, int kd, float *c) {
#if MOEC_SIMD
  const float *a0 = a[0];
  int k0 = 0, k;
  _mm256_storeu_ps(c + 0 * 16 + 0, _mm256_setzero_ps());
  _mm256_storeu_ps(c + 0 * 16 + 8, _mm256_setzero_ps());
  _mm256_storeu_ps(c + 1 * 16 + 0, _mm256_setzero_ps());
  _mm256_storeu_ps(c + 1 * 16 + 8, _mm256_setzero_ps());
  _mm256_storeu_ps(c + 2 * 16 + 0, _mm256_setzero_ps());
  _mm256_storeu_ps(c + 2 * 16 + 8, _mm256_setzero_ps());
  _mm256_storeu_ps(c + 3 * 16 + 0, _mm256_setzero_ps());
  _mm256_storeu_ps(c + 3 * 16 + 8, _mm256_setzero_ps());
  while (k0 < kd) {
    const int gi = k0 / group, k1 = (gi + 1) * group < kd ? (gi + 1) * group : kd;
    const float *s = scales + (size_t)gi * 16;
    __m256 p0_0 = _mm256_setzero_ps(), p0_1 = _mm256_setzero_ps();
    __m256 p1_0 = _mm256_setzero_ps(), p1_1 = _mm256_setzero_ps();
    __m256 p2_0 = _mm256_setzero_ps(), p2_1 = _mm256_setzero_ps();
    __m256 p3_0 = _mm256_setzero_ps(), p3_1 = _mm256_setzero_ps();
    for (k = k0; k < k1; k++) {
      const __m256 x = _mm256_set1_ps(a0[k]);
      const unsigned char *b = panel + (size_t)k * 8;
      _mm_prefetch((const char *)(b + 0 * stride + MOEC_QPREFETCH), _MM_HINT_T0);
      _mm_prefetch((const char *)(b + 1 * stride + MOEC_QPREFETCH), _MM_HINT_T0);
      _mm_prefetch((const char *)(b + 2 * stride + MOEC_QPREFETCH), _MM_HINT_T0);
      _mm_prefetch((const char *)(b + 3 * stride + MOEC_QPREFETCH), _MM_HINT_T0);
      p0_0 = _mm256_fmadd_ps(x, moec_ld_i4(b + 0 * stride + 0), p0_0);
      p0_1 = _mm256_fmadd_ps(x, moec_ld_i4(b + 0 * stride + 4), p0_1);
      p1_0 = _mm256_fmadd_ps(x, moec_ld_i4(b + 1 * stride + 0), p1_0);
      p1_1 = _mm256_fmadd_ps(x, moec_ld_i4(b + 1 * stride + 4), p1_1);
      p2_0 = _mm256_fmadd_ps(x, moec_ld_i4(b + 2 * stride + 0), p2_0);
      p2_1 = _mm256_fmadd_ps(x, moec_ld_i4(b + 2 * stride + 4), p2_1);
      p3_0 = _mm256_fmadd_ps(x, moec_ld_i4(b + 3 * stride + 0), p3_0);
      p3_1 = _mm256_fmadd_ps(x, moec_ld_i4(b + 3 * stride + 4), p3_1);
    }
    _mm256_storeu_ps(c + 0 * 16 + 0, _mm256_fmadd_ps(p0_0, _mm256_loadu_ps(s + 0 * sstride + 0), _mm256_loadu_ps(c + 0 * 16 + 0)));
    _mm256_storeu_ps(c + 0 * 16 + 8, _mm256_fmadd_ps(p0_1, _mm256_loadu_ps(s + 0 * sstride + 8), _mm256_loadu_ps(c + 0 * 16 + 8)));
    _mm256_storeu_ps(c + 1 * 16 + 0, _mm256_fmadd_ps(p1_0, _mm256_loadu_ps(s + 1 * sstride + 0), _mm256_loadu_ps(c + 1 * 16 + 0)));
    _mm256_storeu_ps(c + 1 * 16 + 8, _mm256_fmadd_ps(p1_1, _mm256_loadu_ps(s + 1 * sstride + 8), _mm256_loadu_ps(c + 1 * 16 + 8)));
    _mm256_storeu_ps(c + 2 * 16 + 0, _mm256_fmadd_ps(p2_0, _mm256_loadu_ps(s + 2 * sstride + 0), _mm256_loadu_ps(c + 2 * 16 + 0)));
    _mm256_storeu_ps(c + 2 * 16 + 8, _mm256_fmadd_ps(p2_1, _mm256_loadu_ps(s + 2 * sstride + 8), _mm256_loadu_ps(c + 2 * 16 + 8)));
    _mm256_storeu_ps(c + 3 * 16 + 0, _mm256_fmadd_ps(p3_0, _mm256_loadu_ps(s + 3 * sstride + 0), _mm256_loadu_ps(c + 3 * 16 + 0)));
    _mm256_storeu_ps(c + 3 * 16 + 8, _mm256_fmadd_ps(p3_1, _mm256_loadu_ps(s + 3 * sstride + 8), _mm256_loadu_ps(c + 3 * 16 + 8)));
    k0 = k1;
  }
#else
  int j;
  for (j = 0; j < 4; j++) moec_micro_i4_1x16(a, 0, panel + j * stride, scales + j * sstride, group, kd, c + j * 16, 0);
#endif
}

/*
 * c[r][v] (+)= sum_k a[r][k] * w[k][v] for k in [koff, koff + kd), w[k][v] = i4 code * the
 * scale of (k / group, v): 2 rows x 16 columns, k in order; `panel` points at depth koff
 * (rows of 8 bytes), `scales` at the panel's [groups][16]. Each code is decoded in
 * registers and scaled once (the reference's f32 weight), then FMA'd; a group's scales are
 * loaded once. AVX2 + FMA: 4 accumulator registers.
 */
static void moec_micro_i4_2x16(const float *const *a, int koff, const unsigned char *panel, const float *scales, int group, int kd, float *c, int acc) {
  const int end = koff + kd;
  int k0 = koff, k;
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 16 + 0) : _mm256_setzero_ps(), c0_1 = acc ? _mm256_loadu_ps(c + 0 * 16 + 8) : _mm256_setzero_ps();
  __m256 c1_0 = acc ? _mm256_loadu_ps(c + 1 * 16 + 0) : _mm256_setzero_ps(), c1_1 = acc ? _mm256_loadu_ps(c + 1 * 16 + 8) : _mm256_setzero_ps();
  const float *a0 = a[0];
  const float *a1 = a[1];
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 16;
    const __m256 s0 = _mm256_loadu_ps(s + 0);
    const __m256 s1 = _mm256_loadu_ps(s + 8);
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 8;
      const __m256 b0 = _mm256_mul_ps(moec_ld_i4(b + 0), s0);
      const __m256 b1 = _mm256_mul_ps(moec_ld_i4(b + 4), s1);
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
    k0 = k1;
  }
  _mm256_storeu_ps(c + 0 * 16 + 0, c0_0);
  _mm256_storeu_ps(c + 0 * 16 + 8, c0_1);
  _mm256_storeu_ps(c + 1 * 16 + 0, c1_0);
  _mm256_storeu_ps(c + 1 * 16 + 8, c1_1);
#else
  float sum[2][16], wv[16];
  int r, v;
  for (r = 0; r < 2; r++)
    for (v = 0; v < 16; v++) sum[r][v] = acc ? c[r * 16 + v] : 0.0f;
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 16;
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 8;
      for (v = 0; v < 16; v++) wv[v] = moec_i4(b, v, 8) * s[v];
      for (r = 0; r < 2; r++) {
        const float x = a[r][k];
        for (v = 0; v < 16; v++) sum[r][v] += x * wv[v];
      }
    }
    k0 = k1;
  }
  for (r = 0; r < 2; r++)
    for (v = 0; v < 16; v++) c[r * 16 + v] = sum[r][v];
#endif
}

/*
 * c[r][v] (+)= sum_k a[r][k] * w[k][v] for k in [koff, koff + kd), w[k][v] = i4 code * the
 * scale of (k / group, v): 3 rows x 16 columns, k in order; `panel` points at depth koff
 * (rows of 8 bytes), `scales` at the panel's [groups][16]. Each code is decoded in
 * registers and scaled once (the reference's f32 weight), then FMA'd; a group's scales are
 * loaded once. AVX2 + FMA: 6 accumulator registers.
 */
static void moec_micro_i4_3x16(const float *const *a, int koff, const unsigned char *panel, const float *scales, int group, int kd, float *c, int acc) {
  const int end = koff + kd;
  int k0 = koff, k;
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 16 + 0) : _mm256_setzero_ps(), c0_1 = acc ? _mm256_loadu_ps(c + 0 * 16 + 8) : _mm256_setzero_ps();
  __m256 c1_0 = acc ? _mm256_loadu_ps(c + 1 * 16 + 0) : _mm256_setzero_ps(), c1_1 = acc ? _mm256_loadu_ps(c + 1 * 16 + 8) : _mm256_setzero_ps();
  __m256 c2_0 = acc ? _mm256_loadu_ps(c + 2 * 16 + 0) : _mm256_setzero_ps(), c2_1 = acc ? _mm256_loadu_ps(c + 2 * 16 + 8) : _mm256_setzero_ps();
  const float *a0 = a[0];
  const float *a1 = a[1];
  const float *a2 = a[2];
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 16;
    const __m256 s0 = _mm256_loadu_ps(s + 0);
    const __m256 s1 = _mm256_loadu_ps(s + 8);
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 8;
      const __m256 b0 = _mm256_mul_ps(moec_ld_i4(b + 0), s0);
      const __m256 b1 = _mm256_mul_ps(moec_ld_i4(b + 4), s1);
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
    k0 = k1;
  }
  _mm256_storeu_ps(c + 0 * 16 + 0, c0_0);
  _mm256_storeu_ps(c + 0 * 16 + 8, c0_1);
  _mm256_storeu_ps(c + 1 * 16 + 0, c1_0);
  _mm256_storeu_ps(c + 1 * 16 + 8, c1_1);
  _mm256_storeu_ps(c + 2 * 16 + 0, c2_0);
  _mm256_storeu_ps(c + 2 * 16 + 8, c2_1);
#else
  float sum[3][16], wv[16];
  int r, v;
  for (r = 0; r < 3; r++)
    for (v = 0; v < 16; v++) sum[r][v] = acc ? c[r * 16 + v] : 0.0f;
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 16;
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 8;
      for (v = 0; v < 16; v++) wv[v] = moec_i4(b, v, 8) * s[v];
      for (r = 0; r < 3; r++) {
        const float x = a[r][k];
        for (v = 0; v < 16; v++) sum[r][v] += x * wv[v];
      }
    }
    k0 = k1;
  }
  for (r = 0; r < 3; r++)
    for (v = 0; v < 16; v++) c[r * 16 + v] = sum[r][v];
#endif
}

/*
 * c[r][v] (+)= sum_k a[r][k] * w[k][v] for k in [koff, koff + kd), w[k][v] = i4 code * the
 * scale of (k / group, v): 4 rows x 16 columns, k in order; `panel` points at depth koff
 * (rows of 8 bytes), `scales` at the panel's [groups][16]. Each code is decoded in
 * registers and scaled once (the reference's f32 weight), then FMA'd; a group's scales are
 * loaded once. AVX2 + FMA: 8 accumulator registers.
 */
static void moec_micro_i4_4x16(const float *const *a, int koff, const unsigned char *panel, const float *scales, int group, int kd, float *c, int acc) {
  const int end = koff + kd;
  int k0 = koff, k;
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 16 + 0) : _mm256_setzero_ps(), c0_1 = acc ? _mm256_loadu_ps(c + 0 * 16 + 8) : _mm256_setzero_ps();
  __m256 c1_0 = acc ? _mm256_loadu_ps(c + 1 * 16 + 0) : _mm256_setzero_ps(), c1_1 = acc ? _mm256_loadu_ps(c + 1 * 16 + 8) : _mm256_setzero_ps();
  __m256 c2_0 = acc ? _mm256_loadu_ps(c + 2 * 16 + 0) : _mm256_setzero_ps(), c2_1 = acc ? _mm256_loadu_ps(c + 2 * 16 + 8) : _mm256_setzero_ps();
  __m256 c3_0 = acc ? _mm256_loadu_ps(c + 3 * 16 + 0) : _mm256_setzero_ps(), c3_1 = acc ? _mm256_loadu_ps(c + 3 * 16 + 8) : _mm256_setzero_ps();
  const float *a0 = a[0];
  const float *a1 = a[1];
  const float *a2 = a[2];
  const float *a3 = a[3];
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 16;
    const __m256 s0 = _mm256_loadu_ps(s + 0);
    const __m256 s1 = _mm256_loadu_ps(s + 8);
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 8;
      const __m256 b0 = _mm256_mul_ps(moec_ld_i4(b + 0), s0);
      const __m256 b1 = _mm256_mul_ps(moec_ld_i4(b + 4), s1);
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
    k0 = k1;
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
  float sum[4][16], wv[16];
  int r, v;
  for (r = 0; r < 4; r++)
    for (v = 0; v < 16; v++) sum[r][v] = acc ? c[r * 16 + v] : 0.0f;
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 16;
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 8;
      for (v = 0; v < 16; v++) wv[v] = moec_i4(b, v, 8) * s[v];
      for (r = 0; r < 4; r++) {
        const float x = a[r][k];
        for (v = 0; v < 16; v++) sum[r][v] += x * wv[v];
      }
    }
    k0 = k1;
  }
  for (r = 0; r < 4; r++)
    for (v = 0; v < 16; v++) c[r * 16 + v] = sum[r][v];
#endif
}

/*
 * c[r][v] (+)= sum_k a[r][k] * w[k][v] for k in [koff, koff + kd), w[k][v] = i4 code * the
 * scale of (k / group, v): 5 rows x 16 columns, k in order; `panel` points at depth koff
 * (rows of 8 bytes), `scales` at the panel's [groups][16]. Each code is decoded in
 * registers and scaled once (the reference's f32 weight), then FMA'd; a group's scales are
 * loaded once. AVX2 + FMA: 10 accumulator registers.
 */
static void moec_micro_i4_5x16(const float *const *a, int koff, const unsigned char *panel, const float *scales, int group, int kd, float *c, int acc) {
  const int end = koff + kd;
  int k0 = koff, k;
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 16 + 0) : _mm256_setzero_ps(), c0_1 = acc ? _mm256_loadu_ps(c + 0 * 16 + 8) : _mm256_setzero_ps();
  __m256 c1_0 = acc ? _mm256_loadu_ps(c + 1 * 16 + 0) : _mm256_setzero_ps(), c1_1 = acc ? _mm256_loadu_ps(c + 1 * 16 + 8) : _mm256_setzero_ps();
  __m256 c2_0 = acc ? _mm256_loadu_ps(c + 2 * 16 + 0) : _mm256_setzero_ps(), c2_1 = acc ? _mm256_loadu_ps(c + 2 * 16 + 8) : _mm256_setzero_ps();
  __m256 c3_0 = acc ? _mm256_loadu_ps(c + 3 * 16 + 0) : _mm256_setzero_ps(), c3_1 = acc ? _mm256_loadu_ps(c + 3 * 16 + 8) : _mm256_setzero_ps();
  __m256 c4_0 = acc ? _mm256_loadu_ps(c + 4 * 16 + 0) : _mm256_setzero_ps(), c4_1 = acc ? _mm256_loadu_ps(c + 4 * 16 + 8) : _mm256_setzero_ps();
  const float *a0 = a[0];
  const float *a1 = a[1];
  const float *a2 = a[2];
  const float *a3 = a[3];
  const float *a4 = a[4];
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 16;
    const __m256 s0 = _mm256_loadu_ps(s + 0);
    const __m256 s1 = _mm256_loadu_ps(s + 8);
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 8;
      const __m256 b0 = _mm256_mul_ps(moec_ld_i4(b + 0), s0);
      const __m256 b1 = _mm256_mul_ps(moec_ld_i4(b + 4), s1);
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
    k0 = k1;
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
  float sum[5][16], wv[16];
  int r, v;
  for (r = 0; r < 5; r++)
    for (v = 0; v < 16; v++) sum[r][v] = acc ? c[r * 16 + v] : 0.0f;
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 16;
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 8;
      for (v = 0; v < 16; v++) wv[v] = moec_i4(b, v, 8) * s[v];
      for (r = 0; r < 5; r++) {
        const float x = a[r][k];
        for (v = 0; v < 16; v++) sum[r][v] += x * wv[v];
      }
    }
    k0 = k1;
  }
  for (r = 0; r < 5; r++)
    for (v = 0; v < 16; v++) c[r * 16 + v] = sum[r][v];
#endif
}

/*
 * Software prefetch, bytes ahead in each panel stream of the one-row kernels (four at once
 * below, the decode path of grouped and dense GEMMs; one in the direct kernel). Quantized panel
 * rows are short (16 bytes of i8 for 16 columns), so a stream crosses pages fast and the hardware
 * prefetcher, which stops at each 4 KiB page, leaves a core waiting on DRAM: measured on
 * mixtral-mini i8 at T = 1 on one core, 4096 bytes ahead took 2.17 ms to 1.50 ms (AVX2) and
 * 1.73 to 1.32 ms (AVX-512); 1024 did little, 8192 no better; 2048 is faster still on most
 * (the tiler's QUANT_PREFETCH_BYTES says where). Prefetches never fault.
 */
#ifndef MOEC_QPREFETCH
#define MOEC_QPREFETCH 2048
#endif

/*
 * c[r][v] (+)= sum_k a[r][k] * w[k][v] for k in [koff, koff + kd), w[k][v] = i4 code * the
 * scale of (k / group, v): 1 rows x 8 columns, k in order; `panel` points at depth koff
 * (rows of 4 bytes), `scales` at the panel's [groups][8]. Each code is decoded in
 * registers and scaled once (the reference's f32 weight), then FMA'd; a group's scales are
 * loaded once. AVX2 + FMA: 1 accumulator registers.
 */
static void moec_micro_i4_1x8(const float *const *a, int koff, const unsigned char *panel, const float *scales, int group, int kd, float *c, int acc) {
  const int end = koff + kd;
  int k0 = koff, k;
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 8 + 0) : _mm256_setzero_ps();
  const float *a0 = a[0];
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 8;
    const __m256 s0 = _mm256_loadu_ps(s + 0);
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 4;
      _mm_prefetch((const char *)(b + MOEC_QPREFETCH), _MM_HINT_T0);
      const __m256 b0 = _mm256_mul_ps(moec_ld_i4(b + 0), s0);
      {
        const __m256 x = _mm256_set1_ps(a0[k]);
        c0_0 = _mm256_fmadd_ps(x, b0, c0_0);
      }
    }
    k0 = k1;
  }
  _mm256_storeu_ps(c + 0 * 8 + 0, c0_0);
#else
  float sum[1][8], wv[8];
  int r, v;
  for (r = 0; r < 1; r++)
    for (v = 0; v < 8; v++) sum[r][v] = acc ? c[r * 8 + v] : 0.0f;
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 8;
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 4;
      for (v = 0; v < 8; v++) wv[v] = moec_i4(b, v, 8) * s[v];
      for (r = 0; r < 1; r++) {
        const float x = a[r][k];
        for (v = 0; v < 8; v++) sum[r][v] += x * wv[v];
      }
    }
    k0 = k1;
  }
  for (r = 0; r < 1; r++)
    for (v = 0; v < 8; v++) c[r * 8 + v] = sum[r][v];
#endif
}

/*
 * Decode: one row against four i4 panels at once (panel j at panel + j * stride, its scales
 * at scales + j * sstride), k from 0. The codes are the memory traffic. Per scale group the
 * kernel sums a[k] * decode(code) in registers and applies the group's scale once, to that
 * partial sum: the same sum as a[k] * fround(decode * scale) summed, rounded differently (within
 * the parity tolerance, like any change of summation order), and one decode, one convert and
 * one FMA per vector instead of also a scale multiply: decoding T = 1 is instruction-bound on
 * narrow cores once the weights are 4x smaller, so this is what makes i8 pay.
 */
static void moec_micro_i4_1x8_x4(const float *const *a, const unsigned char *panel, size_t stride, const float *scales, size_t sstride, int group, int kd, float *c) {
#if MOEC_SIMD
  const float *a0 = a[0];
  int k0 = 0, k;
  _mm256_storeu_ps(c + 0 * 8 + 0, _mm256_setzero_ps());
  _mm256_storeu_ps(c + 1 * 8 + 0, _mm256_setzero_ps());
  _mm256_storeu_ps(c + 2 * 8 + 0, _mm256_setzero_ps());
  _mm256_storeu_ps(c + 3 * 8 + 0, _mm256_setzero_ps());
  while (k0 < kd) {
    const int gi = k0 / group, k1 = (gi + 1) * group < kd ? (gi + 1) * group : kd;
    const float *s = scales + (size_t)gi * 8;
    __m256 p0_0 = _mm256_setzero_ps();
    __m256 p1_0 = _mm256_setzero_ps();
    __m256 p2_0 = _mm256_setzero_ps();
    __m256 p3_0 = _mm256_setzero_ps();
    for (k = k0; k < k1; k++) {
      const __m256 x = _mm256_set1_ps(a0[k]);
      const unsigned char *b = panel + (size_t)k * 4;
      _mm_prefetch((const char *)(b + 0 * stride + MOEC_QPREFETCH), _MM_HINT_T0);
      _mm_prefetch((const char *)(b + 1 * stride + MOEC_QPREFETCH), _MM_HINT_T0);
      _mm_prefetch((const char *)(b + 2 * stride + MOEC_QPREFETCH), _MM_HINT_T0);
      _mm_prefetch((const char *)(b + 3 * stride + MOEC_QPREFETCH), _MM_HINT_T0);
      p0_0 = _mm256_fmadd_ps(x, moec_ld_i4(b + 0 * stride + 0), p0_0);
      p1_0 = _mm256_fmadd_ps(x, moec_ld_i4(b + 1 * stride + 0), p1_0);
      p2_0 = _mm256_fmadd_ps(x, moec_ld_i4(b + 2 * stride + 0), p2_0);
      p3_0 = _mm256_fmadd_ps(x, moec_ld_i4(b + 3 * stride + 0), p3_0);
    }
    _mm256_storeu_ps(c + 0 * 8 + 0, _mm256_fmadd_ps(p0_0, _mm256_loadu_ps(s + 0 * sstride + 0), _mm256_loadu_ps(c + 0 * 8 + 0)));
    _mm256_storeu_ps(c + 1 * 8 + 0, _mm256_fmadd_ps(p1_0, _mm256_loadu_ps(s + 1 * sstride + 0), _mm256_loadu_ps(c + 1 * 8 + 0)));
    _mm256_storeu_ps(c + 2 * 8 + 0, _mm256_fmadd_ps(p2_0, _mm256_loadu_ps(s + 2 * sstride + 0), _mm256_loadu_ps(c + 2 * 8 + 0)));
    _mm256_storeu_ps(c + 3 * 8 + 0, _mm256_fmadd_ps(p3_0, _mm256_loadu_ps(s + 3 * sstride + 0), _mm256_loadu_ps(c + 3 * 8 + 0)));
    k0 = k1;
  }
#else
  int j;
  for (j = 0; j < 4; j++) moec_micro_i4_1x8(a, 0, panel + j * stride, scales + j * sstride, group, kd, c + j * 8, 0);
#endif
}

/*
 * c[r][v] (+)= sum_k a[r][k] * w[k][v] for k in [koff, koff + kd), w[k][v] = i4 code * the
 * scale of (k / group, v): 2 rows x 8 columns, k in order; `panel` points at depth koff
 * (rows of 4 bytes), `scales` at the panel's [groups][8]. Each code is decoded in
 * registers and scaled once (the reference's f32 weight), then FMA'd; a group's scales are
 * loaded once. AVX2 + FMA: 2 accumulator registers.
 */
static void moec_micro_i4_2x8(const float *const *a, int koff, const unsigned char *panel, const float *scales, int group, int kd, float *c, int acc) {
  const int end = koff + kd;
  int k0 = koff, k;
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 8 + 0) : _mm256_setzero_ps();
  __m256 c1_0 = acc ? _mm256_loadu_ps(c + 1 * 8 + 0) : _mm256_setzero_ps();
  const float *a0 = a[0];
  const float *a1 = a[1];
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 8;
    const __m256 s0 = _mm256_loadu_ps(s + 0);
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 4;
      const __m256 b0 = _mm256_mul_ps(moec_ld_i4(b + 0), s0);
      {
        const __m256 x = _mm256_set1_ps(a0[k]);
        c0_0 = _mm256_fmadd_ps(x, b0, c0_0);
      }
      {
        const __m256 x = _mm256_set1_ps(a1[k]);
        c1_0 = _mm256_fmadd_ps(x, b0, c1_0);
      }
    }
    k0 = k1;
  }
  _mm256_storeu_ps(c + 0 * 8 + 0, c0_0);
  _mm256_storeu_ps(c + 1 * 8 + 0, c1_0);
#else
  float sum[2][8], wv[8];
  int r, v;
  for (r = 0; r < 2; r++)
    for (v = 0; v < 8; v++) sum[r][v] = acc ? c[r * 8 + v] : 0.0f;
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 8;
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 4;
      for (v = 0; v < 8; v++) wv[v] = moec_i4(b, v, 8) * s[v];
      for (r = 0; r < 2; r++) {
        const float x = a[r][k];
        for (v = 0; v < 8; v++) sum[r][v] += x * wv[v];
      }
    }
    k0 = k1;
  }
  for (r = 0; r < 2; r++)
    for (v = 0; v < 8; v++) c[r * 8 + v] = sum[r][v];
#endif
}

/*
 * c[r][v] (+)= sum_k a[r][k] * w[k][v] for k in [koff, koff + kd), w[k][v] = i4 code * the
 * scale of (k / group, v): 3 rows x 8 columns, k in order; `panel` points at depth koff
 * (rows of 4 bytes), `scales` at the panel's [groups][8]. Each code is decoded in
 * registers and scaled once (the reference's f32 weight), then FMA'd; a group's scales are
 * loaded once. AVX2 + FMA: 3 accumulator registers.
 */
static void moec_micro_i4_3x8(const float *const *a, int koff, const unsigned char *panel, const float *scales, int group, int kd, float *c, int acc) {
  const int end = koff + kd;
  int k0 = koff, k;
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 8 + 0) : _mm256_setzero_ps();
  __m256 c1_0 = acc ? _mm256_loadu_ps(c + 1 * 8 + 0) : _mm256_setzero_ps();
  __m256 c2_0 = acc ? _mm256_loadu_ps(c + 2 * 8 + 0) : _mm256_setzero_ps();
  const float *a0 = a[0];
  const float *a1 = a[1];
  const float *a2 = a[2];
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 8;
    const __m256 s0 = _mm256_loadu_ps(s + 0);
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 4;
      const __m256 b0 = _mm256_mul_ps(moec_ld_i4(b + 0), s0);
      {
        const __m256 x = _mm256_set1_ps(a0[k]);
        c0_0 = _mm256_fmadd_ps(x, b0, c0_0);
      }
      {
        const __m256 x = _mm256_set1_ps(a1[k]);
        c1_0 = _mm256_fmadd_ps(x, b0, c1_0);
      }
      {
        const __m256 x = _mm256_set1_ps(a2[k]);
        c2_0 = _mm256_fmadd_ps(x, b0, c2_0);
      }
    }
    k0 = k1;
  }
  _mm256_storeu_ps(c + 0 * 8 + 0, c0_0);
  _mm256_storeu_ps(c + 1 * 8 + 0, c1_0);
  _mm256_storeu_ps(c + 2 * 8 + 0, c2_0);
#else
  float sum[3][8], wv[8];
  int r, v;
  for (r = 0; r < 3; r++)
    for (v = 0; v < 8; v++) sum[r][v] = acc ? c[r * 8 + v] : 0.0f;
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 8;
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 4;
      for (v = 0; v < 8; v++) wv[v] = moec_i4(b, v, 8) * s[v];
      for (r = 0; r < 3; r++) {
        const float x = a[r][k];
        for (v = 0; v < 8; v++) sum[r][v] += x * wv[v];
      }
    }
    k0 = k1;
  }
  for (r = 0; r < 3; r++)
    for (v = 0; v < 8; v++) c[r * 8 + v] = sum[r][v];
#endif
}

/*
 * c[r][v] (+)= sum_k a[r][k] * w[k][v] for k in [koff, koff + kd), w[k][v] = i4 code * the
 * scale of (k / group, v): 4 rows x 8 columns, k in order; `panel` points at depth koff
 * (rows of 4 bytes), `scales` at the panel's [groups][8]. Each code is decoded in
 * registers and scaled once (the reference's f32 weight), then FMA'd; a group's scales are
 * loaded once. AVX2 + FMA: 4 accumulator registers.
 */
static void moec_micro_i4_4x8(const float *const *a, int koff, const unsigned char *panel, const float *scales, int group, int kd, float *c, int acc) {
  const int end = koff + kd;
  int k0 = koff, k;
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 8 + 0) : _mm256_setzero_ps();
  __m256 c1_0 = acc ? _mm256_loadu_ps(c + 1 * 8 + 0) : _mm256_setzero_ps();
  __m256 c2_0 = acc ? _mm256_loadu_ps(c + 2 * 8 + 0) : _mm256_setzero_ps();
  __m256 c3_0 = acc ? _mm256_loadu_ps(c + 3 * 8 + 0) : _mm256_setzero_ps();
  const float *a0 = a[0];
  const float *a1 = a[1];
  const float *a2 = a[2];
  const float *a3 = a[3];
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 8;
    const __m256 s0 = _mm256_loadu_ps(s + 0);
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 4;
      const __m256 b0 = _mm256_mul_ps(moec_ld_i4(b + 0), s0);
      {
        const __m256 x = _mm256_set1_ps(a0[k]);
        c0_0 = _mm256_fmadd_ps(x, b0, c0_0);
      }
      {
        const __m256 x = _mm256_set1_ps(a1[k]);
        c1_0 = _mm256_fmadd_ps(x, b0, c1_0);
      }
      {
        const __m256 x = _mm256_set1_ps(a2[k]);
        c2_0 = _mm256_fmadd_ps(x, b0, c2_0);
      }
      {
        const __m256 x = _mm256_set1_ps(a3[k]);
        c3_0 = _mm256_fmadd_ps(x, b0, c3_0);
      }
    }
    k0 = k1;
  }
  _mm256_storeu_ps(c + 0 * 8 + 0, c0_0);
  _mm256_storeu_ps(c + 1 * 8 + 0, c1_0);
  _mm256_storeu_ps(c + 2 * 8 + 0, c2_0);
  _mm256_storeu_ps(c + 3 * 8 + 0, c3_0);
#else
  float sum[4][8], wv[8];
  int r, v;
  for (r = 0; r < 4; r++)
    for (v = 0; v < 8; v++) sum[r][v] = acc ? c[r * 8 + v] : 0.0f;
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 8;
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 4;
      for (v = 0; v < 8; v++) wv[v] = moec_i4(b, v, 8) * s[v];
      for (r = 0; r < 4; r++) {
        const float x = a[r][k];
        for (v = 0; v < 8; v++) sum[r][v] += x * wv[v];
      }
    }
    k0 = k1;
  }
  for (r = 0; r < 4; r++)
    for (v = 0; v < 8; v++) c[r * 8 + v] = sum[r][v];
#endif
}

/*
 * c[r][v] (+)= sum_k a[r][k] * w[k][v] for k in [koff, koff + kd), w[k][v] = i4 code * the
 * scale of (k / group, v): 5 rows x 8 columns, k in order; `panel` points at depth koff
 * (rows of 4 bytes), `scales` at the panel's [groups][8]. Each code is decoded in
 * registers and scaled once (the reference's f32 weight), then FMA'd; a group's scales are
 * loaded once. AVX2 + FMA: 5 accumulator registers.
 */
static void moec_micro_i4_5x8(const float *const *a, int koff, const unsigned char *panel, const float *scales, int group, int kd, float *c, int acc) {
  const int end = koff + kd;
  int k0 = koff, k;
#if MOEC_SIMD
  __m256 c0_0 = acc ? _mm256_loadu_ps(c + 0 * 8 + 0) : _mm256_setzero_ps();
  __m256 c1_0 = acc ? _mm256_loadu_ps(c + 1 * 8 + 0) : _mm256_setzero_ps();
  __m256 c2_0 = acc ? _mm256_loadu_ps(c + 2 * 8 + 0) : _mm256_setzero_ps();
  __m256 c3_0 = acc ? _mm256_loadu_ps(c + 3 * 8 + 0) : _mm256_setzero_ps();
  __m256 c4_0 = acc ? _mm256_loadu_ps(c + 4 * 8 + 0) : _mm256_setzero_ps();
  const float *a0 = a[0];
  const float *a1 = a[1];
  const float *a2 = a[2];
  const float *a3 = a[3];
  const float *a4 = a[4];
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 8;
    const __m256 s0 = _mm256_loadu_ps(s + 0);
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 4;
      const __m256 b0 = _mm256_mul_ps(moec_ld_i4(b + 0), s0);
      {
        const __m256 x = _mm256_set1_ps(a0[k]);
        c0_0 = _mm256_fmadd_ps(x, b0, c0_0);
      }
      {
        const __m256 x = _mm256_set1_ps(a1[k]);
        c1_0 = _mm256_fmadd_ps(x, b0, c1_0);
      }
      {
        const __m256 x = _mm256_set1_ps(a2[k]);
        c2_0 = _mm256_fmadd_ps(x, b0, c2_0);
      }
      {
        const __m256 x = _mm256_set1_ps(a3[k]);
        c3_0 = _mm256_fmadd_ps(x, b0, c3_0);
      }
      {
        const __m256 x = _mm256_set1_ps(a4[k]);
        c4_0 = _mm256_fmadd_ps(x, b0, c4_0);
      }
    }
    k0 = k1;
  }
  _mm256_storeu_ps(c + 0 * 8 + 0, c0_0);
  _mm256_storeu_ps(c + 1 * 8 + 0, c1_0);
  _mm256_storeu_ps(c + 2 * 8 + 0, c2_0);
  _mm256_storeu_ps(c + 3 * 8 + 0, c3_0);
  _mm256_storeu_ps(c + 4 * 8 + 0, c4_0);
#else
  float sum[5][8], wv[8];
  int r, v;
  for (r = 0; r < 5; r++)
    for (v = 0; v < 8; v++) sum[r][v] = acc ? c[r * 8 + v] : 0.0f;
  while (k0 < end) {
    const int gi = k0 / group, k1 = (gi + 1) * group < end ? (gi + 1) * group : end;
    const float *s = scales + (size_t)gi * 8;
    for (k = k0; k < k1; k++) {
      const unsigned char *b = panel + (size_t)(k - koff) * 4;
      for (v = 0; v < 8; v++) wv[v] = moec_i4(b, v, 8) * s[v];
      for (r = 0; r < 5; r++) {
        const float x = a[r][k];
        for (v = 0; v < 8; v++) sum[r][v] += x * wv[v];
      }
    }
    k0 = k1;
  }
  for (r = 0; r < 5; r++)
    for (v = 0; v < 8; v++) c[r * 8 + v] = sum[r][v];
#endif
}

#ifdef MOEC_PROFILE
#include <time.h>
double tiny_kernel_ms[TINY_KERNELS];
static double moec_profile_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
#define MOEC_PROFILE_START const double moec_t0 = moec_profile_now();
#define MOEC_PROFILE_STOP(i) tiny_kernel_ms[i] += moec_profile_now() - moec_t0;
#else
#define MOEC_PROFILE_START
#define MOEC_PROFILE_STOP(i)
#endif

/* ---- kernels -------------------------------------------------------------------------- */

/*
 * k0_router: router. logits = x . w over 4 experts (8 features);
 * scores = softmax; select top-2;
 * weights = chosen scores, normalised.
 * Everything in double, rounded once when stored: the reference interpreter's numbers.
 */
typedef struct {
  const unsigned char *w;
  const float *x, *ws;
  int *indices;
  float *weights;
  int T;
} k0_router_args;

static void k0_router_work(const void *arg, int part, int parts) {
  const k0_router_args *g = (const k0_router_args *)arg;
  double score[4], vals[2];
  int idx[2];
  int t, t0, t1, e, j;
  moec_split(g->T, part, parts, &t0, &t1);
  for (t = t0; t < t1; t++) {
    const float *x = g->x + (size_t)t * 8;
    int *oi = g->indices + (size_t)t * 2;
    float *ow = g->weights + (size_t)t * 2;
    double sum = 0;
    moec_logits_i4(x, g->w, g->ws, 32, 8, 4, score);
    moec_softmax(score, 4);
    moec_topk(score, 4, 2, vals, idx, NULL, 1);
    for (j = 0; j < 2; j++) sum += vals[j];
    for (j = 0; j < 2; j++) vals[j] /= sum;
    for (j = 0; j < 2; j++) {
      oi[j] = idx[j];
      ow[j] = (float)(vals[j] * 1.0);
    }
    (void)sum;
    (void)e;
  }
}

static void k0_router(const k0_router_args *g, int threads) {
  /* Tokens are the parallel unit: never more threads than tokens (at T = 1, none are started). */
  moec_parallel(k0_router_work, g, g->T < threads ? g->T : threads);
}







/*
 * k1_moe_align: moe_align. Token slots (t*2 + choice) grouped by expert, in slot order, each
 * expert's rows padded with -1 to whole blocks of 5 (the GEMM tile height);
 * block_expert[b] is the expert of block b; count[0] the rows used. Experts no token chose
 * get no block. Serial: O(T*k), small against the GEMMs.
 */
typedef struct {
  const int *indices;
  int *sorted, *block_expert, *count;
  int T;
} k1_moe_align_args;

static int k1_moe_align(const k1_moe_align_args *g) {
  int count[4], next[4];
  const int slots = g->T * 2;
  const size_t rows_cap = ((size_t)2 * (size_t)(g->T) + (size_t)16), blocks_cap = ((size_t)(g->T) + (size_t)4);
  int s, e, rows = 0, blocks = 0;
  size_t i;
  for (e = 0; e < 4; e++) count[e] = 0;
  for (s = 0; s < slots; s++) {
    e = g->indices[s];
    if (e == -1) continue;
    if (e < -1 || e >= 4) return TINY_ERR_ROUTING;
    count[e]++;
  }
  for (i = 0; i < rows_cap; i++) g->sorted[i] = -1;
  for (i = 0; i < blocks_cap; i++) g->block_expert[i] = -1;
  for (e = 0; e < 4; e++) {
    const int n = (count[e] + 5 - 1) / 5;
    int b;
    next[e] = rows;
    if ((size_t)(blocks + n) > blocks_cap || (size_t)rows + (size_t)n * 5 > rows_cap) return TINY_ERR_ROUTING;
    for (b = 0; b < n; b++) g->block_expert[blocks + b] = e;
    blocks += n;
    rows += n * 5;
  }
  for (s = 0; s < slots; s++)
    if (g->indices[s] != -1) g->sorted[next[g->indices[s]]++] = s;
  g->count[0] = rows;
  return 0;
}







/*
 * k2_grouped_gemm: grouped GEMM (token rows gathered through the sorted slots).
 * Per expert e: [rows of its tokens] x [8 x 32] (panels of 16 columns, 2 per expert),
 * 5-row register tiles, then the epilogue in registers' reach: swiglu (concat).
 * Weights: i4 codes (8 bytes a panel row), dequantized in registers with one f32
 * scale per (column, group of 32 along the depth): the scale panels of g->ws.
 * Sorted path (T >= 3): the aligned blocks of 5 rows, an expert's blocks
 * together so its panels stay in cache; per block, 2 panel(s) at a time in depth chunks
 * of 8, so a chunk of the block's rows and of one panel stay in L1 while every
 * 5-row tile of the block uses them. Decode path (T < 3): each routed slot
 * directly, no sort. Threads split the panels (output columns), so no two write one element
 * and the result does not depend on the thread count.
 */
typedef struct {
  const unsigned char *w;
  const float *a, *ws;
  const int *indices, *sorted, *block_expert, *count;
  float *out;
  int T;
} k2_grouped_gemm_args;

/* The epilogue and the store of a tile of `rows` rows: slot[r] < 0 rows are padding. */
static void k2_grouped_gemm_finish(const k2_grouped_gemm_args *g, float *tile, int rows, const int *slot, const int *orow, int e, int pp) {
  const int valid = 16 - pp * 8 < 8 ? 16 - pp * 8 : 8;
  int r, v;
  for (r = 0; r < rows; r++) {
    float *c = tile + r * 16;
    if (slot[r] < 0) continue;
        for (v = 0; v < 8; v++) c[v] = moec_silu(c[v]) * c[8 + v]; /* SwiGLU: gate | up */
    {
      float *o = g->out + (size_t)orow[r] * 16 + (size_t)pp * 8;
      for (v = 0; v < valid; v++) o[v] = c[v];
    }
  }
  (void)e;
  (void)orow;
  (void)v;
}

static void k2_grouped_gemm_work(const void *arg, int part, int parts) {
  const k2_grouped_gemm_args *g = (const k2_grouped_gemm_args *)arg;
  int p0, p1, p, r;
  moec_split(2, part, parts, &p0, &p1);
  if (g->T < 3) {
    const int slots = g->T * 2;
    float tile[4 * 16];
    const float *a[1];
    int s, slot[1];
    for (s = 0; s < slots; s++) {
      const int e = g->indices[s];
      if (e < 0) continue;
      a[0] = g->a + (size_t)(s / 2) * 8;
      slot[0] = s;
      for (p = p0; p + 4 <= p1; p += 4) { /* four panels at a time: four memory streams */
        int j;
        moec_micro_i4_1x16_x4(a, g->w + ((size_t)e * 2 + p) * 64, 64, g->ws + ((size_t)e * 2 + p) * 16, 16, 32, 8, tile);
        for (j = 0; j < 4; j++) k2_grouped_gemm_finish(g, tile + j * 16, 1, slot, slot, e, p + j);
      }
      for (; p < p1; p++) {
        moec_micro_i4_1x16(a, 0, g->w + ((size_t)e * 2 + p) * 64, g->ws + ((size_t)e * 2 + p) * 16, 32, 8, tile, 0);
        k2_grouped_gemm_finish(g, tile, 1, slot, slot, e, p);
      }
    }
  } else {
    /* acc[q][row][v]: the block's sums for panel q of the group, across depth chunks. */
    float acc[2 * 5 * 16];
    /*
     * The micro-kernels by rows: a tile computes up to its last live row (an expert's last block
     * ends in padding rows, and at small T most of a block is padding), not all 5.
     */
    static void (*const micro[5 + 1])(const float *const *, int, const unsigned char *, const float *, int, int, float *, int) = { NULL, moec_micro_i4_1x16, moec_micro_i4_2x16, moec_micro_i4_3x16, moec_micro_i4_4x16, moec_micro_i4_5x16 };
    const float *a[5];
    int slot[5], orow[5], live[5 / 5];
    const int blocks = g->count[0] / 5;
    int b = 0;
    while (b < blocks) {
      const int e = g->block_expert[b];
      int b1 = b + 1, bb;
      while (b1 < blocks && g->block_expert[b1] == e) b1++;
      if (e >= 0)
        for (p = p0; p < p1; p += 2) {
          const int np = p1 - p < 2 ? p1 - p : 2;
          for (bb = b; bb < b1; bb++) {
            const float *first = NULL;
            int chunks, i, q, t;
            for (r = 0; r < 5; r++) {
              const int row = bb * 5 + r;
              slot[r] = r < 5 ? g->sorted[row] : -1;
              orow[r] = row;
              a[r] = slot[r] < 0 ? NULL : g->a + (size_t)(slot[r] / 2) * 8;
              if (a[r] && !first) first = a[r];
            }
            if (!first) continue;
            for (t = 0; t < 5 / 5; t++) {
              live[t] = 0; /* rows of tile t up to its last live one (padding comes last, so: its live rows) */
              for (r = t * 5; r < (t + 1) * 5; r++)
                if (slot[r] >= 0) live[t] = r - t * 5 + 1;
            }
            for (r = 0; r < 5; r++)
              if (!a[r]) a[r] = first; /* padding rows compute on a real row; never stored */
            /* chunk i: depth chunk i / np of panel p + i % np */
            chunks = (8 + 8 - 1) / 8 * np;
            for (i = 0; i < chunks; i++) {
              const int kc = i / np * 8, q = i % np;
              const int kl = 8 - kc < 8 ? 8 - kc : 8;
              const unsigned char *panel = g->w + ((size_t)e * 2 + p + q) * 64 + (size_t)kc * 8;
              for (t = 0; t < 5 / 5; t++)
                if (live[t]) micro[live[t]](a + t * 5, kc, panel, g->ws + ((size_t)e * 2 + p + q) * 16, 32, kl, acc + ((size_t)q * 5 + t * 5) * 16, kc > 0);
            }
            for (q = 0; q < np; q++)
              for (t = 0; t < 5 / 5; t++)
                if (live[t]) k2_grouped_gemm_finish(g, acc + ((size_t)q * 5 + t * 5) * 16, live[t], slot + t * 5, orow + t * 5, e, p + q);
          }
        }
      b = b1;
    }
  }
}






/*
 * k3_grouped_gemm: grouped GEMM (rows in sorted order).
 * Per expert e: [rows of its tokens] x [16 x 8] (panels of 8 columns, 1 per expert),
 * 5-row register tiles, then the epilogue in registers' reach: weighted combine.
 * Weights: i4 codes (4 bytes a panel row), dequantized in registers with one f32
 * scale per (column, group of 32 along the depth): the scale panels of g->ws.
 * Sorted path (T >= 3): the aligned blocks of 5 rows, an expert's blocks
 * together so its panels stay in cache; per block, 1 panel(s) at a time in depth chunks
 * of 16, so a chunk of the block's rows and of one panel stay in L1 while every
 * 5-row tile of the block uses them. Decode path (T < 3): each routed slot
 * directly, no sort. Threads split the panels (output columns), so no two write one element
 * and the result does not depend on the thread count.
 */
typedef struct {
  const unsigned char *w;
  const float *a, *ws, *weights;
  const int *indices, *sorted, *block_expert, *count;
  float *out;
  int T;
} k3_grouped_gemm_args;

/* The epilogue and the store of a tile of `rows` rows: slot[r] < 0 rows are padding. */
static void k3_grouped_gemm_finish(const k3_grouped_gemm_args *g, float *tile, int rows, const int *slot, const int *orow, int e, int pp) {
  const int valid = 8 - pp * 8 < 8 ? 8 - pp * 8 : 8;
  int r, v;
  for (r = 0; r < rows; r++) {
    float *c = tile + r * 8;
    if (slot[r] < 0) continue;
    {
      const float wv = g->weights[slot[r]];
      float *o = g->out + (size_t)(slot[r] / 2) * 8 + (size_t)pp * 8;
      for (v = 0; v < valid; v++) o[v] += wv * c[v];
    }
  }
  (void)e;
  (void)orow;
  (void)v;
}

static void k3_grouped_gemm_work(const void *arg, int part, int parts) {
  const k3_grouped_gemm_args *g = (const k3_grouped_gemm_args *)arg;
  int p0, p1, p, r;
  moec_split(1, part, parts, &p0, &p1);
  { /* this thread's columns of out start from zero */
    const int j0 = p0 * 8, j1 = p1 * 8 < 8 ? p1 * 8 : 8;
    int t, j;
    for (t = 0; t < g->T; t++)
      for (j = j0; j < j1; j++) g->out[(size_t)t * 8 + j] = 0.0f;
  }
  if (g->T < 3) {
    const int slots = g->T * 2;
    float tile[4 * 8];
    const float *a[1];
    int s, slot[1];
    for (s = 0; s < slots; s++) {
      const int e = g->indices[s];
      if (e < 0) continue;
      a[0] = g->a + (size_t)s * 16;
      slot[0] = s;
      for (p = p0; p + 4 <= p1; p += 4) { /* four panels at a time: four memory streams */
        int j;
        moec_micro_i4_1x8_x4(a, g->w + ((size_t)e * 1 + p) * 64, 64, g->ws + ((size_t)e * 1 + p) * 8, 8, 32, 16, tile);
        for (j = 0; j < 4; j++) k3_grouped_gemm_finish(g, tile + j * 8, 1, slot, slot, e, p + j);
      }
      for (; p < p1; p++) {
        moec_micro_i4_1x8(a, 0, g->w + ((size_t)e * 1 + p) * 64, g->ws + ((size_t)e * 1 + p) * 8, 32, 16, tile, 0);
        k3_grouped_gemm_finish(g, tile, 1, slot, slot, e, p);
      }
    }
  } else {
    /* acc[q][row][v]: the block's sums for panel q of the group, across depth chunks. */
    float acc[1 * 5 * 8];
    /*
     * The micro-kernels by rows: a tile computes up to its last live row (an expert's last block
     * ends in padding rows, and at small T most of a block is padding), not all 5.
     */
    static void (*const micro[5 + 1])(const float *const *, int, const unsigned char *, const float *, int, int, float *, int) = { NULL, moec_micro_i4_1x8, moec_micro_i4_2x8, moec_micro_i4_3x8, moec_micro_i4_4x8, moec_micro_i4_5x8 };
    const float *a[5];
    int slot[5], orow[5], live[5 / 5];
    const int blocks = g->count[0] / 5;
    int b = 0;
    while (b < blocks) {
      const int e = g->block_expert[b];
      int b1 = b + 1, bb;
      while (b1 < blocks && g->block_expert[b1] == e) b1++;
      if (e >= 0)
        for (p = p0; p < p1; p += 1) {
          const int np = p1 - p < 1 ? p1 - p : 1;
          for (bb = b; bb < b1; bb++) {
            const float *first = NULL;
            int chunks, i, q, t;
            for (r = 0; r < 5; r++) {
              const int row = bb * 5 + r;
              slot[r] = r < 5 ? g->sorted[row] : -1;
              orow[r] = row;
              a[r] = slot[r] < 0 ? NULL : g->a + (size_t)row * 16;
              if (a[r] && !first) first = a[r];
            }
            if (!first) continue;
            for (t = 0; t < 5 / 5; t++) {
              live[t] = 0; /* rows of tile t up to its last live one (padding comes last, so: its live rows) */
              for (r = t * 5; r < (t + 1) * 5; r++)
                if (slot[r] >= 0) live[t] = r - t * 5 + 1;
            }
            for (r = 0; r < 5; r++)
              if (!a[r]) a[r] = first; /* padding rows compute on a real row; never stored */
            /* chunk i: depth chunk i / np of panel p + i % np */
            chunks = (16 + 16 - 1) / 16 * np;
            for (i = 0; i < chunks; i++) {
              const int kc = i / np * 16, q = i % np;
              const int kl = 16 - kc < 16 ? 16 - kc : 16;
              const unsigned char *panel = g->w + ((size_t)e * 1 + p + q) * 64 + (size_t)kc * 4;
              for (t = 0; t < 5 / 5; t++)
                if (live[t]) micro[live[t]](a + t * 5, kc, panel, g->ws + ((size_t)e * 1 + p + q) * 8, 32, kl, acc + ((size_t)q * 5 + t * 5) * 8, kc > 0);
            }
            for (q = 0; q < np; q++)
              for (t = 0; t < 5 / 5; t++)
                if (live[t]) k3_grouped_gemm_finish(g, acc + ((size_t)q * 5 + t * 5) * 8, live[t], slot + t * 5, orow + t * 5, e, p + q);
          }
        }
      b = b1;
    }
  }
}




/* ---- entry points --------------------------------------------------------------------- */

size_t tiny_arena_bytes(int max_tokens) {
  const size_t T = (size_t)max_tokens;
  size_t end = 0;
  if (max_tokens < 1 || max_tokens > TINY_MAX_TOKENS) return 0;
  if (((size_t)256 * (size_t)(T) + (size_t)1088) + ((size_t)(T)) * (size_t)2 * 4 > end) end = ((size_t)256 * (size_t)(T) + (size_t)1088) + ((size_t)(T)) * (size_t)2 * 4;
  if (((size_t)320 * (size_t)(T) + (size_t)1088) + ((size_t)(T)) * (size_t)2 * 4 > end) end = ((size_t)320 * (size_t)(T) + (size_t)1088) + ((size_t)(T)) * (size_t)2 * 4;
  if (((size_t)192 * (size_t)(T) + (size_t)1024) + ((size_t)2 * (size_t)(T) + (size_t)16) * 4 > end) end = ((size_t)192 * (size_t)(T) + (size_t)1024) + ((size_t)2 * (size_t)(T) + (size_t)16) * 4;
  if (((size_t)384 * (size_t)(T) + (size_t)1088) + ((size_t)(T) + (size_t)4) * 4 > end) end = ((size_t)384 * (size_t)(T) + (size_t)1088) + ((size_t)(T) + (size_t)4) * 4;
  if (((size_t)448 * (size_t)(T) + (size_t)1152) + (size_t)1 * 4 > end) end = ((size_t)448 * (size_t)(T) + (size_t)1152) + (size_t)1 * 4;
  if ((size_t)0 + ((size_t)2 * (size_t)(T) + (size_t)16) * (size_t)16 * 4 > end) end = (size_t)0 + ((size_t)2 * (size_t)(T) + (size_t)16) * (size_t)16 * 4;
  (void)T;
  return (end + TINY_ALIGN - 1) / TINY_ALIGN * TINY_ALIGN;
}

int tiny_forward(const void *weights, const float *x, int T, float *y, void *arena, int threads) {
  const unsigned char *W = (const unsigned char *)weights;
  unsigned char *A = (unsigned char *)arena;
  /* The thread helpers, referenced: a model whose kernels all run on one thread (an embedding
     alone) still builds under -Wall -Werror. */
  (void)moec_parallel;
  (void)moec_split;
  const float *b0_x = x;
  const unsigned char *b1_router = (const unsigned char *)(W + 0);
  const float *b2_router_scales = (const float *)(W + 64);
  const unsigned char *b3_packed_gate_up = (const unsigned char *)(W + 128);
  const float *b4_packed_gate_up_scales = (const float *)(W + 640);
  const unsigned char *b5_w_down = (const unsigned char *)(W + 1152);
  const float *b6_w_down_scales = (const float *)(W + 1408);
  int *b7_top_indices = (int *)(A + ((size_t)256 * (size_t)(T) + (size_t)1088));
  float *b8_weights = (float *)(A + ((size_t)320 * (size_t)(T) + (size_t)1088));
  float *b9_y = y;
  int *b10_y_sorted = (int *)(A + ((size_t)192 * (size_t)(T) + (size_t)1024));
  int *b11_y_block_expert = (int *)(A + ((size_t)384 * (size_t)(T) + (size_t)1088));
  int *b12_y_count = (int *)(A + ((size_t)448 * (size_t)(T) + (size_t)1152));
  float *b13_y_hidden = (float *)(A + (size_t)0);
  if (!weights || !arena || !x || !y) return TINY_ERR_NULL;
  if (T < 1 || T > TINY_MAX_TOKENS) return TINY_ERR_TOKENS;
  if ((uintptr_t)weights % TINY_ALIGN != 0 || (uintptr_t)arena % TINY_ALIGN != 0) return TINY_ERR_ALIGN;
  if (threads < 1) return TINY_ERR_THREADS;
  (void)W;
  (void)A;
  { /* router: 4 experts, top-2, softmax scores */
    k0_router_args g;
    g.x = b0_x;
    g.w = b1_router;
    g.ws = b2_router_scales;
    g.indices = b7_top_indices;
    g.weights = b8_weights;
    g.T = T;
    MOEC_PROFILE_START
    k0_router(&g, threads);
    MOEC_PROFILE_STOP(0)
  }
  { /* moe_align: 4 experts, blocks of 5 rows */
    k1_moe_align_args g;
    g.indices = b7_top_indices;
    g.sorted = b10_y_sorted;
    g.block_expert = b11_y_block_expert;
    g.count = b12_y_count;
    g.T = T;
    MOEC_PROFILE_START
    { const int rc = k1_moe_align(&g); if (rc != 0) return rc; }
    MOEC_PROFILE_STOP(1)
  }
  { /* grouped GEMM 8 -> 32, rows gathered from tokens, epilogue swiglu (concat), tile 5x16 */
    k2_grouped_gemm_args g;
    g.a = b0_x;
    g.w = b3_packed_gate_up;
    g.ws = b4_packed_gate_up_scales;
    g.indices = b7_top_indices;
    g.sorted = b10_y_sorted;
    g.block_expert = b11_y_block_expert;
    g.count = b12_y_count;
    g.out = b13_y_hidden;
    g.T = T;
    MOEC_PROFILE_START
    moec_parallel(k2_grouped_gemm_work, &g, threads);
    MOEC_PROFILE_STOP(2)
  }
  { /* grouped GEMM 16 -> 8, epilogue weighted combine, tile 5x8 */
    k3_grouped_gemm_args g;
    g.a = b13_y_hidden;
    g.w = b5_w_down;
    g.ws = b6_w_down_scales;
    g.weights = b8_weights;
    g.indices = b7_top_indices;
    g.sorted = b10_y_sorted;
    g.block_expert = b11_y_block_expert;
    g.count = b12_y_count;
    g.out = b9_y;
    g.T = T;
    MOEC_PROFILE_START
    moec_parallel(k3_grouped_gemm_work, &g, threads);
    MOEC_PROFILE_STOP(3)
  }
  return TINY_OK;
}
