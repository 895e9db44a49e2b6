/*
 * par.c - row chunks, column chunks (few rows) and the engine's own
 * thread team that runs them (see par.h).
 */
#include "harness/graph/par.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

int qb_gpar_whole;
int64_t qb_gpar_conv_block = 256 * 1024;
long qb_gpar_regions;

/* The thread count was asked for: 1 yes, 0 no, -1 not looked at yet. */
static int asked = -1;

void qb_gpar_set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n > 0 ? n : 1);
#else
    (void)n;
#endif
    asked = 1;
}

/* qb_gpar_chunk with its least work per chunk as an argument. */
static int64_t chunk_of(int64_t n, int64_t row_work, int64_t align, int64_t min_work)
{
    if (n <= 0)
        return 1;
    if (row_work < 1)
        row_work = 1;
    if (align < 1)
        align = 1;
    int64_t rows = (min_work + row_work - 1) / row_work;
    int64_t fewest = (n + QB_GPAR_MAX_CHUNKS - 1) / QB_GPAR_MAX_CHUNKS;
    if (rows < fewest)
        rows = fewest;
    rows = (rows + align - 1) / align * align;
    return rows < n ? rows : n;
}

int64_t qb_gpar_chunk(int64_t n, int64_t row_work, int64_t align)
{
    return chunk_of(n, row_work, align, QB_GPAR_MIN_WORK);
}

/* ---- the team: workers that claim chunks of the current loop ----
 *
 * One loop at a time (a caller that finds the team busy runs its loop
 * alone). The caller publishes the loop, then claims chunks like any
 * worker; it waits only for the chunks claimed, never for a worker to
 * arrive, so a worker that wakes late (or sits on a busy CPU) costs the
 * loop nothing: the caller has taken its chunks meanwhile.
 *
 * Home segments: the loop's chunks are cut into one contiguous segment
 * per thread taking part (thread 0, the caller, the first); a thread
 * claims its own segment's chunks from the front, then steals other
 * segments' chunks from their back. So, as long as every thread keeps
 * up, each thread runs the same rows in one loop after another (a
 * layer's rows read the rows the same thread wrote in the layer before:
 * in its own cache, not another core's; on 2 vCPUs whose caches are
 * ~170 ns apart, alternating chunks made each chunk ~1.5x slower on
 * det, 10x on the zoo cnn's small layers), and a late thread's segment
 * is taken by the others from the end. Which thread runs a chunk never
 * changes what it computes.
 *
 * seg[s].w: the loop's number in the high 32 bits, then the chunks
 * taken from the segment's back (16 bits) and from its front (16 bits);
 * the high word CLOSED while the caller rewrites the loop. A chunk is
 * claimed by compare-and-swap from the value read before the loop's
 * fields: the swap succeeds only if the word did not change, so the
 * fields read were that loop's (they change only while every word is
 * CLOSED, after every chunk of the loop before was done). A claim takes
 * a unit of grp consecutive chunks (grp > 1 only when a segment would
 * hold more than 65535 chunks). Each word has its own cache line: a
 * thread claiming its own segment does not disturb the others. */
#define CLOSED 0xffffffffu
/* Most workers (threads beyond the caller). */
#define MAX_WORKERS 63
/* Most units per segment (16-bit front and back counts). */
#define SEG_MAX 65535
/* An idle worker gives up the CPU every this many pauses (a few
 * microseconds): free, sched_yield returns at once, on an idle machine;
 * on a busy one it lets another program run instead of the spinner.
 * Measured on 2 vCPUs at load 10: det int8 at 2 threads 0.68 of 1 thread
 * without, 1.13 with. */
#define YIELD_EVERY 64
/* The caller waiting for chunks taken by workers yields far less often
 * (about 40 us): a yield on a busy machine can cost it a whole time
 * slice while the chunk it waits for ends in microseconds. Measured at
 * load 10, 2 threads over 1, yielding every 64 / 1024 pauses: synthetic
 * net int8 0.86 / 1.07, fp32 0.93 / 1.01, rec int8 1.07 / 1.12. */
