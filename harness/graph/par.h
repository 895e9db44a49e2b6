/*
 * par.h - multi-threaded inference in the model engine (OpenMP): the
 * kernels stay single-threaded and are called on disjoint row chunks of
 * their operands, in parallel.
 *
 * Determinism: chunks depend only on the shapes (rows per chunk from the
 * work per row, in multiples of a fixed alignment), never on the thread
 * count, and every output element is written by exactly one chunk, so any
 * number of threads gives bit-identical results. Chunks run one after
 * another where threads are not worth it (little work, one thread, or
 * already inside a chunk of another loop: never nested).
 *
 * Thread count: one unless asked for, by OMP_NUM_THREADS in the
 * environment or by qb_gpar_set_threads (the sweep's threads axis); then
 * omp_get_max_threads(). (libgomp's default, every CPU with spinning
 * waits, made inference on a busy machine many times slower.)
 *
 * The threads: the engine's own team (par.c), not OpenMP regions. The
 * caller publishes a loop cut into one contiguous home segment per
 * thread; each thread takes its own segment's chunks from the front (so
 * a thread runs the same rows layer after layer, in its own cache), then
 * steals the others' from their back (a slow or descheduled CPU gets
 * fewer); the caller waits only for chunks already taken, never for a
 * worker to show up; an idle
 * worker spins QB_GPAR_SPIN_US, yielding the CPU every few microseconds,
 * then sleeps on a condition variable. One loop at a time: a second
 * caller, or a loop inside a chunk, runs its chunks alone; so does a
 * loop whose chunks take under QB_GPAR_MIN_US one after another (timed
 * on its first runs: a worker would spend more on reading the caller's
 * rows from the other core's cache, and the caller on the worker's, than
 * it saves). Which thread runs a chunk never changes what it computes.
 *
 * A GEMM of few rows (one row chunk: M = 1 of a batch-1 Gemm or MatMul)
 * whose kernel's pack is panel-major in N (QB_KF_COLUMNS) is split over
 * N instead: chunks of QB_PACK_COLS-multiple columns, each a kernel call
 * on a view into the one pack (qb_packed_columns) with C, the biases and
 * the per-channel multipliers offset. The rule depends on the shapes and
 * the kernel only, so still identical for every thread count.
 *
 * What a chunk computes: row i of a GEMM chunk, and output row oy of a
 * depthwise chunk, are the same arithmetic as in one whole call for the
 * integer precisions (int8-*, int4, binary: exact by their definition in
 * kernels.h) and for depthwise (per pixel). The float GEMM kernels block
 * K and pick their row groups from M, so an fp32/fp16 row may round
 * differently from a whole call with another M (as a different batch
 * size does); still identical for every thread count.
 */
#ifndef QB_GRAPH_PAR_H
#define QB_GRAPH_PAR_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"

/* GEMM chunks start at multiples of this many rows (a multiple of every
 * kernel's row tile: 4, 6, 8, 16). */
#define QB_GPAR_ALIGN 48
/* Least work per chunk (multiply-accumulates, or elements moved): about
 * 10 microseconds of kernel time, far above a region's fork/join cost. */
#define QB_GPAR_MIN_WORK 65536
/* Least work per column chunk (few rows split over N): a row of A times
 * 256 K of weights; below that (the zoo mlp's 784 x 256 at batch 1:
 * 2.5 us on one thread, 5.1 us on two, load 11) the parallel region
 * costs more than it saves. */
#define QB_GPAR_MIN_COL_WORK 262144
/* Microseconds an idle worker of the team spins for the next loop
 * before it sleeps (QB_GPAR_SPIN_US in the environment overrides it). */
#define QB_GPAR_SPIN_US 100
/* A loop whose chunks take less than this many microseconds one after
 * another (its fastest of the first runs) runs them on the caller alone
 * (QB_GPAR_MIN_US in the environment overrides it; 0: every loop of
 * several chunks on the team). */
#define QB_GPAR_MIN_US 10
/* Runs of a loop timed one after another before it may go to the team. */
#define QB_GPAR_PROBES 3
/* Most chunks of one call (bigger chunks beyond that). */
#define QB_GPAR_MAX_CHUNKS 64

