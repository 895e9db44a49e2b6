/*
 * rounds.h - the journal of a sweep timed in rounds (`rounds = R` > 1),
 * so that a killed sweep loses at most the round in progress. The cells
 * of a chunk are timed round-robin and their rows are written only after
 * their last round; until then each cell's row (after its first round:
 * accuracy, counters, memory) and every round's samples are appended to
 * two files beside the results, each record with one write and an fsync:
 *   DIR/rounds-pending.csv      the rows, in the results CSV format
 *   DIR/rounds-pending.samples  one line per round:
 *       cell<TAB>block<TAB>calls_per_sample<TAB>batch<TAB>inputs_hash<TAB>n<TAB>x1 x2 ... xn
 * `sweep --resume` restores every pending cell that results.csv does not
 * finish yet and times only its missing rounds (so each row is written
 * once); a record cut off by the kill is ignored. Both files are removed
 * once the rows of their chunk are in results.csv (docs/measurement.md).
 */
#ifndef QB_ROUNDS_H
#define QB_ROUNDS_H

#include "harness/measure/samples.h"
#include "harness/report/results.h"

typedef struct qb_rounds_saved qb_rounds_saved;

/* An open journal. */
typedef struct qb_rounds_journal {
    char rows_path[1100];     /* DIR/rounds-pending.csv */
    char samples_path[1100];  /* DIR/rounds-pending.samples */
    qb_results_writer rows;   /* open writer of rows_path (rows_open) */
    int rows_open;            /* rows is open */
    int fd;                   /* samples_path, O_APPEND (-1: not open yet) */
    qb_rounds_saved *saved;   /* cells restored from the files (resume) */
    int nsaved;               /* entries of saved */
} qb_rounds_journal;

/* Open the journal of the sweep writing into dir. resume: read the cells
 * a killed run left (their rows, if parseable, and every complete round
 * line), else remove stale files. 0, or -1 with err (a file that cannot
 * be read or removed). */
int qb_rounds_open(qb_rounds_journal *j, const char *dir, int resume, char *err, size_t errlen);

/* A cell restored from the journal: 1 with its row and samples (blocks
 * 0 .. k-1 as timed; the caller frees kept), 0 when the journal does not
 * hold it (or holds only a failed first round). Each cell is handed out
 * once. */
int qb_rounds_take(qb_rounds_journal *j, const char *cell, qb_result_row *row, qb_samples_kept *kept);

/* Record a cell's first round: its row and its samples (block 0). 0, or
 * -1 with err. */
int qb_rounds_first(qb_rounds_journal *j, const char *cell, const qb_result_row *row, const qb_samples_kept *kept,
                    char *err, size_t errlen);

/* Record a later round: the last block of kept. 0, or -1 with err. */
int qb_rounds_more(qb_rounds_journal *j, const char *cell, const qb_samples_kept *kept, char *err, size_t errlen);

/* Every pending row is in the results file now: remove both files. 0, or
 * -1 with err. */
int qb_rounds_clear(qb_rounds_journal *j, char *err, size_t errlen);

/* Close (the files stay for --resume unless cleared) and free. */
void qb_rounds_close(qb_rounds_journal *j);

#endif
