/*
 * decoder_kernels.c: the decoder_kernels MoE layer, compiled by moec 0.1.0 for x86-avx2 (2-core x86-64 with AVX2 + FMA (256-bit vectors), 32 KiB L1d and 512 KiB L2 per core, shared L3).
 * Generated code: edit the .moe file and recompile instead. The API is in decoder_kernels.h.
 *
 * Kernels, in order (fused by moec; tiles chosen for x86-avx2):
 *   k0_embedding: embedding: rows of a [16, 8] table by token id
 *   k1_rmsnorm: rmsnorm over 8
 *   k2_elementwise: elementwise sigmoid(x0)
 *   k3_elementwise: elementwise gelu_tanh(mul(x0, x1))
 *   k4_rope: rope: 4 of 8 features in interleaved pairs, yarn scaling
 * Arena: 6144 bytes at 32 tokens (every intermediate at a planned offset).
 */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "decoder_kernels.h"

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


#ifdef MOEC_PROFILE
#include <time.h>
double decoder_kernels_kernel_ms[DECODER_KERNELS_KERNELS];
static double moec_profile_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
#define MOEC_PROFILE_START const double moec_t0 = moec_profile_now();
#define MOEC_PROFILE_STOP(i) decoder_kernels_kernel_ms[i] += moec_profile_now() - moec_t0;
#else
#define MOEC_PROFILE_START
#define MOEC_PROFILE_STOP(i)
#endif

/* ---- kernels -------------------------------------------------------------------------- */





/* k0_embedding: embedding: out row i = table row ids[i] of [16, 8]; an id outside it is DECODER_KERNELS_ERR_TOKEN_ID. */
typedef struct {
  const int *ids;
  const float *table;
  float *out;
  size_t n;
} k0_embedding_args;

static int k0_embedding(const k0_embedding_args *g) {
  size_t i;
  for (i = 0; i < g->n; i++) {
    const int id = g->ids[i];
    if (id < 0 || id >= 16) return DECODER_KERNELS_ERR_TOKEN_ID;
    memcpy(g->out + i * 8, g->table + (size_t)id * 8, 8 * sizeof(float));
  }
  return 0;
}






/* k1_rmsnorm: rmsnorm over rows of 8: x / sqrt(mean(x^2) + 0.000001) * w, the sum of squares in double. */
typedef struct {
  const float *x, *w;
  float *out;
  size_t rows;
} k1_rmsnorm_args;

static void k1_rmsnorm_work(const void *arg, int part, int parts) {
  const k1_rmsnorm_args *g = (const k1_rmsnorm_args *)arg;
  int r0, r1, r, i;
  moec_split((int)g->rows, part, parts, &r0, &r1);
  for (r = r0; r < r1; r++) {
    const float *x = g->x + (size_t)r * 8;
    float *o = g->out + (size_t)r * 8;
    double ss = 0, denom;
    for (i = 0; i < 8; i++) ss += (double)x[i] * x[i];
    denom = sqrt(ss / 8 + 0.000001);
    for (i = 0; i < 8; i++) o[i] = (float)(x[i] / denom * g->w[i]);
  }
}






/* k2_elementwise: sigmoid(x0), each step rounded to float as its op stores it. */
typedef struct {
  const float *x0;
  float *out;
  size_t n;
} k2_elementwise_args;

static void k2_elementwise_work(const void *arg, int part, int parts) {
  const k2_elementwise_args *g = (const k2_elementwise_args *)arg;
  int lo, hi;
  size_t i;
  moec_split((int)g->n, part, parts, &lo, &hi);
  for (i = (size_t)lo; i < (size_t)hi; i++) {
    const float v0 = (float)((double)g->x0[i]);
    const float v1 = (float)(1.0 / (1.0 + exp(-v0)));
    g->out[i] = v1;
  }
}






/* k3_elementwise: gelu_tanh(mul(x0, x1)), each step rounded to float as its op stores it. */
typedef struct {
  const float *x0, *x1;
  float *out;
  size_t n;
} k3_elementwise_args;