#define CALLER_YIELD_EVERY 1024

/* One segment's claim word, alone on its cache line. */
typedef struct seg_word {
    uint64_t w; /* loop number << 32 | back << 16 | front (atomic) */
} __attribute__((aligned(64))) seg_word;

static struct {
    pthread_mutex_t mu; /* guards sleepers and the wake-up of gen */
    pthread_cond_t cv;  /* sleeping workers wait here for gen to change */
    int sleepers;       /* workers waiting on cv */
    int started;        /* worker threads started so far */
    int busy;           /* a caller is running a loop on the team (atomic) */
    struct {
        unsigned gen; /* number of the latest loop (atomic; read by spinning workers) */
    } __attribute__((aligned(64))) g;
    struct {
        int64_t done; /* chunks of the current loop finished (atomic) */
    } __attribute__((aligned(64))) d;
    struct {                  /* the loop, written while every segment word is CLOSED (atomic) */
        qb_gpar_body body;    /* body(ctx, i0, i1) per chunk */
        void *ctx;            /* its context */
        int64_t n, chunk, nc; /* rows, rows per chunk, chunks */
        int64_t grp, nu;      /* chunks per unit of claim, units */
        int nseg;             /* segments: threads that may take part (want + 1) */
    } __attribute__((aligned(64))) l;
    seg_word seg[MAX_WORKERS + 1]; /* segment s: units [s * nu / nseg, (s + 1) * nu / nseg) */
} team = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* How long an idle worker spins on gen before it sleeps, microseconds
 * (QB_GPAR_SPIN_US in the environment; -1: not read yet). */
static int spin_us = -1;
/* This thread runs chunks of a loop (a worker, or a caller inside one):
 * loops it starts run alone, never nested. */
static __thread int in_team;

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Claim one unit of loop g from segment s (its front if front, else its
 * back): the unit's number, -1 when the segment is empty, -2 when loop g
 * is over (or id takes no part in it). */
static int64_t claim_unit(unsigned g, int id, int s, int front)
{
    for (;;) {
        uint64_t c = __atomic_load_n(&team.seg[s].w, __ATOMIC_ACQUIRE);
        if ((unsigned)(c >> 32) != g)
            return -2;
        int nseg = __atomic_load_n(&team.l.nseg, __ATOMIC_RELAXED);
        int64_t nu = __atomic_load_n(&team.l.nu, __ATOMIC_RELAXED);
        if (id >= nseg || s >= nseg)
            return -2;
        int64_t b = s * nu / nseg, e = (s + 1) * nu / nseg;
        uint64_t fr = c & 0xffff, bk = (c >> 16) & 0xffff;
        if ((int64_t)(fr + bk) >= e - b)
            return -1;
        if (!__atomic_compare_exchange_n(&team.seg[s].w, &c, front ? c + 1 : c + 0x10000, 0, __ATOMIC_ACQUIRE,
                                         __ATOMIC_RELAXED))
            continue;
        return front ? b + (int64_t)fr : e - 1 - (int64_t)bk;
    }
}

/* Run unit u of the current loop: its chunks, one call each; how many. */
static int64_t run_unit(int64_t u)
{
    qb_gpar_body body = __atomic_load_n(&team.l.body, __ATOMIC_RELAXED);
    void *ctx = __atomic_load_n(&team.l.ctx, __ATOMIC_RELAXED);
    int64_t n = __atomic_load_n(&team.l.n, __ATOMIC_RELAXED), chunk = __atomic_load_n(&team.l.chunk, __ATOMIC_RELAXED);
    int64_t nc = __atomic_load_n(&team.l.nc, __ATOMIC_RELAXED), grp = __atomic_load_n(&team.l.grp, __ATOMIC_RELAXED);
    int64_t k = u * grp, k1 = k + grp < nc ? k + grp : nc;
    for (int64_t i = k; i < k1; i++) {
        int64_t i0 = i * chunk;
        body(ctx, i0, i0 + chunk < n ? i0 + chunk : n);
    }
    return k1 - k;
}

