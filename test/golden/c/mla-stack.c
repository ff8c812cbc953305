/*
 * m.c: the m MoE layer, compiled by moec 0.1.0 for x86-avx2 (2-core x86-64 with AVX2 + FMA (256-bit vectors), 32 KiB L1d and 512 KiB L2 per core, shared L3).
 * Generated code: edit the .moe file and recompile instead. The API is in m.h.
 *
 * Kernels, in order (fused by moec; tiles chosen for x86-avx2):
 *   k0_mla_attention: latent attention (absorbed or naive, the cheaper for each call's T and L), 4 heads in blocks of 4, latent 16 + rope 4, nope 8, values 8, key tile 128, decode split 2
 *   k1_add: elementwise add
 * Arena: 6144 bytes at 16 tokens (every intermediate at a planned offset).
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
 * k0_mla_attention: latent attention (absorbed or naive, the cheaper for each call's T and L), 4 heads in blocks of 4, latent 16 + rope 4, nope 8, values 8, key tile 128, decode split 2.
 * DeepSeek's absorbed form: with wkv_b as [4][8 + 8][16] (W_UK, then W_UV), each query row
 * is first mapped into the latent space, q_abs = q_nope W_UK (8 -> 16); key j scores
 * (q_abs . c_j + q_pe . r_j) * scale against its cached latent c_j and rope key r_j, the
 * softmax-weighted latents are summed (an online softmax over tiles of 128 keys: O(tile)
 * scratch, not O(L)) and mapped out through W_UV (16 -> 8). No key is ever expanded.
 * The new latents and rope keys are first appended to the cache at L ..= L + T - 1. Heads go
 * in blocks of 4, each key read once per block; rows (t, block) are split over
 * threads; a single token (T = 1) instead splits its keys over up to 2 ranges, each
 * a partial softmax for every head, merged by maxima and sums.
 */
typedef struct {
  const float *q_nope, *q_pe, *kv, *k_pe, *w;
  float *kvc, *pec;
  float *out;
  int T, L;
  /* The decode split: parts, the heads' latent queries and the partials (parts x 4 x (2 + 16)). */
  int parts;
  const float *q_abs;
  float *partial;
} k0_mla_attention_args;

/* q_abs = q_nope W_UK of head h. */
static void k0_mla_attention_absorb(const k0_mla_attention_args *g, const float *q_nope, int h, float *q_abs) {
  int d, i;
  for (i = 0; i < 16; i++) q_abs[i] = 0;
  for (d = 0; d < 8; d++) {
    const float *wr = g->w + ((size_t)h * 16 + d) * 16;
    const float x = q_nope[d];
    for (i = 0; i < 16; i++) q_abs[i] += x * wr[i];
  }
}

/*
 * Folds keys j0 .. j1-1 into the 4 heads whose latent queries are q_abs (at a stride of
 * 16) and rope queries q_pe (at 4), each with its block (m, l, acc[16]) in b at a stride
 * of 2 + 16: a latent and a rope key are read once for the whole block of heads.
 */