/* Tests: nonzero makes every helper do its whole range in one piece (one
 * kernel call), to compare chunked results with unchunked ones. */
extern int qb_gpar_whole;

/* Bytes of im2col output (A) per block of a Conv (ops_conv.c): im2col
 * and the GEMM run block by block so that A is still in cache when the
 * GEMM reads it; 0: one block (tests compare the two: the same bits). */
extern int64_t qb_gpar_conv_block;
/* Nanoseconds under which a loop runs alone (QB_GPAR_MIN_US; -1 until
 * the first loop reads the environment; tests set 0: every loop of
 * several chunks on the team). */
extern int64_t qb_gpar_min_ns;
/* Loops run on the team so far (diagnostics and tests). */
extern long qb_gpar_regions;

/* Run the engine on n threads from now on (omp_set_num_threads(n) and
 * marks the count as asked for); without OpenMP, nothing. */
void qb_gpar_set_threads(int n);
/* Threads a loop of the engine would get now (1 inside a chunk of one). */
int qb_gpar_threads(void);

/* Rows per chunk for n rows of row_work units each: a multiple of align
 * (or n), at least QB_GPAR_MIN_WORK units, at most QB_GPAR_MAX_CHUNKS
 * chunks. Depends on the arguments only. */
int64_t qb_gpar_chunk(int64_t n, int64_t row_work, int64_t align);

/* A piece of work: rows [i0, i1) of whatever ctx describes. */
typedef void (*qb_gpar_body)(void *ctx, int64_t i0, int64_t i1);

/* body over [0, n) in pieces of chunk rows (qb_gpar_chunk), on the team
 * when there are several pieces, more than one thread, no enclosing loop
 * and no other caller on the team; else one piece after another. */
void qb_gpar_for(int64_t n, int64_t chunk, qb_gpar_body body, void *ctx);

/* Nonzero when qb_gpar_for(n, chunk, body, ...) would run its chunks
 * one after another on this thread (one thread, one chunk, inside a
 * chunk, or a loop found small): a caller that cuts chunks only for the
 * threads may then make one call. */
int qb_gpar_alone(int64_t n, int64_t chunk, qb_gpar_body body);

/* Bytes per element of A and of C of a GEMM kernel call (A of binary:
 * one uint64 word, as lda counts words). */
size_t qb_gpar_a_size(const qb_kernel *k);
size_t qb_gpar_c_size(const qb_kernel *k, const qb_gemm_args *a);
/* Bytes per element of x and y of a depthwise kernel (float or int8). */
size_t qb_gpar_dw_size(const qb_kernel *k);

/* out = a restricted to rows [i0, i1) of A and C. */
void qb_gpar_gemm_rows(const qb_packed *p, const qb_gemm_args *a, int64_t i0, int64_t i1, qb_gemm_args *out);
/* out = a restricted to output rows [oy0, oy1): x starts at the first
 * input row they read, pad_t and h shifted to match, y at row oy0. es_x,
 * es_y: element bytes of x and y. */
void qb_gpar_dw_rows(const qb_dw_args *a, int oy0, int oy1, size_t es_x, size_t es_y, qb_dw_args *out);

/* pv and out = p and a restricted to columns [n0, n1) of W and C (n0 a
 * multiple of QB_PACK_COLS, n1 one or p->n); -1 when p's kernel cannot
 * be sliced there (qb_packed_columns). */
int qb_gpar_gemm_cols(const qb_packed *p, const qb_gemm_args *a, int64_t n0, int64_t n1, qb_packed *pv,
                      qb_gemm_args *out);
/* Columns per chunk when a call of m rows on p splits N (a multiple of
 * QB_PACK_COLS, at least QB_GPAR_MIN_COL_WORK units), or 0 when it splits M (the kernel cannot slice its pack,
 * M makes several row chunks, N makes one column chunk, or one thread runs: slices would only repeat the A
 * pack per slice). */
int64_t qb_gpar_col_chunk(const qb_packed *p, int m);

/* p's GEMM kernel on a, split over M, or over N where qb_gpar_col_chunk says. */
void qb_gpar_gemm(const qb_packed *p, const qb_gemm_args *a);
/* p's depthwise kernel on a, split over output rows. */
void qb_gpar_dw(const qb_packed *p, const qb_dw_args *a);

#endif