/* Claim and run chunks of loop number g until none is left: thread id
 * (0 is the caller) its own segment from the front, then the others'
 * from the back; the chunks it ran added to done once at the end. */
static void run_chunks(unsigned g, int id)
{
    int64_t ran = 0, u;
    while ((u = claim_unit(g, id, id, 1)) >= 0)
        ran += run_unit(u);
    if (u == -1) {
        int nseg = __atomic_load_n(&team.l.nseg, __ATOMIC_RELAXED);
        for (int k = 1; k < nseg; k++) {
            int s = (id + k) % nseg;
            while ((u = claim_unit(g, id, s, 0)) >= 0)
                ran += run_unit(u);
            if (u == -2)
                break;
        }
    }
    if (ran)
        __atomic_fetch_add(&team.d.done, ran, __ATOMIC_RELEASE);
}

static void *worker_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    in_team = 1;
    unsigned seen = 0;
    for (;;) {
        unsigned g = __atomic_load_n(&team.g.gen, __ATOMIC_ACQUIRE);
        if (g == seen) { /* spin a while (the next loop often follows soon), then sleep */
            int64_t t0 = now_us();
            for (int k = 1; (g = __atomic_load_n(&team.g.gen, __ATOMIC_ACQUIRE)) == seen; k++) {
                cpu_relax();
                if (!(k & 255) && now_us() - t0 >= spin_us)
                    break;
                if (!(k % YIELD_EVERY))
                    sched_yield();
            }
            if (g == seen) {
                pthread_mutex_lock(&team.mu);
                while ((g = __atomic_load_n(&team.g.gen, __ATOMIC_ACQUIRE)) == seen) {
                    team.sleepers++;
                    pthread_cond_wait(&team.cv, &team.mu);
                    team.sleepers--;
                }
                pthread_mutex_unlock(&team.mu);
            }
        }
        seen = g;
        run_chunks(g, id);
    }
    return NULL;
}

/* body over nc chunks on the caller and up to threads - 1 workers; 0, or
 * -1 when the team is busy (another caller's loop) and nothing ran. */
