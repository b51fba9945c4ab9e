/*
 * journal.h - the on-disk record of finished work: an append-only JSON-lines
 * file under --state-dir. One record per finished blob (target registry,
 * repository, digest, size) and per finished image (source reference and
 * digest, target reference). Loaded at start-up to seed the blob table;
 * tolerant of a torn last line after a crash (it is ignored and the file is
 * truncated to the last complete record before appending). Records are
 * fsynced in batches and on close. Never holds a secret.
 */
#ifndef IT_JOURNAL_H
#define IT_JOURNAL_H

#include <stdint.h>

#include "errbuf.h"

typedef struct it_journal it_journal;

/* A record as loaded, handed to the callbacks of it_journal_open. */
typedef struct it_journal_visitor {
    void (*blob)(void *payload, const char *registry, const char *repo,
                 const char *digest, int64_t size);
    void (*image)(void *payload, const char *source, const char *digest,
                  const char *target);
    void *payload;
} it_journal_visitor;

/* Opens (creating dirs as needed) STATE_DIR/journal.jsonl, replays the
 * records through v (may be NULL), then keeps the file open for appends.
 * The state dir is checked (it_state_dir_open); a journal that is a
 * symbolic link or not a regular file is refused. Returns 0 or -1 with a
 * message. */
int it_journal_open(it_journal **out, const char *state_dir,
                    const it_journal_visitor *v, it_errbuf *err);
/* Appends; thread-safe. Errors are remembered and reported by close. */
void it_journal_blob(it_journal *j, const char *registry, const char *repo,
                     const char *digest, int64_t size);
void it_journal_image(it_journal *j, const char *source, const char *digest,
                      const char *target);
/* fsyncs what was appended. */
void it_journal_flush(it_journal *j);
/* Flushes and closes. Returns 0, or -1 when some write failed. */
int it_journal_close(it_journal *j);
/* Creates path and its missing parents (mode 0700), like mkdir -p.
 * Returns 0 or -1 (errno set). */
int it_make_dirs(const char *path);
/* Number of records replayed at open, and torn last lines (a last line
 * without its newline, cut off: 0 or 1). */
void it_journal_stats(const it_journal *j, long *records, long *torn);
/* Complete lines skipped at open (each with a warning naming its line
 * number): not a valid record, or longer than 64 KiB (never read whole).
 * They stay in the file; the records after them are replayed. */
long it_journal_skipped(const it_journal *j);
/* Creates the state dir (like it_make_dirs) and opens it (O_DIRECTORY):
 * refused, with a message, when it is owned by another user or writable by
 * other users (by its group, unless that group is the user's own). Files
 * in it are then opened relative to the returned descriptor with
 * O_NOFOLLOW. Returns the descriptor (close it) or -1. */
int it_state_dir_open(const char *state_dir, it_errbuf *err);

#endif /* IT_JOURNAL_H */
