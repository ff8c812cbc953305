/*
 * The OpenBLAS peer of moec's benchmark: one MoE layer in float32 C, written the way a
 * careful engineer would with a BLAS at hand, and no cleverer: router logits by sgemm (sgemv
 * for one token), softmax, top-k (optionally renormalised), token slots grouped by expert
 * with a counting sort, then per active expert: gather its tokens' rows, sgemm gate and up
 * (weights in their natural [F, D] layout, CblasTrans), SiLU(gate) * up, sgemm down, scale by
 * the routing weight and scatter-add. An optional shared SwiGLU MLP runs as dense sgemms
 * over all tokens and is added. Experts with one token use sgemv (OpenBLAS 0.3.21 does not
 * forward M = 1 sgemm to gemv itself).
 *
 * Built and driven by bench/runners/openblas.ts:
 *
 *   openblas_moe --info
 *   openblas_moe DIR T D F E K RENORM FS MIN_SAMPLES MIN_MS MAX_MS MAX_SAMPLES [OUT]
 *
 * DIR holds raw little-endian float32 files: router.f32 [E, D], gate.f32 and up.f32
 * [E, F, D], down.f32 [E, D, F], x-T.f32 [T, D], and when FS > 0 shared_gate.f32,
 * shared_up.f32 [FS, D] and shared_down.f32 [D, FS]. RENORM is 1 to divide the top-k
 * weights by their sum. It runs once to warm up, then samples by the plan (the harness's
 * SamplePlan), and prints `warmup_ms W` and `samples_ms S1 S2 ...`; with OUT it writes the
 * output [T, D] there.
 *
 * Before every run, outside the timed region, it streams over a buffer bigger than the
 * last-level cache (MOEC_BENCH_FLUSH_MIB, default 1024; 0 disables) so that each run reads
 * the weights from DRAM, as a decode step in real serving does. The flush counts towards
 * the plan's time budgets (not towards the samples), so a 1 ms case does not take a
 * thousand flushes.
 */
#define _POSIX_C_SOURCE 200112L
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  int T, D, F, E, K, renorm, FS;
  const float *router, *gate, *up, *down;       /* routed experts */
  const float *sgate, *sup, *sdown;             /* shared MLP, or NULL */
} Layer;

/* Scratch, sized for T tokens, allocated once outside the timed region. */
typedef struct {
  float *logits;    /* [T, E] */
  int *topIdx;      /* [T, K] */
  float *topW;      /* [T, K] */
  int *counts;      /* [E + 1] */
  int *slotTok;     /* [T * K], grouped by expert */
  float *slotW;     /* [T * K] */
  float *xg;        /* [T, D] gathered rows of one expert */
  float *g, *u;     /* [T, max(F, FS)] */
  float *yg;        /* [T, D] */
} Scratch;

static void die(const char *msg, const char *arg) {
  fprintf(stderr, "openblas_moe: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
  exit(2);
}

static void *xmalloc(size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0) die("out of memory", NULL);
  return p;
}

static float *readF32(const char *dir, const char *name, size_t count) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open", path);
  float *p = xmalloc(count * sizeof(float));
  if (fread(p, sizeof(float), count, f) != count) die("short file", path);
  fclose(f);
  return p;
}

static double nowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* out[n, N] = a[n, K] · w[N, K]ᵀ: sgemv when one row, sgemm otherwise. */
static void linear(int n, int N, int K, const float *a, const float *w, float *out) {
  if (n == 1)
    cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, w, K, a, 1, 0.0f, out, 1);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, N, K, 1.0f, a, K, w, K, 0.0f, out, N);
}

