/*
 * This machine's native limits, for the benchmark's fractions and roofline roofs:
 *   fma:   peak float32 FLOP/s of independent FMA chains in the widest vectors the CPU has
 *          (AVX-512, else AVX2, else portable C), one chain set per thread: the machine's peak,
 *          which the native peers (OpenBLAS, onnxruntime) can reach;
 *   triad: STREAM's triad a[i] = b[i] + s * c[i] over three float32 arrays of MIB MiB each,
 *          counted as 12 bytes per element (two reads, one write), threads splitting the range;
 *   read:  a streaming sum over one array (read bandwidth alone).
 * Usage: limits THREADS MIB REPS. Prints `fma_gflops X`, `triad_gbps Y`, `read_gbps Z` (best of REPS).
 */
#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#undef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

typedef struct {
  int id, n;
  size_t len;
  float *a, *b, *c;
  double sink;
  int what;
} job;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define FMA_ITERS 20000000L
/*
 * 12 chains x 16 lanes (AVX-512) or 8 lanes (AVX2) x 2 flops per iteration, or 12 scalar chains.
 * Each chain starts from its own value: twelve chains that start alike compute the same numbers,
 * and gcc -O3 folds them into one FMA per iteration (then reports 12x the machine's peak: 694
 * GFLOP/s for 2 cores of a Zen 4 EPYC whose real peak, one 512-bit FMA a cycle per core, is ~235).
 * The constants come from volatiles, read at run time: with literals clang computes the whole
 * loop while compiling and reports millions of GFLOP/s.
 */