static void k0_mla_attention_keys(const k0_mla_attention_args *g, const float *q_abs, const float *q_pe, int j0, int j1, float *b) {
  float s[4][128], mt[4];
  int jt, i, e, u, r;
  for (jt = j0; jt < j1; jt += 128) {
    const int n = j1 - jt < 128 ? j1 - jt : 128;
    for (r = 0; r < 4; r++) mt[r] = b[r * (2 + 16)];
    for (i = 0; i < n; i++) {
      const float *cr = g->kvc + (size_t)(jt + i) * 16;
      const float *rr = g->pec + (size_t)(jt + i) * 4;
      for (r = 0; r < 4; r++) {
        const float *qa = q_abs + (size_t)r * 16, *qp = q_pe + (size_t)r * 4;
        /* 8 partial sums, so the dot product vectorises without reassociating one sum. */
        float d[8] = {0}, dot = 0;
        for (e = 0; e + 8 <= 16; e += 8)
          for (u = 0; u < 8; u++) d[u] += qa[e + u] * cr[e + u];
        for (; e < 16; e++) d[0] += qa[e] * cr[e];
        for (e = 0; e < 4; e++) d[0] += qp[e] * rr[e];
        for (u = 0; u < 8; u++) dot += d[u];
        s[r][i] = dot * 0.3f;
        if (s[r][i] > mt[r]) mt[r] = s[r][i];
      }
    }
    for (r = 0; r < 4; r++) {
      float *br = b + r * (2 + 16);
      const float corr = expf(br[0] - mt[r]);
      br[0] = mt[r];
      br[1] *= corr;
      for (e = 0; e < 16; e++) br[2 + e] *= corr;
      /* the tile's weights first, a row at a time: moec_exp's loop vectorises */
      for (i = 0; i < n; i++) s[r][i] = moec_exp(s[r][i] - mt[r]);
    }
    for (i = 0; i < n; i++) {
      const float *cr = g->kvc + (size_t)(jt + i) * 16;
      for (r = 0; r < 4; r++) {
        float *br = b + r * (2 + 16);
        const float p = s[r][i];
        br[1] += p;
        for (e = 0; e < 16; e++) br[2 + e] += p * cr[e];
      }
    }
  }
}

/* Empties the blocks (m, l, acc) of n heads. */
static void k0_mla_attention_empty(float *b, int n) {
  int r, e;
  for (r = 0; r < n; r++, b += 2 + 16) {
    b[0] = -INFINITY;
    b[1] = 0;
    for (e = 0; e < 16; e++) b[2 + e] = 0;
  }
}

/* out[d] = (acc W_UV of head h)[d] / l. */
static void k0_mla_attention_expand(const k0_mla_attention_args *g, int h, const float *acc, float l, float *o) {
  int d, i;
  for (d = 0; d < 8; d++) {
    const float *wr = g->w + ((size_t)h * 16 + 8 + d) * 16;
    float x = 0;
    for (i = 0; i < 16; i++) x += acc[i] * wr[i];
    o[d] = x / l;
  }
}

/* Rows (t, block of 4 heads) part of parts: each a whole softmax over keys 0 ..= L + t. */
static void k0_mla_attention_rows(const void *arg, int part, int parts) {
  const k0_mla_attention_args *g = (const k0_mla_attention_args *)arg;
  float q_abs[4 * 16], b[4 * (2 + 16)];
  int r0, r1, r, i;
  moec_split(g->T * 1, part, parts, &r0, &r1);
  for (r = r0; r < r1; r++) {
    const int t = r / 1, h0 = (r % 1) * 4;
    const size_t row = (size_t)t * 4 + (size_t)h0;
    for (i = 0; i < 4; i++) k0_mla_attention_absorb(g, g->q_nope + (row + i) * 8, h0 + i, q_abs + (size_t)i * 16);
    k0_mla_attention_empty(b, 4);
    k0_mla_attention_keys(g, q_abs, g->q_pe + row * 4, 0, g->L + t + 1, b);
    for (i = 0; i < 4; i++) k0_mla_attention_expand(g, h0 + i, b + i * (2 + 16) + 2, b[i * (2 + 16) + 1], g->out + (row + i) * 8);
  }
}

/*
 * Decode (T = 1): the key ranges k = thread, thread + threads, ... of the g->parts ranges,
 * for every head, into their partials. The ranges do not depend on the thread count, so
 * neither do the results.
 */
static void k0_mla_attention_split(const void *arg, int thread, int threads) {
  const k0_mla_attention_args *g = (const k0_mla_attention_args *)arg;
  int k, j0, j1, h0;
  for (k = thread; k < g->parts; k += threads) {
    moec_split(g->L + 1, k, g->parts, &j0, &j1);
    for (h0 = 0; h0 < 4; h0 += 4) {
      float *b = g->partial + ((size_t)k * 4 + h0) * (2 + 16);
      k0_mla_attention_empty(b, 4);
      k0_mla_attention_keys(g, g->q_abs + (size_t)h0 * 16, g->q_pe + (size_t)h0 * 4, j0, j1, b);
    }
  }
}


