/*
 * m.c: the m MoE layer, compiled by moec 0.1.0 for x86-avx2 (2-core x86-64 with AVX2 + FMA (256-bit vectors), 32 KiB L1d and 512 KiB L2 per core, shared L3).
 * Generated code: edit the .moe file and recompile instead. The API is in m.h.
 *
 * Kernels, in order (fused by moec; tiles chosen for x86-avx2):
 *   k0_attention: attention, 4 heads over 2 kv heads of 8, window 20, sinks, key tile 256, decode split 2, prefill blocks of 16 queries
 *   k1_add: elementwise add
 *   k2_attention: attention, 4 heads over 2 kv heads of 8, key tile 256, decode split 2, prefill blocks of 16 queries
 *   k3_add: elementwise add
 * Arena: 8192 bytes at 16 tokens (every intermediate at a planned offset).
 */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "m.h"

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

#ifdef MOEC_PROFILE
#include <time.h>
double m_kernel_ms[M_KERNELS];
static double moec_profile_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
#define MOEC_PROFILE_START const double moec_t0 = moec_profile_now();
#define MOEC_PROFILE_STOP(i) m_kernel_ms[i] += moec_profile_now() - moec_t0;
#else
#define MOEC_PROFILE_START
#define MOEC_PROFILE_STOP(i)
#endif

/* ---- kernels -------------------------------------------------------------------------- */





/*
 * k0_attention: attention, 4 heads over 2 kv heads of 8, window 20, sinks, key tile 256, decode split 2, prefill blocks of 16 queries.
 * Query t (position L + t) of head h sees the keys j = max(0, L + t + 1 - 20) ..= L + t of kv head
 * h / 2; the new keys and values are first appended to the cache at L ..= L + T - 1.
 * Online softmax over tiles of 256 keys: each query row keeps a running max m, sum l
 * and unnormalised accumulator acc[8], rescaled by exp(m_old - m_new) whenever a tile
 * raises the max, so its scratch is one tile of scores and the accumulator: O(tile), not
 * O(L). The 2 heads of a kv head go together, so each key and value row is read once
 * for all of them. A prefill (T > 1) goes in blocks of 16 queries (the _block function
 * below), dealt to threads in turn; a single token (T = 1) goes by kv heads, or splits its keys
 * over up to 2 ranges, each a partial softmax for every head, merged by maxima and sums.
 */
typedef struct {
  const float *q, *k, *v;
  float *kc, *vc;
  const float *sinks;
  float *out;
  int T, L;
  /* The decode split: parts, and their partials (parts x 4 x (2 + 8): m, l, acc). */
  int parts;
  float *partial;
} k0_attention_args;

/*
 * Folds keys j0 .. j1-1 of kv head kvh into the 2 query rows q0, q0 + 8, ... of the
 * heads that read it, each with its block (m, l, acc[8]) in b at a stride of 2 + 8: a key
 * and a value row are read once for every head of the group.
 */
static void k0_attention_keys(const k0_attention_args *g, const float *q0, int kvh, int j0, int j1, float *b) {
  float s[2][256], mt[2];
  int jt, i, e, u, r;
  for (jt = j0; jt < j1; jt += 256) {
    const int n = j1 - jt < 256 ? j1 - jt : 256;
    for (r = 0; r < 2; r++) mt[r] = b[r * (2 + 8)];
    for (i = 0; i < n; i++) {
      const float *kr = g->kc + ((size_t)(jt + i) * 2 + kvh) * 8;
      for (r = 0; r < 2; r++) {
        const float *q = q0 + (size_t)r * 8;
        /* 8 partial sums, so the dot product vectorises without reassociating one sum. */
        float d[8] = {0}, dot = 0;
        for (e = 0; e + 8 <= 8; e += 8)
          for (u = 0; u < 8; u++) d[u] += q[e + u] * kr[e + u];
        for (; e < 8; e++) d[0] += q[e] * kr[e];
        for (u = 0; u < 8; u++) dot += d[u];
        s[r][i] = dot * 0.35f;
        if (s[r][i] > mt[r]) mt[r] = s[r][i];
      }
    }
    for (r = 0; r < 2; r++) {
      float *br = b + r * (2 + 8);
      const float corr = expf(br[0] - mt[r]);
      br[0] = mt[r];
      br[1] *= corr;
      for (e = 0; e < 8; e++) br[2 + e] *= corr;
      /* the tile's weights first, a row at a time: moec_exp's loop vectorises */
      for (i = 0; i < n; i++) s[r][i] = moec_exp(s[r][i] - mt[r]);
    }
    for (i = 0; i < n; i++) {
      const float *vr = g->vc + ((size_t)(jt + i) * 2 + kvh) * 8;
      for (r = 0; r < 2; r++) {
        float *br = b + r * (2 + 8);
        const float p = s[r][i];
        br[1] += p;
        for (e = 0; e < 8; e++) br[2 + e] += p * vr[e];
      }
    }
  }
}

/* Empties the blocks (m, l, acc) of n heads. */
static void k0_attention_empty(float *b, int n) {
  int r, e;
  for (r = 0; r < n; r++, b += 2 + 8) {
    b[0] = -INFINITY;
    b[1] = 0;
    for (e = 0; e < 8; e++) b[2 + e] = 0;
  }
}