/* g = silu(g) * u, elementwise over count values. */
static void siluMul(float *g, const float *u, size_t count) {
  for (size_t i = 0; i < count; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* Softmax of each row of logits, then the K largest (ties to the lower index). */
static void route(const Layer *L, Scratch *s) {
  for (int t = 0; t < L->T; t++) {
    float *p = s->logits + (size_t)t * L->E;
    float mx = p[0];
    for (int e = 1; e < L->E; e++) mx = p[e] > mx ? p[e] : mx;
    float sum = 0.0f;
    for (int e = 0; e < L->E; e++) sum += (p[e] = expf(p[e] - mx));
    for (int e = 0; e < L->E; e++) p[e] /= sum;
    int *idx = s->topIdx + (size_t)t * L->K;
    float *w = s->topW + (size_t)t * L->K;
    float wsum = 0.0f;
    for (int k = 0; k < L->K; k++) {
      int best = -1;
      for (int e = 0; e < L->E; e++) {
        int taken = 0;
        for (int j = 0; j < k; j++) taken |= idx[j] == e;
        if (!taken && (best < 0 || p[e] > p[best])) best = e;
      }
      idx[k] = best;
      w[k] = p[best];
      wsum += p[best];
    }
    if (L->renorm)
      for (int k = 0; k < L->K; k++) w[k] /= wsum;
  }
}

/* out[T, D] = the layer on x. */
static void forward(const Layer *L, Scratch *s, const float *x, float *out) {
  const int T = L->T, D = L->D, F = L->F, E = L->E, K = L->K;
  linear(T, E, D, x, L->router, s->logits);
  route(L, s);

  /* Counting sort of the T*K slots by expert: counts[e]..counts[e+1] are expert e's. */
  memset(s->counts, 0, (size_t)(E + 1) * sizeof(int));
  for (int i = 0; i < T * K; i++) s->counts[s->topIdx[i] + 1]++;
  for (int e = 0; e < E; e++) s->counts[e + 1] += s->counts[e];
  int *fill = s->counts; /* reuse as cursors, restored below */
  for (int i = 0; i < T * K; i++) {
    int e = s->topIdx[i];
    int at = fill[e]++;
    s->slotTok[at] = i / K;
    s->slotW[at] = s->topW[i];
  }
  for (int e = E; e > 0; e--) s->counts[e] = s->counts[e - 1];
  s->counts[0] = 0;

  /* Shared MLP first (it writes every row), else zeros; the routed experts add onto it. */
  if (L->FS > 0) {
    linear(T, L->FS, D, x, L->sgate, s->g);
    linear(T, L->FS, D, x, L->sup, s->u);
    siluMul(s->g, s->u, (size_t)T * L->FS);
    linear(T, D, L->FS, s->g, L->sdown, out);
  } else {
    memset(out, 0, (size_t)T * D * sizeof(float));
  }

  for (int e = 0; e < E; e++) {
    int lo = s->counts[e], n = s->counts[e + 1] - lo;
    if (n == 0) continue;
    for (int r = 0; r < n; r++) memcpy(s->xg + (size_t)r * D, x + (size_t)s->slotTok[lo + r] * D, (size_t)D * sizeof(float));
    linear(n, F, D, s->xg, L->gate + (size_t)e * F * D, s->g);
    linear(n, F, D, s->xg, L->up + (size_t)e * F * D, s->u);
    siluMul(s->g, s->u, (size_t)n * F);
    linear(n, D, F, s->g, L->down + (size_t)e * D * F, s->yg);
    for (int r = 0; r < n; r++) {
      float w = s->slotW[lo + r];
      float *dst = out + (size_t)s->slotTok[lo + r] * D;
      const float *src = s->yg + (size_t)r * D;
      for (int j = 0; j < D; j++) dst[j] += w * src[j];
    }
  }
}

/* Streams over the flush buffer (reads only) so the timed run starts with cold caches. */
static uint64_t flushSink;
static void flush(const uint64_t *buf, size_t words) {
  uint64_t acc = 0;
  for (size_t i = 0; i < words; i++) acc += buf[i];
  flushSink += acc;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--info") == 0) {
    printf("config %s\ncore %s\nthreads %d\n", openblas_get_config(), openblas_get_corename(), openblas_get_num_threads());
    return 0;
  }
  if (argc != 13 && argc != 14)
    die("usage: openblas_moe DIR T D F E K RENORM FS MIN_SAMPLES MIN_MS MAX_MS MAX_SAMPLES [OUT]", NULL);
  const char *dir = argv[1];
  Layer L = {
    .T = atoi(argv[2]), .D = atoi(argv[3]), .F = atoi(argv[4]), .E = atoi(argv[5]),
    .K = atoi(argv[6]), .renorm = atoi(argv[7]), .FS = atoi(argv[8]),
  };
  int minSamples = atoi(argv[9]), maxSamples = atoi(argv[12]);
  double minMs = atof(argv[10]), maxMs = atof(argv[11]);
  if (L.T < 1 || L.D < 1 || L.F < 1 || L.E < 1 || L.K < 1 || L.K > L.E || L.FS < 0 || maxSamples < 1)
    die("bad sizes or plan", NULL);

  size_t ED = (size_t)L.E * L.D, EFD = (size_t)L.E * L.F * L.D;
  L.router = readF32(dir, "router.f32", ED);
  L.gate = readF32(dir, "gate.f32", EFD);
  L.up = readF32(dir, "up.f32", EFD);
  L.down = readF32(dir, "down.f32", EFD);
  if (L.FS > 0) {
    size_t SD = (size_t)L.FS * L.D;
    L.sgate = readF32(dir, "shared_gate.f32", SD);
    L.sup = readF32(dir, "shared_up.f32", SD);
    L.sdown = readF32(dir, "shared_down.f32", SD);
  }
  char xname[64];
  snprintf(xname, sizeof xname, "x-%d.f32", L.T);
  const float *x = readF32(dir, xname, (size_t)L.T * L.D);

  int width = L.F > L.FS ? L.F : L.FS;
  Scratch s = {
    .logits = xmalloc((size_t)L.T * L.E * sizeof(float)),
    .topIdx = xmalloc((size_t)L.T * L.K * sizeof(int)),
    .topW = xmalloc((size_t)L.T * L.K * sizeof(float)),
    .counts = xmalloc((size_t)(L.E + 1) * sizeof(int)),
    .slotTok = xmalloc((size_t)L.T * L.K * sizeof(int)),
    .slotW = xmalloc((size_t)L.T * L.K * sizeof(float)),
    .xg = xmalloc((size_t)L.T * L.D * sizeof(float)),
    .g = xmalloc((size_t)L.T * width * sizeof(float)),
    .u = xmalloc((size_t)L.T * width * sizeof(float)),
    .yg = xmalloc((size_t)L.T * L.D * sizeof(float)),
  };
  float *out = xmalloc((size_t)L.T * L.D * sizeof(float));

  const char *flushEnv = getenv("MOEC_BENCH_FLUSH_MIB");
  size_t flushBytes = (size_t)(flushEnv ? atol(flushEnv) : 1024) << 20;
  uint64_t *flushBuf = NULL;
  if (flushBytes) {
    flushBuf = xmalloc(flushBytes);
    memset(flushBuf, 1, flushBytes); /* fault every page in before timing */
  }
  size_t flushWords = flushBytes / sizeof(uint64_t);

  /* Warmup, then the plan: stop at minSamples and minMs, never start a run likely to end past maxMs. */
  double t0 = nowMs();
  if (flushBuf) flush(flushBuf, flushWords);
  double t1 = nowMs();
  forward(&L, &s, x, out);
  double warmup = nowMs() - t1, lastCost = nowMs() - t0;
  double *samples = xmalloc((size_t)maxSamples * sizeof(double));
  int n = 0;
  double budget = 0.0;
  while (n < maxSamples) {
    if (n >= minSamples && budget >= minMs) break;
    if (n > 0 && budget + lastCost > maxMs) break;
    t0 = nowMs();
    if (flushBuf) flush(flushBuf, flushWords);
    t1 = nowMs();
    forward(&L, &s, x, out);
    double t2 = nowMs();
    samples[n++] = t2 - t1;
    lastCost = t2 - t0;
    budget += lastCost;
  }

  printf("warmup_ms %.6f\nsamples_ms", warmup);
  for (int i = 0; i < n; i++) printf(" %.6f", samples[i]);
  printf("\nflush_sink %llu\n", (unsigned long long)(flushSink & 1));
  if (argc == 14) {
    FILE *f = fopen(argv[13], "wb");
    if (!f || fwrite(out, sizeof(float), (size_t)L.T * L.D, f) != (size_t)L.T * L.D || fclose(f) != 0) die("cannot write", argv[13]);
  }
  return 0;
}