/* The sum of n products a[i] b[i] in 8 partial sums (so it vectorises without reassociating one sum). */
static float k0_mla_attention_dot(const float *a, const float *b, int n) {
  float d[8] = {0}, dot = 0;
  int e, u;
  for (e = 0; e + 8 <= n; e += 8)
    for (u = 0; u < 8; u++) d[u] += a[e + u] * b[e + u];
  for (; e < n; e++) d[0] += a[e] * b[e];
  for (u = 0; u < 8; u++) dot += d[u];
  return dot;
}

/*
 * The naive form (DeepSeek's attn_impl = "naive", prefill's), heads part of parts: for each
 * head, a tile of 128 keys at a time is expanded once, k_nope_j = W_UK c_j (8) and
 * v_j = W_UV c_j (8), and every query row of the head that sees a key of the tile folds the
 * tile into its online softmax: the accumulators are the output rows themselves and a (max, sum)
 * pair per token (16 pairs at most) is on the stack. Each latent is expanded once per
 * head per call, whatever T.
 */
static void k0_mla_attention_naive(const void *arg, int part, int parts) {
  const k0_mla_attention_args *g = (const k0_mla_attention_args *)arg;
  float kn[128 * 8], vv[128 * 8], s[128], ml[2 * 16];
  const int keys = g->L + g->T;
  int h0, h1, h, jt, i, d, t;
  moec_split(4, part, parts, &h0, &h1);
  for (h = h0; h < h1; h++) {
    const float *wk = g->w + (size_t)h * 16 * 16, *wv = wk + (size_t)8 * 16;
    for (t = 0; t < g->T; t++) {
      float *o = g->out + ((size_t)t * 4 + h) * 8;
      ml[2 * t] = -INFINITY;
      ml[2 * t + 1] = 0;
      for (d = 0; d < 8; d++) o[d] = 0;
    }
    for (jt = 0; jt < keys; jt += 128) {
      const int n = keys - jt < 128 ? keys - jt : 128;
      for (i = 0; i < n; i++) {
        const float *cr = g->kvc + (size_t)(jt + i) * 16;
        for (d = 0; d < 8; d++) kn[i * 8 + d] = k0_mla_attention_dot(wk + (size_t)d * 16, cr, 16);
        for (d = 0; d < 8; d++) vv[i * 8 + d] = k0_mla_attention_dot(wv + (size_t)d * 16, cr, 16);
      }
      /* token t (position L + t) sees keys 0 ..= L + t: of this tile, the first min(n, L + t + 1 - jt) */
      for (t = jt > g->L ? jt - g->L : 0; t < g->T; t++) {
        const size_t row = (size_t)t * 4 + (size_t)h;
        const float *qn = g->q_nope + row * 8, *qp = g->q_pe + row * 4;
        float *o = g->out + row * 8;
        const int m = g->L + t + 1 - jt < n ? g->L + t + 1 - jt : n;
        float mt = ml[2 * t], corr;
        for (i = 0; i < m; i++) {
          s[i] = (k0_mla_attention_dot(qn, kn + (size_t)i * 8, 8) + k0_mla_attention_dot(qp, g->pec + (size_t)(jt + i) * 4, 4)) * 0.3f;
          if (s[i] > mt) mt = s[i];
        }
        corr = expf(ml[2 * t] - mt);
        ml[2 * t] = mt;
        ml[2 * t + 1] *= corr;
        for (d = 0; d < 8; d++) o[d] *= corr;
        for (i = 0; i < m; i++) s[i] = moec_exp(s[i] - mt); /* a loop that vectorises */
        for (i = 0; i < m; i++) {
          const float p = s[i];
          const float *vr = vv + (size_t)i * 8;
          ml[2 * t + 1] += p;
          for (d = 0; d < 8; d++) o[d] += p * vr[d];
        }
      }
    }
    for (t = 0; t < g->T; t++) {
      float *o = g->out + ((size_t)t * 4 + h) * 8;
      for (d = 0; d < 8; d++) o[d] /= ml[2 * t + 1];
    }
  }
}