/* The first key query t sees. */
static int k0_attention_first(const k0_attention_args *g, int t) {
  const int first = g->L + t + 1 - 20;
  return first > 0 ? first : 0;
}

/* Query rows (t, kv head) part of parts, one at a time (a single token's): each a whole softmax over its visible keys for the heads of the group. */
static void k0_attention_rows(const void *arg, int part, int parts) {
  const k0_attention_args *g = (const k0_attention_args *)arg;
  float b[2 * (2 + 8)];
  int r0, r1, r, i, e;
  moec_split(g->T * 2, part, parts, &r0, &r1);
  for (r = r0; r < r1; r++) {
    const int t = r / 2, kvh = r % 2;
    const size_t row = (size_t)t * 4 + (size_t)kvh * 2;
    k0_attention_empty(b, 2);
    k0_attention_keys(g, g->q + row * 8, kvh, k0_attention_first(g, t), g->L + t + 1, b);
    for (i = 0; i < 2; i++) {
      const float *bi = b + i * (2 + 8);
      float *o = g->out + (row + i) * 8;
      float l = bi[1], scale = 1;
      { /* the sink joins the denominator only */
        const float sink = g->sinks[kvh * 2 + i], top = sink > bi[0] ? sink : bi[0];
        scale = expf(bi[0] - top);
        l = l * scale + expf(sink - top);
      }
      for (e = 0; e < 8; e++) o[e] = bi[2 + e] * scale / l;
    }
  }
}

/*
 * Prefill (T > 1): blocks of 16 queries x the 2 heads of a kv head (32 rows), each
 * block against tiles of 256 keys as two small products, so every loop runs over vectors
 * with no horizontal sum: a tile's keys are transposed once per block (kt[e][i]), a row's scores
 * are then sums of its query's elements times rows of kt, and its values' weighted sum adds
 * the tile's value rows, scaled, into the row's accumulator held in registers. exp is moec_exp
 * over the whole tile row. Keys a row may not see (after L + t; before its window) are -inf
 * before the max and skipped in the sum of values, so a non-finite value it cannot see stays
 * out, as in the reference.
 */
static void k0_attention_block(const k0_attention_args *g, int t0, int kvh) {
  float kt[8 * 256], p[256], acc[32 * 8], m[32], l[32];
  const int nq = g->T - t0 < 16 ? g->T - t0 : 16, rows = nq * 2;
  const int j0 = k0_attention_first(g, t0), j1 = g->L + t0 + nq;
  int jt, r, i, e, u;
  for (r = 0; r < rows; r++) {
    m[r] = -INFINITY;
    l[r] = 0;
  }
  for (e = 0; e < rows * 8; e++) acc[e] = 0;
  for (jt = j0; jt < j1; jt += 256) {
    /* n keys, scored up to nc: a whole number of chunks */
    const int n = j1 - jt < 256 ? j1 - jt : 256, nc = (n + 64 - 1) / 64 * 64;
    for (i = 0; i < n; i++) {
      const float *kr = g->kc + ((size_t)(jt + i) * 2 + kvh) * 8;
      for (e = 0; e < 8; e++) kt[e * 256 + i] = kr[e];
    }
    for (; i < nc; i++)
      for (e = 0; e < 8; e++) kt[e * 256 + i] = 0;
    for (r = 0; r < rows; r++) {
      const int t = t0 + r / 2;
      const int lo = k0_attention_first(g, t) > jt ? k0_attention_first(g, t) - jt : 0, hi = g->L + t + 1 - jt < n ? g->L + t + 1 - jt : n;
      const float *q = g->q + ((size_t)t * 4 + (size_t)kvh * 2 + r % 2) * 8;
      float *a = acc + (size_t)r * 8;
      float mx[8], sm[8], mt, corr, sum = 0;
      if (lo >= hi) continue;
#if MOEC_SIMD
      {
        int i0;
        for (i0 = 0; i0 < nc; i0 += 64) {
          __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps(), s4 = _mm256_setzero_ps(), s5 = _mm256_setzero_ps(), s6 = _mm256_setzero_ps(), s7 = _mm256_setzero_ps();
          for (e = 0; e < 8; e++) {
            const __m256 x = _mm256_set1_ps(q[e]);
            const float *kr = kt + e * 256 + i0;
            s0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(kr + 0), s0);
            s1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(kr + 8), s1);
            s2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(kr + 16), s2);
            s3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(kr + 24), s3);
            s4 = _mm256_fmadd_ps(x, _mm256_loadu_ps(kr + 32), s4);
            s5 = _mm256_fmadd_ps(x, _mm256_loadu_ps(kr + 40), s5);
            s6 = _mm256_fmadd_ps(x, _mm256_loadu_ps(kr + 48), s6);
            s7 = _mm256_fmadd_ps(x, _mm256_loadu_ps(kr + 56), s7);
          }
          _mm256_storeu_ps(p + i0 + 0, s0);
          _mm256_storeu_ps(p + i0 + 8, s1);
          _mm256_storeu_ps(p + i0 + 16, s2);
          _mm256_storeu_ps(p + i0 + 24, s3);
          _mm256_storeu_ps(p + i0 + 32, s4);
          _mm256_storeu_ps(p + i0 + 40, s5);
          _mm256_storeu_ps(p + i0 + 48, s6);
          _mm256_storeu_ps(p + i0 + 56, s7);
        }
      }