static int team_for(int64_t n, int64_t chunk, int64_t nc, int threads, qb_gpar_body body, void *ctx)
{
    int free_ = 0;
    if (!__atomic_compare_exchange_n(&team.busy, &free_, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return -1;
    if (spin_us < 0) {
        const char *env = getenv("QB_GPAR_SPIN_US");
        spin_us = env && *env ? atoi(env) : QB_GPAR_SPIN_US;
    }
    int want = threads - 1 < MAX_WORKERS ? threads - 1 : MAX_WORKERS;
    while (team.started < want) { /* workers start on first use; one that cannot start: fewer threads */
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &at, worker_main, (void *)(intptr_t)(team.started + 1));
        pthread_attr_destroy(&at);
        if (rc)
            break;
        team.started++;
    }
    if (want > team.started)
        want = team.started;
    int nseg = want + 1;
    int64_t grp = (nc + (int64_t)nseg * SEG_MAX - 1) / ((int64_t)nseg * SEG_MAX);
    unsigned g = team.g.gen + 1; /* only callers holding busy change gen */
    if (g == CLOSED)
        g = 1;
    for (int s = 0; s <= MAX_WORKERS; s++)
        __atomic_store_n(&team.seg[s].w, (uint64_t)CLOSED << 32, __ATOMIC_RELEASE);
    __atomic_store_n(&team.l.body, body, __ATOMIC_RELAXED);
    __atomic_store_n(&team.l.ctx, ctx, __ATOMIC_RELAXED);
    __atomic_store_n(&team.l.n, n, __ATOMIC_RELAXED);
    __atomic_store_n(&team.l.chunk, chunk, __ATOMIC_RELAXED);
    __atomic_store_n(&team.l.nc, nc, __ATOMIC_RELAXED);
    __atomic_store_n(&team.l.grp, grp, __ATOMIC_RELAXED);
    __atomic_store_n(&team.l.nu, (nc + grp - 1) / grp, __ATOMIC_RELAXED);
    __atomic_store_n(&team.l.nseg, nseg, __ATOMIC_RELAXED);
    __atomic_store_n(&team.d.done, 0, __ATOMIC_RELAXED);
    for (int s = 0; s < nseg; s++)
        __atomic_store_n(&team.seg[s].w, (uint64_t)g << 32, __ATOMIC_RELEASE);
    pthread_mutex_lock(&team.mu);
    __atomic_store_n(&team.g.gen, g, __ATOMIC_RELEASE);
    if (team.sleepers)
        pthread_cond_broadcast(&team.cv);
    pthread_mutex_unlock(&team.mu);
    in_team = 1;
    run_chunks(g, 0);
    in_team = 0;
    /* the chunks still running are on workers that are running: spin, yielding the CPU now and then */
    for (int k = 1; __atomic_load_n(&team.d.done, __ATOMIC_ACQUIRE) < nc; k++) {
        cpu_relax();
        if (!(k % CALLER_YIELD_EVERY))
            sched_yield();
    }
    __atomic_store_n(&team.busy, 0, __ATOMIC_RELEASE);
    return 0;
}

int qb_gpar_threads(void)
{
#ifdef _OPENMP
    if (asked < 0) {
        const char *env = getenv("OMP_NUM_THREADS");
        asked = env && *env;
    }
    return !asked || omp_in_parallel() || in_team ? 1 : omp_get_max_threads();
#else
    return 1;
#endif
}

/* ---- loops too small for the team ----
 *
 * A loop on the team costs more than its chunks' work: the worker
 * reads the rows the caller wrote (and the caller, in the next
 * operator, the worker's) from the other core's cache. So a loop whose
 * chunks take less than qb_gpar_min_ns one after another runs them on
 * the caller alone. A loop is known by its body, rows and rows per chunk
 * (one layer's loop, inference after inference); its first QB_GPAR_PROBES
 * runs go one after another, timed, and their fastest decides: under
 * qb_gpar_min_ns it stays on the caller from then on, untimed (a later
 * run could only lower the fastest, which keeps it there; a clock read
 * costs ~90 ns under kvm-clock, two per loop were ~5% of the zoo dscnn
 * at 2 threads), else it goes to the team from then on. Which thread runs
 * a chunk never changes what it computes: only the time depends on this. */
/* Loops remembered: an open-addressed table, a loop's slot found by
 * probing SMALL_PROBE slots from its hash. A loop keeps its slot for the
 * life of the process (never evicted: with a direct-mapped table, two
 * loops of one model whose keys shared a slot took it from each other
 * every inference and were timed one after another for ever, and which
 * two shared one depended on the functions' addresses, so on the build:
 * PP-OCRv4 det int8 at 2 threads 1.75 or 2.0 ms for one source). A loop
 * that finds no free slot within SMALL_PROBE runs on the team. */
#define SMALL_SLOTS 8192
#define SMALL_PROBE 32

/* One remembered loop (fields atomic: two callers may race for a free
 * slot; a loop seen in two slots, or a slot read while being filled, can
 * only change where a loop runs). */
typedef struct small_slot {
    qb_gpar_body body; /* the loop: body (NULL: a free slot), rows, rows per chunk */
    int64_t n, chunk;  /* (chunk is stored last: a slot whose chunk matches is filled) */
    int64_t best_ns;   /* fastest run one after another so far */
    int runs;          /* runs timed one after another */
} small_slot;

static small_slot small[SMALL_SLOTS];
/* What small_loop returns for a loop already known to run alone (not
 * timed again). */
static small_slot decided_alone;
int64_t qb_gpar_min_ns = -1;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Chunks 0..nc-1 one after another on this thread. */
static void serial_for(int64_t n, int64_t chunk, int64_t nc, qb_gpar_body body, void *ctx)
{
    for (int64_t i = 0; i < nc; i++)
        body(ctx, i * chunk, i * chunk + chunk < n ? i * chunk + chunk : n);
}

/* The threshold in nanoseconds (read from the environment once). */
static int64_t min_ns_now(void)
{
    if (__atomic_load_n(&qb_gpar_min_ns, __ATOMIC_RELAXED) < 0) {
        const char *env = getenv("QB_GPAR_MIN_US");
        __atomic_store_n(&qb_gpar_min_ns, (int64_t)(env && *env ? atof(env) * 1000 : QB_GPAR_MIN_US * 1000),
                         __ATOMIC_RELAXED);
    }
    return __atomic_load_n(&qb_gpar_min_ns, __ATOMIC_RELAXED);
}

/* The slot of the loop (body, n, chunk); with claim, a free slot taken
 * for it when it has none (timed from its first run). NULL: not
 * remembered (none free within SMALL_PROBE, or not claimed). */
static small_slot *slot_of(int64_t n, int64_t chunk, qb_gpar_body body, int claim)
{
    uint64_t h = ((uint64_t)(uintptr_t)body ^ (uint64_t)n * 0x9e3779b97f4a7c15u ^ (uint64_t)chunk * 0xc2b2ae3d27d4eb4fu);
    h ^= h >> 29 ^ h >> 41;
    for (int i = 0; i < SMALL_PROBE; i++) {
        small_slot *s = &small[(h + (uint64_t)i) % SMALL_SLOTS];
        qb_gpar_body b = __atomic_load_n(&s->body, __ATOMIC_ACQUIRE);
        if (b == body && __atomic_load_n(&s->chunk, __ATOMIC_ACQUIRE) == chunk &&
            __atomic_load_n(&s->n, __ATOMIC_RELAXED) == n)
            return s;
        if (b)
            continue;
        if (!claim)
            return NULL;
        qb_gpar_body none = NULL;
        if (!__atomic_compare_exchange_n(&s->body, &none, body, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            i--; /* another caller took it first: look at it again (it may be this loop) */
            continue;
        }
        __atomic_store_n(&s->best_ns, INT64_MAX, __ATOMIC_RELAXED);
        __atomic_store_n(&s->runs, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->n, n, __ATOMIC_RELAXED);
        __atomic_store_n(&s->chunk, chunk, __ATOMIC_RELEASE);
        return s;
    }
    return NULL;
}

/* The loop's slot when it is to run one after another, timed (a probe),
 * &decided_alone when it runs alone untimed, or NULL for the team. */
static small_slot *small_loop(int64_t n, int64_t chunk, qb_gpar_body body)
{
    int64_t min_ns = min_ns_now();
    if (min_ns <= 0)
        return NULL;
    small_slot *s = slot_of(n, chunk, body, 1);
    if (!s)
        return NULL;
    if (__atomic_load_n(&s->runs, __ATOMIC_RELAXED) < QB_GPAR_PROBES)
        return s;
    if (__atomic_load_n(&s->best_ns, __ATOMIC_RELAXED) < min_ns)
        return &decided_alone;
    return NULL;
}

int qb_gpar_alone(int64_t n, int64_t chunk, qb_gpar_body body)
{
    if (chunk >= n || chunk < 1 || qb_gpar_whole || qb_gpar_threads() < 2)
        return 1;
    int64_t min_ns = min_ns_now();
    small_slot *s = min_ns > 0 ? slot_of(n, chunk, body, 0) : NULL;
    return s && __atomic_load_n(&s->runs, __ATOMIC_RELAXED) >= QB_GPAR_PROBES &&
           __atomic_load_n(&s->best_ns, __ATOMIC_RELAXED) < min_ns;
}

void qb_gpar_for(int64_t n, int64_t chunk, qb_gpar_body body, void *ctx)
{
    if (n <= 0)
        return;
    if (qb_gpar_whole || chunk >= n || chunk < 1) {
        body(ctx, 0, n);
        return;
    }
    int64_t nc = (n + chunk - 1) / chunk;
    int threads = qb_gpar_threads();
    if (threads < 2) {
        serial_for(n, chunk, nc, body, ctx);
        return;
    }
    small_slot *s = small_loop(n, chunk, body);
    if (s == &decided_alone) {
        serial_for(n, chunk, nc, body, ctx);
        return;
    }
    if (s) {
        int64_t t0 = now_ns();
        serial_for(n, chunk, nc, body, ctx);
        int64_t t = now_ns() - t0;
        if (t < __atomic_load_n(&s->best_ns, __ATOMIC_RELAXED))
            __atomic_store_n(&s->best_ns, t, __ATOMIC_RELAXED);
        int r = __atomic_load_n(&s->runs, __ATOMIC_RELAXED);
        if (r < QB_GPAR_PROBES)
            __atomic_store_n(&s->runs, r + 1, __ATOMIC_RELAXED);
        return;
    }
    if (team_for(n, chunk, nc, threads, body, ctx) == 0) {
        __atomic_fetch_add(&qb_gpar_regions, 1, __ATOMIC_RELAXED);
        return;
    }
    serial_for(n, chunk, nc, body, ctx); /* the team is busy with another caller's loop */
}

size_t qb_gpar_a_size(const qb_kernel *k)
{
    switch (k->prec) {
    case QB_PREC_FP32:
    case QB_PREC_FP16: return sizeof(float);
    case QB_PREC_BINARY: return sizeof(uint64_t);
    default: return 1; /* int8-*, int4 */
    }
}

size_t qb_gpar_c_size(const qb_kernel *k, const qb_gemm_args *a)
{
    if (qb_precision_is_int8(k->prec))
        return a->out_i32 ? sizeof(int32_t) : 1;
    return sizeof(float);
}

size_t qb_gpar_dw_size(const qb_kernel *k) { return k->prec == QB_PREC_FP32 ? sizeof(float) : 1; }

void qb_gpar_gemm_rows(const qb_packed *p, const qb_gemm_args *a, int64_t i0, int64_t i1, qb_gemm_args *out)
{
    *out = *a;
    out->m = (int)(i1 - i0);
    out->a = (const char *)a->a + (size_t)i0 * a->lda * qb_gpar_a_size(p->kernel);
    out->c = (char *)a->c + (size_t)i0 * a->ldc * qb_gpar_c_size(p->kernel, a);
}

void qb_gpar_dw_rows(const qb_dw_args *a, int oy0, int oy1, size_t es_x, size_t es_y, qb_dw_args *out)
{
    *out = *a;
    /* the first input row the chunk reads (rows above it are either
     * padding for every output of the chunk, or not read at all) */
    int iy_lo = oy0 * a->stride_h - a->pad_t;
    iy_lo = iy_lo < 0 ? 0 : iy_lo > a->h ? a->h : iy_lo;
    size_t row_x = (size_t)a->w * a->c, row_y = (size_t)a->out_w * a->c;
    out->x = (const char *)a->x + (size_t)iy_lo * row_x * es_x;
    out->h = a->h - iy_lo;
    /* local input row of local output row j, tap ky: j*s - pad_t' + ky*d
     * = (oy0 + j)*s - pad_t + ky*d - iy_lo, the global row minus iy_lo; it
     * is outside [0, h') exactly when the global row is outside [0, h) */
    out->pad_t = a->pad_t - oy0 * a->stride_h + iy_lo;
    out->y = (char *)a->y + (size_t)oy0 * row_y * es_y;
    out->out_h = oy1 - oy0;
}

int qb_gpar_gemm_cols(const qb_packed *p, const qb_gemm_args *a, int64_t n0, int64_t n1, qb_packed *pv,
                      qb_gemm_args *out)
{
    if (qb_packed_columns(p, (int)n0, (int)n1, pv))
        return -1;
    *out = *a;
    out->c = (char *)a->c + (size_t)n0 * qb_gpar_c_size(p->kernel, a);
    if (p->kernel->prec == QB_PREC_INT8_CHANNEL)
        out->rq = a->rq + n0;
    return 0;
}

int64_t qb_gpar_col_chunk(const qb_packed *p, int m)
{
    if (!(p->kernel->flags & QB_KF_COLUMNS) || m < 1 || p->n <= QB_PACK_COLS || qb_gpar_threads() < 2)
        return 0; /* one thread: one call (the same bits as the slices, test_kernels), no per-slice A pack */
    int64_t rows = qb_gpar_chunk(m, (int64_t)p->n * p->k, QB_GPAR_ALIGN);
    if (rows < m)
        return 0; /* several row chunks: split M */
    int64_t cols = chunk_of(p->n, (int64_t)m * p->k, QB_PACK_COLS, QB_GPAR_MIN_COL_WORK);
    return cols < p->n ? cols : 0;
}

typedef struct gemm_job {
    const qb_packed *p;    /* packed weights and kernel */
    const qb_gemm_args *a; /* the whole call */
} gemm_job;

static void gemm_body(void *ctx, int64_t i0, int64_t i1)
{
    const gemm_job *j = ctx;
    qb_gemm_args a;
    qb_gpar_gemm_rows(j->p, j->a, i0, i1, &a);
    j->p->kernel->run.gemm(j->p, &a);
}

static void gemm_cols_body(void *ctx, int64_t n0, int64_t n1)
{
    const gemm_job *j = ctx;
    qb_packed pv;
    qb_gemm_args a;
    if (qb_gpar_gemm_cols(j->p, j->a, n0, n1, &pv, &a) == 0) /* chunks of qb_gpar_col_chunk always slice */
        pv.kernel->run.gemm(&pv, &a);
}

void qb_gpar_gemm(const qb_packed *p, const qb_gemm_args *a)
{
    gemm_job j = {p, a};
    int64_t cols = qb_gpar_col_chunk(p, a->m);
    if (cols > 0)
        qb_gpar_for(p->n, cols, gemm_cols_body, &j);
    else
        qb_gpar_for(a->m, qb_gpar_chunk(a->m, (int64_t)p->n * p->k, QB_GPAR_ALIGN), gemm_body, &j);
}

typedef struct dw_job {
    const qb_packed *p;  /* packed weights and kernel */
    const qb_dw_args *a; /* the whole call */
    size_t es;           /* element bytes of x and y */
} dw_job;

static void dw_body(void *ctx, int64_t i0, int64_t i1)
{
    const dw_job *j = ctx;
    qb_dw_args a;
    qb_gpar_dw_rows(j->a, (int)i0, (int)i1, j->es, j->es, &a);
    j->p->kernel->run.dw(j->p, &a);
}

void qb_gpar_dw(const qb_packed *p, const qb_dw_args *a)
{
    dw_job j = {p, a, qb_gpar_dw_size(p->kernel)};
    /* chunks run one after another (one thread, or a small loop): one call (the chunks would only
     * repeat the kernel's per-call set-up) */
    int64_t chunk = qb_gpar_chunk(a->out_h, (int64_t)a->out_w * a->c * a->kh * a->kw, 1);
    if (qb_gpar_alone(a->out_h, chunk, dw_body))
        chunk = a->out_h;
    qb_gpar_for(a->out_h, chunk, dw_body, &j);
}