static volatile float fma_mul = 0.9999999f, fma_add = 1e-7f, fma_start = 1.0f;
static double fma_loop(void) {
#if defined(__AVX512F__)
  const float s = fma_start;
  __m512 m = _mm512_set1_ps(fma_mul), k = _mm512_set1_ps(fma_add);
  __m512 a0 = _mm512_set1_ps(s + 0.00f), a1 = _mm512_set1_ps(s + 0.01f), a2 = _mm512_set1_ps(s + 0.02f), a3 = _mm512_set1_ps(s + 0.03f);
  __m512 a4 = _mm512_set1_ps(s + 0.04f), a5 = _mm512_set1_ps(s + 0.05f), a6 = _mm512_set1_ps(s + 0.06f), a7 = _mm512_set1_ps(s + 0.07f);
  __m512 a8 = _mm512_set1_ps(s + 0.08f), a9 = _mm512_set1_ps(s + 0.09f), a10 = _mm512_set1_ps(s + 0.10f), a11 = _mm512_set1_ps(s + 0.11f);
  long i;
  for (i = 0; i < FMA_ITERS; i++) {
    a0 = _mm512_fmadd_ps(a0, m, k); a1 = _mm512_fmadd_ps(a1, m, k); a2 = _mm512_fmadd_ps(a2, m, k);
    a3 = _mm512_fmadd_ps(a3, m, k); a4 = _mm512_fmadd_ps(a4, m, k); a5 = _mm512_fmadd_ps(a5, m, k);
    a6 = _mm512_fmadd_ps(a6, m, k); a7 = _mm512_fmadd_ps(a7, m, k); a8 = _mm512_fmadd_ps(a8, m, k);
    a9 = _mm512_fmadd_ps(a9, m, k); a10 = _mm512_fmadd_ps(a10, m, k); a11 = _mm512_fmadd_ps(a11, m, k);
  }
  a0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)), _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  a0 = _mm512_add_ps(a0, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
  return _mm512_reduce_add_ps(a0);
#elif defined(__AVX2__) && defined(__FMA__)
  const float s = fma_start;
  __m256 m = _mm256_set1_ps(fma_mul), k = _mm256_set1_ps(fma_add);
  __m256 a0 = _mm256_set1_ps(s + 0.00f), a1 = _mm256_set1_ps(s + 0.01f), a2 = _mm256_set1_ps(s + 0.02f), a3 = _mm256_set1_ps(s + 0.03f);
  __m256 a4 = _mm256_set1_ps(s + 0.04f), a5 = _mm256_set1_ps(s + 0.05f), a6 = _mm256_set1_ps(s + 0.06f), a7 = _mm256_set1_ps(s + 0.07f);
  __m256 a8 = _mm256_set1_ps(s + 0.08f), a9 = _mm256_set1_ps(s + 0.09f), a10 = _mm256_set1_ps(s + 0.10f), a11 = _mm256_set1_ps(s + 0.11f);
  long i;
  float out[8];
  for (i = 0; i < FMA_ITERS; i++) {
    a0 = _mm256_fmadd_ps(a0, m, k); a1 = _mm256_fmadd_ps(a1, m, k); a2 = _mm256_fmadd_ps(a2, m, k);
    a3 = _mm256_fmadd_ps(a3, m, k); a4 = _mm256_fmadd_ps(a4, m, k); a5 = _mm256_fmadd_ps(a5, m, k);
    a6 = _mm256_fmadd_ps(a6, m, k); a7 = _mm256_fmadd_ps(a7, m, k); a8 = _mm256_fmadd_ps(a8, m, k);
    a9 = _mm256_fmadd_ps(a9, m, k); a10 = _mm256_fmadd_ps(a10, m, k); a11 = _mm256_fmadd_ps(a11, m, k);
  }
  a0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  a0 = _mm256_add_ps(a0, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
  _mm256_storeu_ps(out, a0);
  return out[0];
#else
  const float m = fma_mul, k = fma_add;
  float a[12];
  long i;
  int j;
  for (j = 0; j < 12; j++) a[j] = fma_start + 0.01f * j;
  for (i = 0; i < FMA_ITERS; i++)
    for (j = 0; j < 12; j++) a[j] = a[j] * m + k;
  return a[0] + a[11];
#endif
}

static double fma_flops_per_iter(void) {
#if defined(__AVX512F__)
  return 12 * 16 * 2;
#elif defined(__AVX2__) && defined(__FMA__)
  return 12 * 8 * 2;
#else
  return 12 * 2;
#endif
}

static void *work(void *p) {
  job *j = (job *)p;
  size_t lo = j->len * j->id / j->n, hi = j->len * (j->id + 1) / j->n, i;
  if (j->what == 0) j->sink = fma_loop();
  else if (j->what == 1)
    for (i = lo; i < hi; i++) j->a[i] = j->b[i] + 3.0f * j->c[i];
  else {
#if defined(__AVX512F__)
    /* eight accumulators, so the adds' latency never bounds the stream */
    __m512 v0 = _mm512_setzero_ps(), v1 = v0, v2 = v0, v3 = v0, v4 = v0, v5 = v0, v6 = v0, v7 = v0;
    for (i = lo; i + 128 <= hi; i += 128) {
      v0 = _mm512_add_ps(v0, _mm512_loadu_ps(j->b + i));
      v1 = _mm512_add_ps(v1, _mm512_loadu_ps(j->b + i + 16));
      v2 = _mm512_add_ps(v2, _mm512_loadu_ps(j->b + i + 32));
      v3 = _mm512_add_ps(v3, _mm512_loadu_ps(j->b + i + 48));
      v4 = _mm512_add_ps(v4, _mm512_loadu_ps(j->b + i + 64));
      v5 = _mm512_add_ps(v5, _mm512_loadu_ps(j->b + i + 80));
      v6 = _mm512_add_ps(v6, _mm512_loadu_ps(j->b + i + 96));
      v7 = _mm512_add_ps(v7, _mm512_loadu_ps(j->b + i + 112));
    }
    j->sink = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(v0, v1), _mm512_add_ps(v2, v3)), _mm512_add_ps(_mm512_add_ps(v4, v5), _mm512_add_ps(v6, v7))));