#else
      for (i = 0; i < nc; i++) p[i] = 0;
      for (e = 0; e < 8; e++)
        for (i = 0; i < nc; i++) p[i] += q[e] * kt[e * 256 + i];
#endif
      /* lanes-wide partial maxima and sums, so both vectorise without reassociating one chain */
      for (i = 0; i < nc; i++) p[i] = i >= lo && i < hi ? p[i] * 0.35f : -INFINITY;
      for (u = 0; u < 8; u++) mx[u] = m[r];
      for (i = 0; i < nc; i += 8)
        for (u = 0; u < 8; u++) mx[u] = p[i + u] > mx[u] ? p[i + u] : mx[u];
      mt = mx[0];
      for (u = 1; u < 8; u++) mt = mx[u] > mt ? mx[u] : mt;
      for (i = 0; i < nc; i++) p[i] = moec_exp(p[i] - mt);
      for (u = 0; u < 8; u++) sm[u] = 0;
      for (i = 0; i < nc; i += 8)
        for (u = 0; u < 8; u++) sm[u] += p[i + u];
      for (u = 0; u < 8; u++) sum += sm[u];
      corr = expf(m[r] - mt);
      m[r] = mt;
      l[r] = l[r] * corr + sum;
#if MOEC_SIMD
      {
        const __m256 c = _mm256_set1_ps(corr);
        int e0;
        for (e0 = 0; e0 < 8; e0 += 8) {
          __m256 a0 = _mm256_mul_ps(c, _mm256_loadu_ps(a + e0 + 0));
          for (i = lo; i < hi; i++) {
            const __m256 x = _mm256_set1_ps(p[i]);
            const float *vr = g->vc + ((size_t)(jt + i) * 2 + kvh) * 8 + e0;
            a0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(vr + 0), a0);
          }
          _mm256_storeu_ps(a + e0 + 0, a0);
        }
      }
#else
      for (e = 0; e < 8; e++) a[e] *= corr;
      for (i = lo; i < hi; i++) {
        const float *vr = g->vc + ((size_t)(jt + i) * 2 + kvh) * 8;
        for (e = 0; e < 8; e++) a[e] += p[i] * vr[e];
      }
#endif
    }
  }
  for (r = 0; r < rows; r++) {
    const int t = t0 + r / 2;
    const size_t row = (size_t)t * 4 + (size_t)kvh * 2 + r % 2;
    float *o = g->out + row * 8;
    float lr = l[r], scale = 1;
    { /* the sink joins the denominator only */
      const float sink = g->sinks[kvh * 2 + r % 2], top = sink > m[r] ? sink : m[r];
      scale = expf(m[r] - top);
      lr = lr * scale + expf(sink - top);
    }
    for (e = 0; e < 8; e++) o[e] = acc[(size_t)r * 8 + e] * scale / lr;
  }
}

/*
 * The blocks (query block, kv head) part, part + parts, ... of every block: dealt in turn, not
 * in ranges, since a causal block's keys grow with its position (ranges would give the last
 * thread most of the work). A block's result does not depend on which thread runs it.
 */
static void k0_attention_blocks(const void *arg, int part, int parts) {
  const k0_attention_args *g = (const k0_attention_args *)arg;
  const int blocks = (g->T + 16 - 1) / 16 * 2;
  int b;
  for (b = part; b < blocks; b += parts) k0_attention_block(g, b / 2 * 16, b % 2);
}

/*
 * Decode (T = 1): the key ranges k = thread, thread + threads, ... of the g->parts ranges,
 * for every head, into their partials. The ranges do not depend on the thread count, so
 * neither do the results.
 */
static void k0_attention_split(const void *arg, int thread, int threads) {
  const k0_attention_args *g = (const k0_attention_args *)arg;
  const int first = k0_attention_first(g, 0);
  int k, j0, j1, kvh;
  for (k = thread; k < g->parts; k += threads) {
    moec_split(g->L + 1 - first, k, g->parts, &j0, &j1);
    for (kvh = 0; kvh < 2; kvh++) {
      float *b = g->partial + ((size_t)k * 4 + (size_t)kvh * 2) * (2 + 8);
      k0_attention_empty(b, 2);
      k0_attention_keys(g, g->q + (size_t)kvh * 2 * 8, kvh, first + j0, first + j1, b);
    }
  }
}

