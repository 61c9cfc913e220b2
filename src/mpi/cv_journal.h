/* SPDX-License-Identifier: BSD-3-Clause
 * cv_journal.h: the resume journal. Each rank appends one fixed-size, checksummed record per
 * task whose writes succeeded to its own file <dir>/rank-<r>.log; --resume skips those tasks.
 * With P ranks resuming, rank r reads only the files of earlier ranks r, r + P, ... (whatever
 * rank count wrote them), then one bitwise-OR MPI_Allreduce of the done bitmaps gives every
 * rank the whole set: O(own share) reads per rank. Chunk-aligned writes are idempotent, so a
 * record lost in a crash only means the task is redone.
 *
 * Durability: a record is written with one write() after the task's objects were renamed into
 * place (file://) or acknowledged by the server (s3://, gs://), so a crash or kill of the
 * process never records a task whose chunks are missing. The journal is fsynced when a rank
 * closes it; neither chunks nor records are fsynced one by one, so a power loss or kernel crash
 * of the machine holding a file:// destination can lose both: run `cvmpi verify` after one. */
#ifndef CV_JOURNAL_H
#define CV_JOURNAL_H

#include "base/cv_internal.h"

typedef struct cv_journal cv_journal;

/* The journal directory of a job into `dir`: `journal_dir` (--journal) when given; otherwise
 * <destination directory>/.cvmpi-journal/<job id> for a file:// destination (shared by every
 * rank that can write the destination), and $XDG_STATE_HOME/cvmpi/journal/<job id> (or
 * $HOME/.local/state/cvmpi/journal/<job id>) for any other, since a journal must be a local
 * file for appends. <job id> is a hash of the job signature. */
cv_status cv_journal_dir(const char *journal_dir, const char *dst_url, const char *signature,
                         char *dir, size_t cap);

/* Open this rank's journal in `dir` (created if needed) for a job identified by `signature`.
 * With `resume`, load the finished tasks of every rank's file (collective when MPI is active:
 * each rank reads its share, then the ranks merge; one process alone reads every file); a
 * journal of another job is an error. Without it, existing journals of this job are discarded
 * (rank 0 only, then a barrier is the caller's job). */
cv_status cv_journal_open(const char *dir, const char *signature, int rank, bool resume,
                          uint64_t n_tasks, cv_journal **out);
/* Open this rank's file for appending, first cutting a record torn by a crash off its end.
 * Call it on every rank only after every rank has opened (loaded) the journal, so no rank reads
 * a file another is just creating. */
cv_status cv_journal_start(cv_journal *j);
/* Collective: cv_journal_open and cv_journal_start on every rank with the barriers between
 * them (rank 0 first removes an earlier journal of the job unless `resume`). */
cv_status cv_journal_begin(const char *dir, const char *signature, bool resume, uint64_t n_tasks,
                           cv_journal **out);
/* The job signature in the header of <dir>/rank-0.log into `buf`; false when there is none.
 * Not collective: a job whose signature names parameters that the resumed run must re-use
 * (the exchange's round geometry) reads them here before opening the journal. */
bool cv_journal_peek_signature(const char *dir, char *buf, size_t cap);
bool cv_journal_is_done(const cv_journal *j, uint64_t id);
/* Tasks finished by any rank of earlier runs (the same on every rank). */
uint64_t cv_journal_count_done(const cv_journal *j);
/* Records whose checksum or framing was wrong when loaded, summed over every rank's files
 * (their tasks are redone). */
uint64_t cv_journal_count_bad(const cv_journal *j);
cv_status cv_journal_record(cv_journal *j, uint64_t id);
void cv_journal_close(cv_journal *j);
/* Remove every rank's file of a job (rank 0 after all ranks closed theirs), the directory and,
 * when empty, its parent .cvmpi-journal directory. */
void cv_journal_remove(const char *dir);
/* Collective end of a job: close this rank's journal; when the job succeeded and `keep` is
 * false, rank 0 removes the journal once every rank has closed its file. */
void cv_journal_end(cv_journal *j, const char *dir, cv_status job_rc, bool keep);

#endif