#elif defined(__AVX2__)
    __m256 v0 = _mm256_setzero_ps(), v1 = v0, v2 = v0, v3 = v0, v4 = v0, v5 = v0, v6 = v0, v7 = v0;
    float out[8];
    for (i = lo; i + 64 <= hi; i += 64) {
      v0 = _mm256_add_ps(v0, _mm256_loadu_ps(j->b + i));
      v1 = _mm256_add_ps(v1, _mm256_loadu_ps(j->b + i + 8));
      v2 = _mm256_add_ps(v2, _mm256_loadu_ps(j->b + i + 16));
      v3 = _mm256_add_ps(v3, _mm256_loadu_ps(j->b + i + 24));
      v4 = _mm256_add_ps(v4, _mm256_loadu_ps(j->b + i + 32));
      v5 = _mm256_add_ps(v5, _mm256_loadu_ps(j->b + i + 40));
      v6 = _mm256_add_ps(v6, _mm256_loadu_ps(j->b + i + 48));
      v7 = _mm256_add_ps(v7, _mm256_loadu_ps(j->b + i + 56));
    }
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(v0, v1), _mm256_add_ps(v2, v3)), _mm256_add_ps(_mm256_add_ps(v4, v5), _mm256_add_ps(v6, v7))));
    j->sink = out[0];
#else
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (i = lo; i + 8 <= hi; i += 8) {
      s0 += j->b[i]; s1 += j->b[i + 1]; s2 += j->b[i + 2]; s3 += j->b[i + 3];
      s4 += j->b[i + 4]; s5 += j->b[i + 5]; s6 += j->b[i + 6]; s7 += j->b[i + 7];
    }
    j->sink = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
#endif
  }
  return NULL;
}

static double run(int what, int threads, size_t len, float *a, float *b, float *c) {
  pthread_t tid[64];
  job jobs[64];
  int i;
  double t0 = now();
  for (i = 0; i < threads; i++) {
    jobs[i].id = i; jobs[i].n = threads; jobs[i].len = len; jobs[i].a = a; jobs[i].b = b; jobs[i].c = c; jobs[i].what = what;
    if (i > 0) pthread_create(&tid[i], NULL, work, &jobs[i]);
  }
  work(&jobs[0]);
  for (i = 1; i < threads; i++) pthread_join(tid[i], NULL);
  return now() - t0;
}

int main(int argc, char **argv) {
  int threads, reps, r;
  size_t len, i;
  float *a, *b, *c;
  double best_fma = 1e30, best_triad = 1e30, best_read = 1e30;
  if (argc != 4) return 2;
  threads = atoi(argv[1]);
  len = (size_t)atoi(argv[2]) * 1024 * 1024 / sizeof(float);
  reps = atoi(argv[3]);
  if (threads < 1 || threads > 64 || reps < 1) return 2;
  a = malloc(len * sizeof(float)); b = malloc(len * sizeof(float)); c = malloc(len * sizeof(float));
  if (!a || !b || !c) return 3;
  for (i = 0; i < len; i++) { a[i] = 0; b[i] = (float)(i & 7); c[i] = 1; }
  for (r = 0; r < reps; r++) {
    double t = run(0, threads, len, a, b, c);
    if (t < best_fma) best_fma = t;
    t = run(1, threads, len, a, b, c);
    if (t < best_triad) best_triad = t;
    t = run(2, threads, len, a, b, c);
    if (t < best_read) best_read = t;
  }
#if defined(__AVX512F__)
  printf("fma_isa AVX-512\n");
#elif defined(__AVX2__) && defined(__FMA__)
  printf("fma_isa AVX2\n");
#else
  printf("fma_isa scalar\n");
#endif
  printf("fma_gflops %.2f\n", threads * FMA_ITERS * fma_flops_per_iter() / best_fma / 1e9);
  printf("triad_gbps %.2f\n", 12.0 * len / best_triad / 1e9);
  printf("read_gbps %.2f\n", 4.0 * len / best_read / 1e9);
  free(a); free(b); free(c);
  return 0;
}
