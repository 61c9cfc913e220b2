/* SPDX-License-Identifier: BSD-3-Clause
 * cv_journal.h: the resume journal. Each rank appends the id of every task whose writes
 * succeeded to its own file <dir>/rank-<r>.log; --resume reads every rank's file (the rank count
 * may differ between runs) and skips those tasks. Chunk-aligned writes are idempotent, so a
 * journal entry lost in a crash only means the task is redone. */
#ifndef CV_JOURNAL_H
#define CV_JOURNAL_H

#include "../cv_internal.h"

typedef struct cv_journal cv_journal;

/* Open this rank's journal in `dir` (created if needed) for a job identified by `signature`.
 * With `resume`, load the finished tasks of every rank; a journal of another job is an error.
 * Without it, existing journals of this job are discarded (rank 0 only, then a barrier is the
 * caller's job). */
cv_status cv_journal_open(const char *dir, const char *signature, int rank, bool resume,
                          uint64_t n_tasks, cv_journal **out);
/* Open this rank's file for appending. Call it on every rank only after every rank has opened
 * (loaded) the journal, so no rank reads a file another is just creating. */
cv_status cv_journal_start(cv_journal *j);
bool cv_journal_is_done(const cv_journal *j, uint64_t id);
uint64_t cv_journal_count_done(const cv_journal *j);
cv_status cv_journal_record(cv_journal *j, uint64_t id);
void cv_journal_close(cv_journal *j);
/* Remove every rank's file of a finished job (rank 0 after all ranks closed theirs). */
void cv_journal_remove(const char *dir);

#endif