static void k3_elementwise_work(const void *arg, int part, int parts) {
  const k3_elementwise_args *g = (const k3_elementwise_args *)arg;
  int lo, hi;
  size_t i;
  moec_split((int)g->n, part, parts, &lo, &hi);
  for (i = (size_t)lo; i < (size_t)hi; i++) {
    const float v0 = (float)((double)g->x0[i]);
    const float v1 = (float)((double)g->x1[i / 8]);
    const float v2 = (float)(v0 * v1);
    const float v3 = (float)(0.5 * v2 * (1.0 + tanh(0.79788456080286535588 * (v2 + 0.044715 * v2 * v2 * v2))));
    g->out[i] = v3;
  }
}






/*
 * k4_rope: rope over rows of [2 heads, 8]: token t at position pos0 + t turns pair i of the
 * first 4 features by (pos0 + t) * freq[i] (the rope_scaling already in freq), cos and sin
 * times 1.3465735902799727; the rest pass through. In double, rounded once per feature.
 */
static const double k4_rope_freq[2] = { 1.0, 0.00025 };

typedef struct {
  const float *x;
  float *out;
  size_t rows, pos0;
} k4_rope_args;

static void k4_rope_work(const void *arg, int part, int parts) {
  const k4_rope_args *g = (const k4_rope_args *)arg;
  /* cos and sin of the row's position, computed once for its 2 heads (the same numbers for each) */
  double cs[2] = {0}, sn[2] = {0};
  size_t last = (size_t)-1;
  int lo, hi, r, i, j;
  moec_split((int)g->rows, part, parts, &lo, &hi);
  for (r = lo; r < hi; r++) {
    const float *x = g->x + (size_t)r * 8;
    float *o = g->out + (size_t)r * 8;
    const size_t pos = g->pos0 + (size_t)r / 2;
    if (pos != last) {
      for (i = 0; i < 2; i++) {
        const double angle = (double)pos * k4_rope_freq[i];
        cs[i] = cos(angle) * 1.3465735902799727;
        sn[i] = sin(angle) * 1.3465735902799727;
      }
      last = pos;
    }
    for (j = 4; j < 8; j++) o[j] = x[j];
    for (i = 0; i < 2; i++) {
      const int a = i * 2, b = a + 1;
      const double x1 = x[a], x2 = x[b];
      o[a] = (float)(x1 * cs[i] - x2 * sn[i]);
      o[b] = (float)(x2 * cs[i] + x1 * sn[i]);
    }
  }
}


/* ---- entry points --------------------------------------------------------------------- */

size_t decoder_kernels_arena_bytes(int max_tokens) {
  const size_t T = (size_t)max_tokens;
  size_t end = 0;
  if (max_tokens < 1 || max_tokens > DECODER_KERNELS_MAX_TOKENS) return 0;
  if ((size_t)0 + ((size_t)(T)) * (size_t)8 * 4 > end) end = (size_t)0 + ((size_t)(T)) * (size_t)8 * 4;
  if (((size_t)64 * (size_t)(T)) + ((size_t)(T)) * (size_t)8 * 4 > end) end = ((size_t)64 * (size_t)(T)) + ((size_t)(T)) * (size_t)8 * 4;
  if ((size_t)0 + ((size_t)(T)) * (size_t)1 * 4 > end) end = (size_t)0 + ((size_t)(T)) * (size_t)1 * 4;
  (void)T;
  return (end + DECODER_KERNELS_ALIGN - 1) / DECODER_KERNELS_ALIGN * DECODER_KERNELS_ALIGN;
}