static void k0_attention(k0_attention_args *g, int threads) {
  const size_t kn = (size_t)g->T * 2 * 8, vn = (size_t)g->T * 2 * 8;
  /* the keys one decode part scores: at least a tile, so a part is worth a thread */
  const int keys = g->L + 1 - k0_attention_first(g, 0);
  int parts = (keys + 256 - 1) / 256, h, p, e;
  memcpy(g->kc + (size_t)g->L * 2 * 8, g->k, kn * sizeof(float));
  memcpy(g->vc + (size_t)g->L * 2 * 8, g->v, vn * sizeof(float));
  /* parts: at most 2, each at least a tile of keys; never the thread count, which changes no result */
  if (parts > 2) parts = 2;
  if (g->T > 1 || parts < 2) {
    if (g->T > 1) {
      const int blocks = (g->T + 16 - 1) / 16 * 2;
      moec_parallel(k0_attention_blocks, g, blocks < threads ? blocks : threads);
    } else
      moec_parallel(k0_attention_rows, g, 2 < threads ? 2 : threads);
    return;
  }
  {
    /* at most 2 x 4 x (2 + 8) floats: the tiler keeps this within the stack block */
    float partial[2 * 4 * (2 + 8)];
    g->parts = parts;
    g->partial = partial;
    moec_parallel(k0_attention_split, g, parts < threads ? parts : threads);
    for (h = 0; h < 4; h++) {
      float top = g->sinks[h], l = 0;
      float *o = g->out + (size_t)h * 8;
      for (p = 0; p < parts; p++) {
        const float m = partial[((size_t)p * 4 + h) * (2 + 8)];
        if (m > top) top = m;
      }
      l = expf(g->sinks[h] - top);
      for (e = 0; e < 8; e++) o[e] = 0;
      for (p = 0; p < parts; p++) {
        const float *pp = partial + ((size_t)p * 4 + h) * (2 + 8);
        const float c = expf(pp[0] - top);
        l += pp[1] * c;
        for (e = 0; e < 8; e++) o[e] += pp[2 + e] * c;
      }
      for (e = 0; e < 8; e++) o[e] /= l;
    }
  }
}






/* k1_add: elementwise add of two same-shaped buffers. */
typedef struct {
  const float *x, *y;
  float *out;
  size_t n;
} k1_add_args;

static void k1_add_work(const void *arg, int part, int parts) {
  const k1_add_args *g = (const k1_add_args *)arg;
  int lo, hi, i;
  moec_split((int)g->n, part, parts, &lo, &hi);
  for (i = lo; i < hi; i++) g->out[i] = g->x[i] + g->y[i];
}






/*
 * k2_attention: attention, 4 heads over 2 kv heads of 8, key tile 256, decode split 2, prefill blocks of 16 queries.
 * Query t (position L + t) of head h sees the keys j = 0 ..= L + t of kv head
 * h / 2; the new keys and values are first appended to the cache at L ..= L + T - 1.
 * Online softmax over tiles of 256 keys: each query row keeps a running max m, sum l
 * and unnormalised accumulator acc[8], rescaled by exp(m_old - m_new) whenever a tile
 * raises the max, so its scratch is one tile of scores and the accumulator: O(tile), not
 * O(L). The 2 heads of a kv head go together, so each key and value row is read once
 * for all of them. A prefill (T > 1) goes in blocks of 16 queries (the _block function
 * below), dealt to threads in turn; a single token (T = 1) goes by kv heads, or splits its keys
 * over up to 2 ranges, each a partial softmax for every head, merged by maxima and sums.
 */
typedef struct {
  const float *q, *k, *v;
  float *kc, *vc;
  float *out;
  int T, L;
  /* The decode split: parts, and their partials (parts x 4 x (2 + 8): m, l, acc). */
  int parts;
  float *partial;
} k2_attention_args;

/*
 * Folds keys j0 .. j1-1 of kv head kvh into the 2 query rows q0, q0 + 8, ... of the
 * heads that read it, each with its block (m, l, acc[8]) in b at a stride of 2 + 8: a key
 * and a value row are read once for every head of the group.
 */
static void k2_attention_keys(const k2_attention_args *g, const float *q0, int kvh, int j0, int j1, float *b) {
  float s[2][256], mt[2];
  int jt, i, e, u, r;
  for (jt = j0; jt < j1; jt += 256) {
    const int n = j1 - jt < 256 ? j1 - jt : 256;
    for (r = 0; r < 2; r++) mt[r] = b[r * (2 + 8)];
    for (i = 0; i < n; i++) {
      const float *kr = g->kc + ((size_t)(jt + i) * 2 + kvh) * 8;
      for (r = 0; r < 2; r++) {
        const float *q = q0 + (size_t)r * 8;
        /* 8 partial sums, so the dot product vectorises without reassociating one sum. */
        float d[8] = {0}, dot = 0;
        for (e = 0; e + 8 <= 8; e += 8)
          for (u = 0; u < 8; u++) d[u] += q[e + u] * kr[e + u];
        for (; e < 8; e++) d[0] += q[e] * kr[e];
        for (u = 0; u < 8; u++) dot += d[u];
        s[r][i] = dot * 0.35f;
        if (s[r][i] > mt[r]) mt[r] = s[r][i];
      }
    }
    for (r = 0; r < 2; r++) {
      float *br = b + r * (2 + 8);
      const float corr = expf(br[0] - mt[r]);
      br[0] = mt[r];
      br[1] *= corr;
      for (e = 0; e < 8; e++) br[2 + e] *= corr;
      /* the tile's weights first, a row at a time: moec_exp's loop vectorises */
      for (i = 0; i < n; i++) s[r][i] = moec_exp(s[r][i] - mt[r]);
    }
    for (i = 0; i < n; i++) {
      const float *vr = g->vc + ((size_t)(jt + i) * 2 + kvh) * 8;
      for (r = 0; r < 2; r++) {
        float *br = b + r * (2 + 8);
        const float p = s[r][i];
        br[1] += p;
        for (e = 0; e < 8; e++) br[2 + e] += p * vr[e];
      }
    }
  }
}

