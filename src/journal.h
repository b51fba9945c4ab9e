/*
 * journal.h - the on-disk record of finished work: an SQLite database,
 * STATE_DIR/journal.db (WAL mode, with its -wal and -shm files). One record
 * per finished blob (target registry, repository, digest, size; keyed by
 * registry, digest and repository) and per finished image (source and
 * target reference, keyed by both, and the source digest). Lookups go to
 * the indexed tables: opening reads no record into memory. Appends go into
 * a transaction committed every 500 records or 250 ms, on flush and on
 * close: a kill -9 loses at most that last batch and never damages the
 * file. Several processes (shards) may use one state dir at the same time.
 * The JSON-lines journal of earlier versions (STATE_DIR/journal.jsonl) is
 * imported once at open, then renamed journal.jsonl.imported. Never holds a
 * secret.
 */
#ifndef IT_JOURNAL_H
#define IT_JOURNAL_H

#include <stddef.h>
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

/* Opens (creating dirs as needed) STATE_DIR/journal.db, first importing
 * STATE_DIR/journal.jsonl when there is one, then hands every record to v
 * (blobs, then images). With v NULL nothing is read into memory (the
 * record count is kept in a meta table). The state dir is checked
 * (it_state_dir_open); a journal.db, -wal, -shm or journal.jsonl that is a
 * symbolic link or not a regular file is refused, and so is a damaged
 * journal.db (not a database, or, up to 128 MiB, failing PRAGMA
 * quick_check), with a message naming the file and the fix. Returns 0 or
 * -1 with a message. */
int it_journal_open(it_journal **out, const char *state_dir,
                    const it_journal_visitor *v, it_errbuf *err);
/* Appends; thread-safe. A record with the key of an earlier one replaces
 * it. Errors are remembered (and logged) and reported by close. */
void it_journal_blob(it_journal *j, const char *registry, const char *repo,
                     const char *digest, int64_t size);
void it_journal_image(it_journal *j, const char *source, const char *digest,
                      const char *target);
/* Commits what was appended (synchronous=NORMAL: it survives a crash of
 * the process; a power loss may lose the last commits). */
void it_journal_flush(it_journal *j);
/* Flushes and closes. Returns 0, or -1 when some write failed. */
int it_journal_close(it_journal *j);
/* Creates path and its missing parents (mode 0700), like mkdir -p.
 * Returns 0 or -1 (errno set). */
int it_make_dirs(const char *path);
/* Number of records in the journal at open (after the import), and torn
 * last lines of an imported journal.jsonl (a last line without its
 * newline, dropped: 0 or 1). */
void it_journal_stats(const it_journal *j, long *records, long *torn);
/* Complete lines of an imported journal.jsonl skipped (each with a warning
 * naming its line number): not a valid record, or longer than 64 KiB
 * (never read whole). The records after them are imported. */
long it_journal_skipped(const it_journal *j);
/* Records imported from journal.jsonl at this open (0: there was none). */
long it_journal_imported(const it_journal *j);

/* Lookups; thread-safe. They see the records appended by this handle,
 * committed or not, and those committed by other processes. */

/* 1 and the digest (copied into digest, cap bytes) when an image record
 * source -> target exists, 0 when none, -1 on a read error (message kept
 * for close/log). */
int it_journal_image_digest(it_journal *j, const char *source,
                            const char *target, char *digest, size_t cap);
/* Drops the image record source -> target (a rerun found the target tag
 * gone, or --verify found it different). */
void it_journal_image_forget(it_journal *j, const char *source,
                             const char *target);
/* Creation times (issue 14, --latest in generic mode): the `created` of
 * the image whose manifest digest is `digest` in registry/repo, in Unix
 * seconds, LLONG_MIN for "the image has none". The lookup returns 1 with
 * *created set when recorded, 0 when not (*created = LLONG_MIN), -1 on a
 * read error. */
void it_journal_created_record(it_journal *j, const char *registry,
                               const char *repo, const char *digest,
                               long long created);
int it_journal_created(it_journal *j, const char *registry, const char *repo,
                       const char *digest, long long *created);
/* --verify (issue 13): the target tag has the source digest but something
 * under it is absent: drops the image record and marks it for repair, so
 * the next copy run copies it again (what is present is skipped). The
 * mark goes when the image is recorded again (it_journal_image). */
void it_journal_image_repair(it_journal *j, const char *source,
                             const char *target);
/* 1 when source -> target is marked for repair, 0 not, -1 error. */
int it_journal_image_needs_repair(it_journal *j, const char *source,
                                  const char *target);
/* 1 when a blob record (registry, repo, digest) exists, 0 not, -1 error. */
int it_journal_blob_in(it_journal *j, const char *registry, const char *repo,
                       const char *digest);
/* 1 and *repo_out (malloc'd) = some repository of registry recorded to
 * hold digest (for a mount source, preferring one other than `except`,
 * which may be NULL), 0 none, -1 error. */
int it_journal_blob_any(it_journal *j, const char *registry, const char *digest,
                        const char *except, char **repo_out);
/* Resume across restarts: the open upload session of a large blob in a
 * target repository (URL on the target, bytes it confirmed). put upserts
 * (batched like the records), forget drops it; get: 1 with *url_out
 * (malloc'd) and *held_out, 0 none, -1 error. The URL is target data, not
 * a secret; the copier checks it is on the target before reusing it. */
void it_journal_upload_put(it_journal *j, const char *registry,
                           const char *repo, const char *digest,
                           const char *url, int64_t held);
void it_journal_upload_forget(it_journal *j, const char *registry,
                              const char *repo, const char *digest);
int it_journal_upload_get(it_journal *j, const char *registry, const char *repo,
                          const char *digest, char **url_out,
                          int64_t *held_out);

/* Creates the state dir (like it_make_dirs) and opens it (O_DIRECTORY):
 * refused, with a message, when it is owned by another user or writable by
 * other users (by its group, unless that group is the user's own). Files
 * in it are then opened relative to the returned descriptor with
 * O_NOFOLLOW. Returns the descriptor (close it) or -1. */
int it_state_dir_open(const char *state_dir, it_errbuf *err);

/* issue 14, platforms: an image copied with a platform filter. The
 * record (keyed by source and target, like an image record) keeps the
 * source digest, the filter (it_platform_set_key), the digest the target
 * tag got (a filtered index) and the platforms copied (comma-separated). */
#define IT_JOURNAL_DIGEST_CAP 72
void it_journal_platform_image(it_journal *j, const char *source,
                               const char *target, const char *digest,
                               const char *filter, const char *target_digest,
                               const char *platforms);
/* 1 with the record's digests and *platforms (malloc'd) when source ->
 * target was copied with this same filter, 0 when not (or with another
 * filter), -1 on a read error. */
int it_journal_platform_get(it_journal *j, const char *source,
                            const char *target, const char *filter,
                            char digest[IT_JOURNAL_DIGEST_CAP],
                            char target_digest[IT_JOURNAL_DIGEST_CAP],
                            char **platforms);

#endif /* IT_JOURNAL_H */