static void k0_mla_attention(k0_mla_attention_args *g, int threads) {
  int parts = (g->L + 1 + 128 - 1) / 128, h, p, e;
  memcpy(g->kvc + (size_t)g->L * 16, g->kv, (size_t)g->T * 16 * sizeof(float));
  memcpy(g->pec + (size_t)g->L * 4, g->k_pe, (size_t)g->T * 4 * sizeof(float));
  /* The cheaper form for this T and L (ir/kernel/mla.ts mlaForm): naive when keys x 32 > L x 512. */
  if (((double)g->T * g->L + (double)g->T * (g->T + 1) / 2) * 32.0 > (double)g->L * 512.0) {
    moec_parallel(k0_mla_attention_naive, g, 4 < threads ? 4 : threads);
    return;
  }
  /* parts: at most 2, each at least a tile of keys; never the thread count, which changes no result */
  if (parts > 2) parts = 2;
  if (g->T > 1 || parts < 2) {
    const int rows = g->T * 1;
    moec_parallel(k0_mla_attention_rows, g, rows < threads ? rows : threads);
    return;
  }
  {
    /* 4 x 16 latent queries and at most 2 x 4 x (2 + 16) partials: the tiler keeps these within the stack block */
    float q_abs[4 * 16], partial[2 * 4 * (2 + 16)], acc[16];
    for (h = 0; h < 4; h++) k0_mla_attention_absorb(g, g->q_nope + (size_t)h * 8, h, q_abs + (size_t)h * 16);
    g->parts = parts;
    g->q_abs = q_abs;
    g->partial = partial;
    moec_parallel(k0_mla_attention_split, g, parts < threads ? parts : threads);
    for (h = 0; h < 4; h++) {
      float top = -INFINITY, l = 0;
      for (p = 0; p < parts; p++) {
        const float m = partial[((size_t)p * 4 + h) * (2 + 16)];
        if (m > top) top = m;
      }
      for (e = 0; e < 16; e++) acc[e] = 0;
      for (p = 0; p < parts; p++) {
        const float *pp = partial + ((size_t)p * 4 + h) * (2 + 16);
        const float rescale = expf(pp[0] - top);
        l += pp[1] * rescale;
        for (e = 0; e < 16; e++) acc[e] += pp[2 + e] * rescale;
      }
      k0_mla_attention_expand(g, h, acc, l, g->out + (size_t)h * 8);
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


/* ---- entry points --------------------------------------------------------------------- */

size_t m_arena_bytes(int max_tokens) {
  const size_t T = (size_t)max_tokens;
  size_t end = 0;
  if (max_tokens < 1 || max_tokens > M_MAX_TOKENS) return 0;
  if (((size_t)256 * (size_t)(T)) + ((size_t)(T)) * (size_t)4 * (size_t)8 * 4 > end) end = ((size_t)256 * (size_t)(T)) + ((size_t)(T)) * (size_t)4 * (size_t)8 * 4;
  if ((size_t)0 + ((size_t)(T)) * (size_t)4 * (size_t)8 * 4 > end) end = (size_t)0 + ((size_t)(T)) * (size_t)4 * (size_t)8 * 4;
  (void)T;
  return (end + M_ALIGN - 1) / M_ALIGN * M_ALIGN;
}

size_t m_cache_bytes(int max_context) {
  size_t at = 0;
  if (max_context < 1 || max_context > M_MAX_CONTEXT) return 0;
  at += ((size_t)2 * ((size_t)(max_context)) * (size_t)16 * 4 + M_ALIGN - 1) / M_ALIGN * M_ALIGN; /* layers.kv_cache */
  at += ((size_t)2 * ((size_t)(max_context)) * (size_t)4 * 4 + M_ALIGN - 1) / M_ALIGN * M_ALIGN; /* layers.pe_cache */
  return at;
}

void m_reset(void *cache, int max_context) {
  if (cache) memset(cache, 0, m_cache_bytes(max_context));
}

int m_forward(const void *weights, const float *q_nope, const float *q_pe, const float *kv, const float *k_pe, int T, int L, float *y, void *arena, void *cache, int max_context, int threads) {
  const unsigned char *W = (const unsigned char *)weights;
  unsigned char *A = (unsigned char *)arena;
  /* The thread helpers, referenced: a model whose kernels all run on one thread (an embedding
     alone) still builds under -Wall -Werror. */
  (void)moec_parallel;
  (void)moec_split;
  unsigned char *C = (unsigned char *)cache;
  size_t cache_at = 0;
  float *b4_layers_kv_cache = (float *)(C + cache_at); /* layers.kv_cache */
  cache_at += ((size_t)2 * ((size_t)(max_context)) * (size_t)16 * 4 + M_ALIGN - 1) / M_ALIGN * M_ALIGN;
  float *b5_layers_pe_cache = (float *)(C + cache_at); /* layers.pe_cache */
  cache_at += ((size_t)2 * ((size_t)(max_context)) * (size_t)4 * 4 + M_ALIGN - 1) / M_ALIGN * M_ALIGN;
  const float *b0_q_nope = q_nope;
  const float *b1_q_pe = q_pe;
  const float *b2_kv = kv;
  const float *b3_k_pe = k_pe;
  const float *b6_layers_wkv_b = (const float *)(W + 0);
  float *b7_layers_x = (float *)(A + ((size_t)256 * (size_t)(T)));
  float *b11_layers_0 = (float *)(A + (size_t)0);
  float *b12_layers_layers_r0 = y;
  if (!weights || !arena || !cache || !q_nope || !q_pe || !kv || !k_pe || !y) return M_ERR_NULL;
  if (T < 1 || T > M_MAX_TOKENS) return M_ERR_TOKENS;
  if ((uintptr_t)weights % M_ALIGN != 0 || (uintptr_t)arena % M_ALIGN != 0 || (uintptr_t)cache % M_ALIGN != 0) return M_ERR_ALIGN;
  if (threads < 1) return M_ERR_THREADS;
  if (max_context < 1 || max_context > M_MAX_CONTEXT || L < 0 || L > max_context - T) return M_ERR_CONTEXT;
  (void)W;
  (void)A;
  memmove(b7_layers_x, b0_q_nope, ((size_t)(T)) * (size_t)4 * (size_t)8 * 4);
  for (int i0 = 0; i0 < 2; i0++) { /* 2 iterations (a repeat) */
    float *b8_layers_layers_kv_cache = b4_layers_kv_cache + (size_t)i0 * ((size_t)(max_context)) * (size_t)16;
    float *b9_layers_layers_pe_cache = b5_layers_pe_cache + (size_t)i0 * ((size_t)(max_context)) * (size_t)4;
    const float *b10_layers_layers_wkv_b = b6_layers_wkv_b + (size_t)i0 * (size_t)64 * (size_t)16;
    { /* latent attention (absorbed or naive, the cheaper for each call's T and L), 4 heads in blocks of 4, latent 16 + rope 4, nope 8, values 8, key tile 128, decode split 2 */
      k0_mla_attention_args g;
      g.q_nope = b7_layers_x;
      g.q_pe = b1_q_pe;
      g.kv = b2_kv;
      g.k_pe = b3_k_pe;
      g.w = b10_layers_layers_wkv_b;
      g.kvc = b8_layers_layers_kv_cache;
      g.pec = b9_layers_layers_pe_cache;
      g.out = b11_layers_0;
      g.T = T;
      g.L = L;
      MOEC_PROFILE_START
      k0_mla_attention(&g, threads);
      MOEC_PROFILE_STOP(0)
    }
    { /* elementwise add */
      k1_add_args g;
      g.x = b7_layers_x;
      g.y = b11_layers_0;
      g.out = b12_layers_layers_r0;
      g.n = ((size_t)(T)) * (size_t)4 * (size_t)8;
      MOEC_PROFILE_START
      moec_parallel(k1_add_work, &g, (int)((((size_t)(T)) * (size_t)4 * (size_t)8 + 16383) / 16384 < (size_t)threads ? (((size_t)(T)) * (size_t)4 * (size_t)8 + 16383) / 16384 : (size_t)threads));
      MOEC_PROFILE_STOP(1)
    }
    memmove(b7_layers_x, b12_layers_layers_r0, ((size_t)(T)) * (size_t)4 * (size_t)8 * 4);
  }
  return M_OK;
}