/* Empties the blocks (m, l, acc) of n heads. */
static void k2_attention_empty(float *b, int n) {
  int r, e;
  for (r = 0; r < n; r++, b += 2 + 8) {
    b[0] = -INFINITY;
    b[1] = 0;
    for (e = 0; e < 8; e++) b[2 + e] = 0;
  }
}

/* The first key query t sees. */
static int k2_attention_first(const k2_attention_args *g, int t) {
  (void)g;
  (void)t;
  return 0;
}

/* Query rows (t, kv head) part of parts, one at a time (a single token's): each a whole softmax over its visible keys for the heads of the group. */
static void k2_attention_rows(const void *arg, int part, int parts) {
  const k2_attention_args *g = (const k2_attention_args *)arg;
  float b[2 * (2 + 8)];
  int r0, r1, r, i, e;
  moec_split(g->T * 2, part, parts, &r0, &r1);
  for (r = r0; r < r1; r++) {
    const int t = r / 2, kvh = r % 2;
    const size_t row = (size_t)t * 4 + (size_t)kvh * 2;
    k2_attention_empty(b, 2);
    k2_attention_keys(g, g->q + row * 8, kvh, k2_attention_first(g, t), g->L + t + 1, b);
    for (i = 0; i < 2; i++) {
      const float *bi = b + i * (2 + 8);
      float *o = g->out + (row + i) * 8;
      float l = bi[1], scale = 1;
      for (e = 0; e < 8; e++) o[e] = bi[2 + e] * scale / l;
    }
  }
}

/*
 * Prefill (T > 1): blocks of 16 queries x the 2 heads of a kv head (32 rows), each
 * block against tiles of 256 keys as two small products, so every loop runs over vectors
 * with no horizontal sum: a tile's keys are transposed once per block (kt[e][i]), a row's scores
 * are then sums of its query's elements times rows of kt, and its values' weighted sum adds
 * the tile's value rows, scaled, into the row's accumulator held in registers. exp is moec_exp
 * over the whole tile row. Keys a row may not see (after L + t; before its window) are -inf
 * before the max and skipped in the sum of values, so a non-finite value it cannot see stays
 * out, as in the reference.
 */
static void k2_attention_block(const k2_attention_args *g, int t0, int kvh) {
  float kt[8 * 256], p[256], acc[32 * 8], m[32], l[32];
  const int nq = g->T - t0 < 16 ? g->T - t0 : 16, rows = nq * 2;
  const int j0 = k2_attention_first(g, t0), j1 = g->L + t0 + nq;
  int jt, r, i, e, u;
  for (r = 0; r < rows; r++) {
    m[r] = -INFINITY;
    l[r] = 0;
  }
  for (e = 0; e < rows * 8; e++) acc[e] = 0;
  for (jt = j0; jt < j1; jt += 256) {
    /* n keys, scored up to nc: a whole number of chunks */
    const int n = j1 - jt < 256 ? j1 - jt : 256, nc = (n + 64 - 1) / 64 * 64;
    for (i = 0; i < n; i++) {
      const float *kr = g->kc + ((size_t)(jt + i) * 2 + kvh) * 8;
      for (e = 0; e < 8; e++) kt[e * 256 + i] = kr[e];
    }
    for (; i < nc; i++)
      for (e = 0; e < 8; e++) kt[e * 256 + i] = 0;
    for (r = 0; r < rows; r++) {
      const int t = t0 + r / 2;
      const int lo = k2_attention_first(g, t) > jt ? k2_attention_first(g, t) - jt : 0, hi = g->L + t + 1 - jt < n ? g->L + t + 1 - jt : n;
      const float *q = g->q + ((size_t)t * 4 + (size_t)kvh * 2 + r % 2) * 8;
      float *a = acc + (size_t)r * 8;
      float mx[8], sm[8], mt, corr, sum = 0;
      if (lo >= hi) continue;
#if MOEC_SIMD
      {
        int i0;
        for (i0 = 0; i0 < nc; i0 += 64) {
          __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps(), s4 = _mm256_setzero_ps(), s5 = _mm256_setzero_ps(), s6 = _mm256_setzero_ps(), s7 = _mm256_setzero_ps();
          for (e = 0; e < 8; e++) {
            const __m256 x = _mm256_set1_ps(q[e]);
            const float *kr = kt + e * 256 + i0;
            s0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(kr + 0), s0);
            s1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(kr + 8), s1);
            s2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(kr + 16), s2);
            s3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(kr + 24), s3);
            s4 = _mm256_fmadd_ps(x, _mm256_loadu_ps(kr + 32), s4);
            s5 = _mm256_fmadd_ps(x, _mm256_loadu_ps(kr + 40), s5);
            s6 = _mm256_fmadd_ps(x, _mm256_loadu_ps(kr + 48), s6);
            s7 = _mm256_fmadd_ps(x, _mm256_loadu_ps(kr + 56), s7);
          }
          _mm256_storeu_ps(p + i0 + 0, s0);
          _mm256_storeu_ps(p + i0 + 8, s1);
          _mm256_storeu_ps(p + i0 + 16, s2);
          _mm256_storeu_ps(p + i0 + 24, s3);
          _mm256_storeu_ps(p + i0 + 32, s4);
          _mm256_storeu_ps(p + i0 + 40, s5);
          _mm256_storeu_ps(p + i0 + 48, s6);
          _mm256_storeu_ps(p + i0 + 56, s7);
        }
      }