int decoder_kernels_forward(const void *weights, const int *ids, const float *q, const float *gate, int T, float *y, float *q_rot, void *arena, int threads) {
  const unsigned char *W = (const unsigned char *)weights;
  unsigned char *A = (unsigned char *)arena;
  /* The thread helpers, referenced: a model whose kernels all run on one thread (an embedding
     alone) still builds under -Wall -Werror. */
  (void)moec_parallel;
  (void)moec_split;
  const int *b0_ids = ids;
  const float *b1_q = q;
  const float *b2_gate = gate;
  const float *b3_table = (const float *)(W + 0);
  const float *b4_norm = (const float *)(W + 512);
  float *b5_e = (float *)(A + (size_t)0);
  float *b6_h = (float *)(A + ((size_t)64 * (size_t)(T)));
  float *b7__0 = (float *)(A + (size_t)0);
  float *b8__2 = y;
  float *b9_q_rot = q_rot;
  if (!weights || !arena || !ids || !q || !gate || !y || !q_rot) return DECODER_KERNELS_ERR_NULL;
  if (T < 1 || T > DECODER_KERNELS_MAX_TOKENS) return DECODER_KERNELS_ERR_TOKENS;
  if ((uintptr_t)weights % DECODER_KERNELS_ALIGN != 0 || (uintptr_t)arena % DECODER_KERNELS_ALIGN != 0) return DECODER_KERNELS_ERR_ALIGN;
  if (threads < 1) return DECODER_KERNELS_ERR_THREADS;
  (void)W;
  (void)A;
  { /* embedding: rows of a [16, 8] table by token id */
    k0_embedding_args g;
    g.ids = b0_ids;
    g.table = b3_table;
    g.out = b5_e;
    g.n = ((size_t)(T));
    MOEC_PROFILE_START
    { const int rc = k0_embedding(&g); if (rc != 0) return rc; }
    MOEC_PROFILE_STOP(0)
  }
  { /* rmsnorm over 8 */
    k1_rmsnorm_args g;
    g.x = b5_e;
    g.w = b4_norm;
    g.out = b6_h;
    g.rows = ((size_t)(T));
    MOEC_PROFILE_START
    moec_parallel(k1_rmsnorm_work, &g, (int)((((size_t)(T)) * (size_t)8 + 16383) / 16384 < (size_t)threads ? (((size_t)(T)) * (size_t)8 + 16383) / 16384 : (size_t)threads));
    MOEC_PROFILE_STOP(1)
  }
  { /* elementwise sigmoid(x0) */
    k2_elementwise_args g;
    g.x0 = b2_gate;
    g.out = b7__0;
    g.n = ((size_t)(T)) * (size_t)1;
    MOEC_PROFILE_START
    moec_parallel(k2_elementwise_work, &g, (int)((((size_t)(T)) * (size_t)1 + 16383) / 16384 < (size_t)threads ? (((size_t)(T)) * (size_t)1 + 16383) / 16384 : (size_t)threads));
    MOEC_PROFILE_STOP(2)
  }
  { /* elementwise gelu_tanh(mul(x0, x1)) */
    k3_elementwise_args g;
    g.x0 = b6_h;
    g.x1 = b7__0;
    g.out = b8__2;
    g.n = ((size_t)(T)) * (size_t)8;
    MOEC_PROFILE_START
    moec_parallel(k3_elementwise_work, &g, (int)((((size_t)(T)) * (size_t)8 + 16383) / 16384 < (size_t)threads ? (((size_t)(T)) * (size_t)8 + 16383) / 16384 : (size_t)threads));
    MOEC_PROFILE_STOP(3)
  }
  { /* rope: 4 of 8 features in interleaved pairs, yarn scaling */
    k4_rope_args g;
    g.x = b1_q;
    g.out = b9_q_rot;
    g.rows = ((size_t)(T)) * (size_t)2;
    g.pos0 = (size_t)5;
    MOEC_PROFILE_START
    moec_parallel(k4_rope_work, &g, (int)((((size_t)(T)) * (size_t)2 * (size_t)8 + 16383) / 16384 < (size_t)threads ? (((size_t)(T)) * (size_t)2 * (size_t)8 + 16383) / 16384 : (size_t)threads));
    MOEC_PROFILE_STOP(4)
  }
  return DECODER_KERNELS_OK;
}