#else
      for (i = 0; i < nc; i++) p[i] = 0;
      for (e = 0; e < 8; e++)
        for (i = 0; i < nc; i++) p[i] += q[e] * kt[e * 256 + i];
#endif
      /* lanes-wide partial maxima and sums, so both vectorise without reassociating one chain */
      for (i = 0; i < nc; i++) p[i] = i >= lo && i < hi ? p[i] * 0.35f : -INFINITY;
      for (u = 0; u < 8; u++) mx[u] = m[r];
      for (i = 0; i < nc; i += 8)
        for (u = 0; u < 8; u++) mx[u] = p[i + u] > mx[u] ? p[i + u] : mx[u];
      mt = mx[0];
      for (u = 1; u < 8; u++) mt = mx[u] > mt ? mx[u] : mt;
      for (i = 0; i < nc; i++) p[i] = moec_exp(p[i] - mt);
      for (u = 0; u < 8; u++) sm[u] = 0;
      for (i = 0; i < nc; i += 8)
        for (u = 0; u < 8; u++) sm[u] += p[i + u];
      for (u = 0; u < 8; u++) sum += sm[u];
      corr = expf(m[r] - mt);
      m[r] = mt;
      l[r] = l[r] * corr + sum;
#if MOEC_SIMD
      {
        const __m256 c = _mm256_set1_ps(corr);
        int e0;
        for (e0 = 0; e0 < 8; e0 += 8) {
          __m256 a0 = _mm256_mul_ps(c, _mm256_loadu_ps(a + e0 + 0));
          for (i = lo; i < hi; i++) {
            const __m256 x = _mm256_set1_ps(p[i]);
            const float *vr = g->vc + ((size_t)(jt + i) * 2 + kvh) * 8 + e0;
            a0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(vr + 0), a0);
          }
          _mm256_storeu_ps(a + e0 + 0, a0);
        }
      }
#else
      for (e = 0; e < 8; e++) a[e] *= corr;
      for (i = lo; i < hi; i++) {
        const float *vr = g->vc + ((size_t)(jt + i) * 2 + kvh) * 8;
        for (e = 0; e < 8; e++) a[e] += p[i] * vr[e];
      }
#endif
    }
  }
  for (r = 0; r < rows; r++) {
    const int t = t0 + r / 2;
    const size_t row = (size_t)t * 4 + (size_t)kvh * 2 + r % 2;
    float *o = g->out + row * 8;
    float lr = l[r], scale = 1;
    for (e = 0; e < 8; e++) o[e] = acc[(size_t)r * 8 + e] * scale / lr;
  }
}

/*
 * The blocks (query block, kv head) part, part + parts, ... of every block: dealt in turn, not
 * in ranges, since a causal block's keys grow with its position (ranges would give the last
 * thread most of the work). A block's result does not depend on which thread runs it.
 */
static void k2_attention_blocks(const void *arg, int part, int parts) {
  const k2_attention_args *g = (const k2_attention_args *)arg;
  const int blocks = (g->T + 16 - 1) / 16 * 2;
  int b;
  for (b = part; b < blocks; b += parts) k2_attention_block(g, b / 2 * 16, b % 2);
}

/*
 * Decode (T = 1): the key ranges k = thread, thread + threads, ... of the g->parts ranges,
 * for every head, into their partials. The ranges do not depend on the thread count, so
 * neither do the results.
 */
static void k2_attention_split(const void *arg, int thread, int threads) {
  const k2_attention_args *g = (const k2_attention_args *)arg;
  const int first = k2_attention_first(g, 0);
  int k, j0, j1, kvh;
  for (k = thread; k < g->parts; k += threads) {
    moec_split(g->L + 1 - first, k, g->parts, &j0, &j1);
    for (kvh = 0; kvh < 2; kvh++) {
      float *b = g->partial + ((size_t)k * 4 + (size_t)kvh * 2) * (2 + 8);
      k2_attention_empty(b, 2);
      k2_attention_keys(g, g->q + (size_t)kvh * 2 * 8, kvh, first + j0, first + j1, b);
    }
  }
}

static void k2_attention(k2_attention_args *g, int threads) {
  const size_t kn = (size_t)g->T * 2 * 8, vn = (size_t)g->T * 2 * 8;
  /* the keys one decode part scores: at least a tile, so a part is worth a thread */
  const int keys = g->L + 1 - k2_attention_first(g, 0);
  int parts = (keys + 256 - 1) / 256, h, p, e;
  memcpy(g->kc + (size_t)g->L * 2 * 8, g->k, kn * sizeof(float));
  memcpy(g->vc + (size_t)g->L * 2 * 8, g->v, vn * sizeof(float));
  /* parts: at most 2, each at least a tile of keys; never the thread count, which changes no result */
  if (parts > 2) parts = 2;
  if (g->T > 1 || parts < 2) {
    if (g->T > 1) {
      const int blocks = (g->T + 16 - 1) / 16 * 2;
      moec_parallel(k2_attention_blocks, g, blocks < threads ? blocks : threads);
    } else
      moec_parallel(k2_attention_rows, g, 2 < threads ? 2 : threads);
    return;
  }
  {
    /* at most 2 x 4 x (2 + 8) floats: the tiler keeps this within the stack block */
    float partial[2 * 4 * (2 + 8)];
    g->parts = parts;
    g->partial = partial;
    moec_parallel(k2_attention_split, g, parts < threads ? parts : threads);
    for (h = 0; h < 4; h++) {
      float top = -INFINITY, l = 0;
      float *o = g->out + (size_t)h * 8;
      for (p = 0; p < parts; p++) {
        const float m = partial[((size_t)p * 4 + h) * (2 + 8)];
        if (m > top) top = m;
      }
      for (e = 0; e < 8; e++) o[e] = 0;
      for (p = 0; p < parts; p++) {
        const float *pp = partial + ((size_t)p * 4 + h) * (2 + 8);
        const float c = expf(pp[0] - top);
        l += pp[1] * c;
        for (e = 0; e < 8; e++) o[e] += pp[2 + e] * c;
      }
      for (e = 0; e < 8; e++) o[e] /= l;
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


/* ---- entry points --------------------------------------------------------------------- */

size_t m_arena_bytes(int max_tokens) {
  const size_t T = (size_t)max_tokens;
  size_t end = 0;
  if (max_tokens < 1 || max_tokens > M_MAX_TOKENS) return 0;
  if (((size_t)256 * (size_t)(T)) + ((size_t)(T)) * (size_t)4 * (size_t)8 * 4 > end) end = ((size_t)256 * (size_t)(T)) + ((size_t)(T)) * (size_t)4 * (size_t)8 * 4;
  if ((size_t)0 + ((size_t)(T)) * (size_t)4 * (size_t)8 * 4 > end) end = (size_t)0 + ((size_t)(T)) * (size_t)4 * (size_t)8 * 4;
  if (((size_t)384 * (size_t)(T)) + ((size_t)(T)) * (size_t)4 * (size_t)8 * 4 > end) end = ((size_t)384 * (size_t)(T)) + ((size_t)(T)) * (size_t)4 * (size_t)8 * 4;
  if ((size_t)0 + ((size_t)(T)) * (size_t)4 * (size_t)8 * 4 > end) end = (size_t)0 + ((size_t)(T)) * (size_t)4 * (size_t)8 * 4;
  (void)T;
  return (end + M_ALIGN - 1) / M_ALIGN * M_ALIGN;
}

size_t m_cache_bytes(int max_context) {
  size_t at = 0;
  if (max_context < 1 || max_context > M_MAX_CONTEXT) return 0;
  at += ((size_t)2 * ((size_t)(max_context)) * (size_t)2 * (size_t)8 * 4 + M_ALIGN - 1) / M_ALIGN * M_ALIGN; /* layers.a.k_cache */
  at += ((size_t)2 * ((size_t)(max_context)) * (size_t)2 * (size_t)8 * 4 + M_ALIGN - 1) / M_ALIGN * M_ALIGN; /* layers.a.v_cache */
  at += ((size_t)2 * ((size_t)(max_context)) * (size_t)2 * (size_t)8 * 4 + M_ALIGN - 1) / M_ALIGN * M_ALIGN; /* layers.b.k_cache */
  at += ((size_t)2 * ((size_t)(max_context)) * (size_t)2 * (size_t)8 * 4 + M_ALIGN - 1) / M_ALIGN * M_ALIGN; /* layers.b.v_cache */
  return at;
}

void m_reset(void *cache, int max_context) {
  if (cache) memset(cache, 0, m_cache_bytes(max_context));
}

int m_forward(const void *weights, const float *x, const float *k, const float *v, int T, int L, float *y, void *arena, void *cache, int max_context, int threads) {
  const unsigned char *W = (const unsigned char *)weights;
  unsigned char *A = (unsigned char *)arena;
  /* The thread helpers, referenced: a model whose kernels all run on one thread (an embedding
     alone) still builds under -Wall -Werror. */
  (void)moec_parallel;
  (void)moec_split;
  unsigned char *C = (unsigned char *)cache;
  size_t cache_at = 0;
  float *b3_layers_a_k_cache = (float *)(C + cache_at); /* layers.a.k_cache */
  cache_at += ((size_t)2 * ((size_t)(max_context)) * (size_t)2 * (size_t)8 * 4 + M_ALIGN - 1) / M_ALIGN * M_ALIGN;
  float *b4_layers_a_v_cache = (float *)(C + cache_at); /* layers.a.v_cache */
  cache_at += ((size_t)2 * ((size_t)(max_context)) * (size_t)2 * (size_t)8 * 4 + M_ALIGN - 1) / M_ALIGN * M_ALIGN;
  float *b5_layers_b_k_cache = (float *)(C + cache_at); /* layers.b.k_cache */
  cache_at += ((size_t)2 * ((size_t)(max_context)) * (size_t)2 * (size_t)8 * 4 + M_ALIGN - 1) / M_ALIGN * M_ALIGN;
  float *b6_layers_b_v_cache = (float *)(C + cache_at); /* layers.b.v_cache */
  cache_at += ((size_t)2 * ((size_t)(max_context)) * (size_t)2 * (size_t)8 * 4 + M_ALIGN - 1) / M_ALIGN * M_ALIGN;
  const float *b0_x = x;
  const float *b1_k = k;
  const float *b2_v = v;
  const float *b7_layers_a_sinks = (const float *)(W + 0);
  float *b8_layers_x = (float *)(A + ((size_t)256 * (size_t)(T)));
  float *b14_layers_0 = (float *)(A + (size_t)0);
  float *b15_layers_layers_a_r0 = (float *)(A + ((size_t)384 * (size_t)(T)));
  float *b16_layers_1 = (float *)(A + (size_t)0);
  float *b17_layers_layers_b_r0 = y;
  if (!weights || !arena || !cache || !x || !k || !v || !y) return M_ERR_NULL;
  if (T < 1 || T > M_MAX_TOKENS) return M_ERR_TOKENS;
  if ((uintptr_t)weights % M_ALIGN != 0 || (uintptr_t)arena % M_ALIGN != 0 || (uintptr_t)cache % M_ALIGN != 0) return M_ERR_ALIGN;
  if (threads < 1) return M_ERR_THREADS;
  if (max_context < 1 || max_context > M_MAX_CONTEXT || L < 0 || L > max_context - T) return M_ERR_CONTEXT;
  (void)W;
  (void)A;
  memmove(b8_layers_x, b0_x, ((size_t)(T)) * (size_t)4 * (size_t)8 * 4);
  for (int i0 = 0; i0 < 2; i0++) { /* 2 iterations (a repeat) */
    float *b9_layers_layers_a_k_cache = b3_layers_a_k_cache + (size_t)i0 * ((size_t)(max_context)) * (size_t)2 * (size_t)8;
    float *b10_layers_layers_a_v_cache = b4_layers_a_v_cache + (size_t)i0 * ((size_t)(max_context)) * (size_t)2 * (size_t)8;
    const float *b11_layers_layers_a_sinks = b7_layers_a_sinks + (size_t)i0 * (size_t)4;
    float *b12_layers_layers_b_k_cache = b5_layers_b_k_cache + (size_t)i0 * ((size_t)(max_context)) * (size_t)2 * (size_t)8;
    float *b13_layers_layers_b_v_cache = b6_layers_b_v_cache + (size_t)i0 * ((size_t)(max_context)) * (size_t)2 * (size_t)8;
    { /* attention, 4 heads over 2 kv heads of 8, window 20, sinks, key tile 256, decode split 2, prefill blocks of 16 queries */
      k0_attention_args g;
      g.q = b8_layers_x;
      g.k = b1_k;
      g.v = b2_v;
      g.kc = b9_layers_layers_a_k_cache;
      g.vc = b10_layers_layers_a_v_cache;
      g.sinks = b11_layers_layers_a_sinks;
      g.out = b14_layers_0;
      g.T = T;
      g.L = L;
      MOEC_PROFILE_START
      k0_attention(&g, threads);
      MOEC_PROFILE_STOP(0)
    }
    { /* elementwise add */
      k1_add_args g;
      g.x = b8_layers_x;
      g.y = b14_layers_0;
      g.out = b15_layers_layers_a_r0;
      g.n = ((size_t)(T)) * (size_t)4 * (size_t)8;
      MOEC_PROFILE_START
      moec_parallel(k1_add_work, &g, (int)((((size_t)(T)) * (size_t)4 * (size_t)8 + 16383) / 16384 < (size_t)threads ? (((size_t)(T)) * (size_t)4 * (size_t)8 + 16383) / 16384 : (size_t)threads));
      MOEC_PROFILE_STOP(1)
    }
    { /* attention, 4 heads over 2 kv heads of 8, key tile 256, decode split 2, prefill blocks of 16 queries */
      k2_attention_args g;
      g.q = b15_layers_layers_a_r0;
      g.k = b1_k;
      g.v = b2_v;
      g.kc = b12_layers_layers_b_k_cache;
      g.vc = b13_layers_layers_b_v_cache;
      g.out = b16_layers_1;
      g.T = T;
      g.L = L;
      MOEC_PROFILE_START
      k2_attention(&g, threads);
      MOEC_PROFILE_STOP(2)
    }
    { /* elementwise add */
      k3_add_args g;
      g.x = b15_layers_layers_a_r0;
      g.y = b16_layers_1;
      g.out = b17_layers_layers_b_r0;
      g.n = ((size_t)(T)) * (size_t)4 * (size_t)8;
      MOEC_PROFILE_START
      moec_parallel(k3_add_work, &g, (int)((((size_t)(T)) * (size_t)4 * (size_t)8 + 16383) / 16384 < (size_t)threads ? (((size_t)(T)) * (size_t)4 * (size_t)8 + 16383) / 16384 : (size_t)threads));
      MOEC_PROFILE_STOP(3)
    }
    memmove(b8_layers_x, b17_layers_layers_b_r0, ((size_t)(T)) * (size_t)4 * (size_t)8 * 4);
  }
  return M_OK;
}
