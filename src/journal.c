/* journal.c - the journal of finished blobs and images, in SQLite
 * (STATE_DIR/journal.db, WAL mode), with a one-time import of the JSON-lines
 * journal of earlier versions (STATE_DIR/journal.jsonl). */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define DB_NAME       "journal.db"
#define JSONL_NAME    "journal.jsonl"
#define IMPORTED_NAME "journal.jsonl.imported"
#define BATCH_RECORDS 500   /* records per transaction at most */
#define BATCH_MS      250   /* age of an open transaction at most */
#define BUSY_MS       30000 /* wait for another process's transaction */
#define CACHE_KIB     8192  /* page cache of the connection */
/* PRAGMA quick_check reads the whole file (about 1.4 s of CPU for 4M
 * records, 550 MiB): it runs at open up to this size, which keeps the open
 * of a journal of any length within ~0.5 s. Beyond it the open reads the
 * header and the schema, and damage met later is reported by the lookup or
 * append that meets it (with the same advice) and by close. */
#define QUICK_CHECK_MAX ((int64_t)128 * 1024 * 1024)

/* The statements, prepared once at open. */
enum {
    ST_INS_BLOB,
    ST_INS_IMAGE,
    ST_DEL_IMAGE,
    ST_GET_IMAGE,
    ST_HAS_BLOB,
    ST_ANY_BLOB,
    ST_ONE_BLOB,
    ST_INS_PLATFORM, /* issue 14, platforms */
    ST_GET_PLATFORM,
    ST_INS_CREATED, /* creation times (issue 14, --latest) */
    ST_GET_CREATED,
    /* --verify (issue 13): images to copy again though the target tag has
     * the source digest (something under it is absent) */
    ST_INS_REPAIR,
    ST_DEL_REPAIR,
    ST_GET_REPAIR,
    /* resume across restarts: open upload sessions */
    ST_UPS_PUT,
    ST_UPS_GET,
    ST_UPS_DEL,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    /* Upserts: a record with the key of an earlier one updates it (an
     * update fires no insert trigger: the count stays right). */
    [ST_INS_BLOB] = "INSERT INTO blobs(registry, digest, repo, size)"
                    " VALUES(?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE"
                    " SET size = excluded.size",
    [ST_INS_IMAGE] = "INSERT INTO images(source, target, digest)"
                     " VALUES(?1, ?2, ?3) ON CONFLICT DO UPDATE"
                     " SET digest = excluded.digest",
    [ST_DEL_IMAGE] = "DELETE FROM images WHERE source = ?1 AND target = ?2",
    [ST_GET_IMAGE] =
        "SELECT digest FROM images WHERE source = ?1 AND target = ?2",
    [ST_HAS_BLOB] = "SELECT 1 FROM blobs WHERE registry = ?1 AND digest = ?2"
                    " AND repo = ?3",
    /* A range scan of the primary key that stops at the first row. */
    [ST_ANY_BLOB] = "SELECT repo FROM blobs WHERE registry = ?1 AND digest = ?2"
                    " AND (?3 IS NULL OR repo <> ?3) LIMIT 1",
    [ST_ONE_BLOB] = "SELECT repo FROM blobs WHERE registry = ?1 AND digest = ?2"
                    " LIMIT 1",
    /* issue 14, platforms */
    [ST_INS_PLATFORM] =
        "INSERT INTO platform_images(source, target, digest, filter,"
        " target_digest, platforms) VALUES(?1, ?2, ?3, ?4, ?5, ?6)"
        " ON CONFLICT DO UPDATE SET digest = excluded.digest,"
        " filter = excluded.filter, target_digest = excluded.target_digest,"
        " platforms = excluded.platforms",
    [ST_GET_PLATFORM] = "SELECT digest, target_digest, platforms FROM"
                        " platform_images WHERE source = ?1 AND target = ?2"
                        " AND filter = ?3",
    /* creation times (issue 14, --latest); NULL = the image has none */
    [ST_INS_CREATED] = "INSERT INTO created(registry, repo, digest, created)"
                       " VALUES(?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE"
                       " SET created = excluded.created",
    [ST_GET_CREATED] = "SELECT created FROM created WHERE registry = ?1"
                       " AND repo = ?2 AND digest = ?3",
    /* --verify (issue 13) */
    [ST_INS_REPAIR] = "INSERT OR IGNORE INTO repairs(source, target)"
                      " VALUES(?1, ?2)",
    [ST_DEL_REPAIR] = "DELETE FROM repairs WHERE source = ?1 AND target = ?2",
    [ST_GET_REPAIR] = "SELECT 1 FROM repairs WHERE source = ?1 AND target = ?2",
    /* resume across restarts: open upload sessions */
    [ST_UPS_PUT] = "INSERT INTO uploads(registry, repo, digest, url, held)"
                   " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT DO UPDATE"
                   " SET url = excluded.url, held = excluded.held",
    [ST_UPS_GET] = "SELECT url, held FROM uploads WHERE registry = ?1"
                   " AND repo = ?2 AND digest = ?3",
    [ST_UPS_DEL] = "DELETE FROM uploads WHERE registry = ?1 AND repo = ?2"
                   " AND digest = ?3",
};

/* --verify (issue 13): images found incomplete, for the next copy run. Not
 * counted as records. */
static const char repairs_sql[] =
    "CREATE TABLE IF NOT EXISTS repairs("
    " source TEXT NOT NULL, target TEXT NOT NULL,"
    " PRIMARY KEY(source, target)) WITHOUT ROWID;";

struct it_journal {
    pthread_mutex_t lock; /* the connection, the statements, the batch */
    pthread_cond_t wake;  /* the committer: a batch opened, or closing */
    pthread_t committer;
    bool committer_on;
    bool stopping;
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    bool in_tx;       /* a batch (write transaction) is open */
    int pending;      /* records in it */
    int64_t tx_start; /* when it opened, it_now_mono_ms */
    int failed;
    char errmsg[1024]; /* the first error after open */
    char path[4096];   /* journal.db, for messages */
    long records;
    long torn;     /* import: a last line without its newline (0 or 1) */
    long skipped;  /* import: complete lines that were corrupt or too long */
    long imported; /* import: records read from journal.jsonl */
};

int it_make_dirs(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int it_state_dir_open(const char *state_dir, it_errbuf *err)
{
    if (it_make_dirs(state_dir) != 0) {
        snprintf(err->msg, sizeof(err->msg),
                 "state dir %.900s: cannot create: %s", state_dir,
                 strerror(errno));
        return -1;
    }
    int dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (dfd < 0 || fstat(dfd, &st) != 0) {
        snprintf(err->msg, sizeof(err->msg), "state dir %.900s: %s", state_dir,
                 strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return -1;
    }
    /* Whoever else can write here can swap the journal for a link to a
     * file of ours, or feed the next run forged records. Root may own it
     * (as OpenSSH's StrictModes allows): root can change anything anyway,
     * and a volume mounted by a container runtime (a Kubernetes subPath
     * with fsGroup) is root's, with the group of the pod's user. */
    const char *why = NULL;
    if (st.st_uid != geteuid() && st.st_uid != 0)
        why = "is owned by another user";
    else if (st.st_mode & S_IWOTH)
        why = "is writable by other users";
    else if ((st.st_mode & S_IWGRP) && st.st_gid != getegid())
        why = "is writable by its group";
    if (why) {
        snprintf(err->msg, sizeof(err->msg),
                 "state dir %.800s %s (uid %ld, mode %04o): refusing to keep "
                 "the journal there; use a directory of your own that only "
                 "you can write (chmod go-w), or another --state-dir",
                 state_dir, why, (long)st.st_uid,
                 (unsigned)(st.st_mode & 07777));
        close(dfd);
        return -1;
    }
    return dfd;
}

/* ------------------------------------------------------ errors, batches */

/* Keeps the first error after open (reported by close) and logs it. */
static void fail_locked(it_journal *j, const char *what)
{
    const char *why = j->db ? sqlite3_errmsg(j->db) : "out of memory";
    int code = j->db ? sqlite3_errcode(j->db) : SQLITE_NOMEM;
    bool damaged = code == SQLITE_CORRUPT || code == SQLITE_NOTADB;
    if (!j->failed) {
        snprintf(j->errmsg, sizeof(j->errmsg), "journal %.300s: %s: %.150s%s",
                 j->path, what, why,
                 damaged ? " (move it away, with its -wal and -shm files; "
                           "the next run re-checks the target and rebuilds "
                           "it)"
                         : "");
        log_error("%s", j->errmsg);
    }
    j->failed = 1;
}

static int exec_sql(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Commits the open batch, if any. Under j->lock. */
static void commit_locked(it_journal *j)
{
    if (!j->in_tx)
        return;
    if (exec_sql(j->db, "COMMIT") != SQLITE_OK) {
        fail_locked(j, "commit");
        exec_sql(j->db, "ROLLBACK");
    }
    j->in_tx = false;
    j->pending = 0;
}

/* Opens a batch when none is. Under j->lock. Returns 0 or -1. */
static int begin_locked(it_journal *j)
{
    if (j->in_tx)
        return 0;
    /* IMMEDIATE: the write lock is taken here, waiting (busy timeout) for
     * another process's batch, never failing later on a stale snapshot. */
    if (exec_sql(j->db, "BEGIN IMMEDIATE") != SQLITE_OK) {
        fail_locked(j, "begin");
        return -1;
    }
    j->in_tx = true;
    j->pending = 0;
    j->tx_start = it_now_mono_ms();
    pthread_cond_signal(&j->wake);
    return 0;
}

/* Commits a batch once it is BATCH_MS old, so a kill -9 loses at most
 * that much, and another process sharing the state dir gets its turn to
 * write even while this one appends nothing. */
static void *committer_main(void *arg)
{
    it_journal *j = arg;
    pthread_mutex_lock(&j->lock);
    while (!j->stopping) {
        if (!j->in_tx) {
            pthread_cond_wait(&j->wake, &j->lock);
            continue;
        }
        int64_t left = j->tx_start + BATCH_MS - it_now_mono_ms();
        if (left <= 0) {
            commit_locked(j);
            continue;
        }
        struct timespec ts = it_deadline((double)left / 1000.0);
        pthread_cond_timedwait(&j->wake, &j->lock, &ts);
    }
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

/* Binds text parameter i (1-based); NULL binds SQL NULL. */
static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC)
             : sqlite3_bind_null(st, i);
}

/* Runs a statement that returns no row (an insert or delete), then resets
 * it. Returns SQLITE_DONE or an error code. */
static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* ------------------------------------------------------ import of JSONL */

/* What a record read from journal.jsonl is handed to. */
typedef struct line_sink {
    void (*blob)(void *payload, const char *registry, const char *repo,
                 const char *digest, int64_t size);
    void (*image)(void *payload, const char *source, const char *digest,
                  const char *target);
    void *payload;
} line_sink;

/* Reads one complete line (lineno counts from 1); a line that is not a
 * record is skipped with a warning. */
static void read_line(it_journal *j, const char *line, size_t len, long lineno,
                      const line_sink *v)
{
    json_error_t jerr;
    json_t *o = json_loadb(line, len, 0, &jerr);
    bool ok = false;
    if (!json_is_object(o))
        goto out;
    const char *t = json_string_value(json_object_get(o, "t"));
    if (t && strcmp(t, "blob") == 0) {
        const char *reg = json_string_value(json_object_get(o, "registry"));
        const char *repo = json_string_value(json_object_get(o, "repo"));
        const char *dg = json_string_value(json_object_get(o, "digest"));
        json_int_t size = json_integer_value(json_object_get(o, "size"));
        if (reg && repo && dg) { /* a record without its fields is corrupt */
            v->blob(v->payload, reg, repo, dg, (int64_t)size);
            ok = true;
        }
    } else if (t && strcmp(t, "image") == 0) {
        const char *src = json_string_value(json_object_get(o, "source"));
        const char *dg = json_string_value(json_object_get(o, "digest"));
        const char *dst = json_string_value(json_object_get(o, "target"));
        if (src && dg && dst) {
            v->image(v->payload, src, dg, dst);
            ok = true;
        }
    }
out:
    json_decref(o);
    if (ok) {
        j->imported++;
    } else {
        j->skipped++;
        log_warn("journal line %ld: not a valid record, skipped", lineno);
    }
}

#define LINE_CAP (64 * 1024) /* longest journal line kept, bytes */

/* Reads the file from the start with a bounded buffer, hands complete
 * lines to v, skips (with a warning naming it) a line longer than LINE_CAP
 * without holding it in memory, and counts a torn last line. Returns 0,
 * or -1 on a read error (errno set). */
static int read_lines(it_journal *j, int fd, const line_sink *v)
{
    char chunk[16384];
    char *line = malloc(LINE_CAP + 1);
    size_t len = 0;
    bool too_long = false, partial = false;
    long lineno = 1;
    int rc = -1;
    if (!line)
        return -1;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        size_t i = 0;
        while (i < (size_t)n) {
            char *nl = memchr(chunk + i, '\n', (size_t)n - i);
            size_t take = nl ? (size_t)(nl - (chunk + i)) : (size_t)n - i;
            if (!too_long && len + take > LINE_CAP)
                too_long = true;
            if (!too_long) {
                memcpy(line + len, chunk + i, take);
                len += take;
            }
            i += take;
            partial = true;
            if (!nl)
                break;
            i++;
            if (too_long) {
                j->skipped++;
                log_warn("journal line %ld: longer than %d bytes, skipped",
                         lineno, LINE_CAP);
            } else {
                read_line(j, line, len, lineno, v);
            }
            len = 0;
            too_long = false;
            partial = false;
            lineno++;
        }
    }
    if (partial)
        j->torn++; /* last line without newline: torn by a crash */
    rc = 0;
out:
    free(line);
    return rc;
}

static void import_blob(void *payload, const char *registry, const char *repo,
                        const char *digest, int64_t size)
{
    it_journal *j = payload;
    sqlite3_stmt *st = j->st[ST_INS_BLOB];
    bind_text(st, 1, registry);
    bind_text(st, 2, digest);
    bind_text(st, 3, repo);
    sqlite3_bind_int64(st, 4, size);
    if (step_done(st) != SQLITE_DONE)
        fail_locked(j, "import");
}

static void import_image(void *payload, const char *source, const char *digest,
                         const char *target)
{
    it_journal *j = payload;
    sqlite3_stmt *st = j->st[ST_INS_IMAGE];
    bind_text(st, 1, source);
    bind_text(st, 2, target);
    bind_text(st, 3, digest);
    if (step_done(st) != SQLITE_DONE)
        fail_locked(j, "import");
}

/* Checks that dir/name is absent or a regular file (never a link).
 * Returns 1 when it exists, 0 when not, -1 with a message. */
static int check_file(int dfd, const char *dir, const char *name,
                      it_errbuf *err)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err->msg, sizeof(err->msg), "journal %.900s/%s: %s", dir, name,
                 strerror(errno));
        return -1;
    }
    if (S_ISLNK(st.st_mode)) {
        snprintf(err->msg, sizeof(err->msg),
                 "journal %.900s/%s is a symbolic link: refusing to follow it "
                 "(remove it)",
                 dir, name);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err->msg, sizeof(err->msg),
                 "journal %.900s/%s: not a regular file", dir, name);
        return -1;
    }
    return 1;
}

/* Imports STATE_DIR/journal.jsonl (the journal of earlier versions) in one
 * transaction, then renames it journal.jsonl.imported. The file is opened
 * while this process holds the write lock: a shard that imported it first
 * has renamed it, so it is read once. Importing twice (a crash between the
 * commit and the rename) writes the same rows again. */
static int import_jsonl(it_journal *j, int dfd, const char *dir, it_errbuf *err)
{
    int fd = -1, rc = -1;
    if (exec_sql(j->db, "BEGIN IMMEDIATE") != SQLITE_OK) {
        snprintf(err->msg, sizeof(err->msg), "journal %.700s: begin: %.200s",
                 j->path, sqlite3_errmsg(j->db));
        return -1;
    }
    fd = openat(dfd, JSONL_NAME,
                O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0 && errno == ENOENT) {
        rc = 0; /* imported by another run meanwhile */
        goto out;
    }
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err->msg, sizeof(err->msg), "journal %.900s/%s: %s", dir,
                 JSONL_NAME,
                 fd < 0 && errno == ELOOP
                     ? "is a symbolic link: refusing to follow it (remove it)"
                 : fd < 0 ? strerror(errno)
                          : "not a regular file");
        goto out;
    }
    line_sink v = {import_blob, import_image, j};
    if (read_lines(j, fd, &v) != 0) {
        snprintf(err->msg, sizeof(err->msg), "journal %.900s/%s: %s", dir,
                 JSONL_NAME, strerror(errno));
        goto out;
    }
    if (j->failed) {
        snprintf(err->msg, sizeof(err->msg), "%s", j->errmsg);
        goto out;
    }
    if (exec_sql(j->db, "COMMIT") != SQLITE_OK) {
        snprintf(err->msg, sizeof(err->msg), "journal %.700s: commit: %.200s",
                 j->path, sqlite3_errmsg(j->db));
        goto out;
    }
    if (renameat(dfd, JSONL_NAME, dfd, IMPORTED_NAME) != 0 && errno != ENOENT)
        log_warn("journal %s/%s: imported, but cannot rename it to %s (%s): "
                 "the next run imports it again",
                 dir, JSONL_NAME, IMPORTED_NAME, strerror(errno));
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (sqlite3_get_autocommit(j->db) == 0)
        exec_sql(j->db, rc == 0 ? "COMMIT" : "ROLLBACK");
    return rc;
}

/* ------------------------------------------------------------ opening */

/* Runs PRAGMA quick_check. Returns 0 when the file is sound, else -1 with
 * what it found in why. */
static int quick_check(sqlite3 *db, char *why, size_t cap)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        rc = r && strcmp(r, "ok") == 0 ? SQLITE_OK : SQLITE_CORRUPT;
        snprintf(why, cap, "%.200s", r ? r : "no answer");
    } else {
        snprintf(why, cap, "%.200s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}

/* The tables, and the record count kept by triggers (COUNT(*) would walk
 * every page). In one transaction: two processes may create it at once. */
static const char schema_sql[] =
    "BEGIN IMMEDIATE;"
    "CREATE TABLE IF NOT EXISTS blobs("
    " registry TEXT NOT NULL, digest TEXT NOT NULL, repo TEXT NOT NULL,"
    " size INTEGER NOT NULL, PRIMARY KEY(registry, digest, repo))"
    " WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS images("
    " source TEXT NOT NULL, target TEXT NOT NULL, digest TEXT NOT NULL,"
    " PRIMARY KEY(source, target)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY NOT NULL,"
    " value INTEGER NOT NULL) WITHOUT ROWID;"
    /* Counted once, when the table is new (not on every open). */
    "INSERT INTO meta SELECT 'records',"
    " (SELECT COUNT(*) FROM blobs) + (SELECT COUNT(*) FROM images)"
    " WHERE NOT EXISTS (SELECT 1 FROM meta WHERE key = 'records');"
    "CREATE TRIGGER IF NOT EXISTS blobs_added AFTER INSERT ON blobs BEGIN"
    " UPDATE meta SET value = value + 1 WHERE key = 'records'; END;"
    "CREATE TRIGGER IF NOT EXISTS blobs_dropped AFTER DELETE ON blobs BEGIN"
    " UPDATE meta SET value = value - 1 WHERE key = 'records'; END;"
    "CREATE TRIGGER IF NOT EXISTS images_added AFTER INSERT ON images BEGIN"
    " UPDATE meta SET value = value + 1 WHERE key = 'records'; END;"
    "CREATE TRIGGER IF NOT EXISTS images_dropped AFTER DELETE ON images BEGIN"
    " UPDATE meta SET value = value - 1 WHERE key = 'records'; END;"
    "PRAGMA user_version = 1;"
    "COMMIT;";

/* issue 14, platforms: images copied with a platform filter: the source
 * digest, the filter (canonical) and what the target tag got (a filtered
 * index). Not in the record count. */
static const char platform_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS platform_images("
    " source TEXT NOT NULL, target TEXT NOT NULL, digest TEXT NOT NULL,"
    " filter TEXT NOT NULL, target_digest TEXT NOT NULL,"
    " platforms TEXT NOT NULL, PRIMARY KEY(source, target)) WITHOUT ROWID;";
/* Creation times of images by manifest digest (issue 14, --latest in
 * generic mode): keyed by digest, so a tag moved to another image is read
 * again. Not counted as records. */
static const char created_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS created("
    " registry TEXT NOT NULL, repo TEXT NOT NULL, digest TEXT NOT NULL,"
    " created INTEGER, PRIMARY KEY(registry, repo, digest)) WITHOUT ROWID;";
/* Resume across restarts: the open upload session of a large blob (its URL
 * on the target, the bytes the target confirmed), one row per blob and
 * target repository, deleted when the blob lands or the session is gone.
 * Not a record: no trigger counts it. */
static const char uploads_sql[] =
    "CREATE TABLE IF NOT EXISTS uploads("
    " registry TEXT NOT NULL, repo TEXT NOT NULL, digest TEXT NOT NULL,"
    " url TEXT NOT NULL, held INTEGER NOT NULL,"
    " PRIMARY KEY(registry, repo, digest)) WITHOUT ROWID;";
/* Whether the schema is already in place: schema_sql sets user_version in
 * the transaction that creates it. A read, so that opening a journal that
 * exists writes nothing (no WAL frame to sync now and to checkpoint at
 * close). */
static bool schema_current(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    bool cur = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) ==
                   SQLITE_OK &&
               sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
    sqlite3_finalize(st);
    return cur;
}

/* SQLite, run by root, chowns a new -wal or -shm file to the owner of the
 * database. Here that owner is always root (a state dir of another user
 * is refused), so the call changes nothing, but fchown is outside the
 * systemd unit's SystemCallFilter (@system-service): it is made only when
 * the owner really differs. Set once, before the first connection. */
static sqlite3_syscall_ptr real_fchown;
static pthread_once_t vfs_once = PTHREAD_ONCE_INIT;

static int fchown_if_needed(int fd, uid_t uid, gid_t gid)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_uid == uid && st.st_gid == gid)
        return 0;
    return ((int (*)(int, uid_t, gid_t))real_fchown)(fd, uid, gid);
}

static void vfs_setup(void)
{
    sqlite3_vfs *vfs = sqlite3_vfs_find(NULL);
    if (!vfs || vfs->iVersion < 3 || !vfs->xGetSystemCall ||
        !vfs->xSetSystemCall)
        return;
    real_fchown = vfs->xGetSystemCall(vfs, "fchown");
    if (real_fchown)
        vfs->xSetSystemCall(vfs, "fchown",
                            (sqlite3_syscall_ptr)fchown_if_needed);
}

/* Opens the database file, sets the connection up, refuses a damaged file
 * and creates the tables. Returns 0 or -1 with a message. */
static int open_db(it_journal *j, int dfd, it_errbuf *err)
{
    char why[256];
    /* Created here, private to the user (SQLite gives the -wal and -shm
     * files the mode of the database), never through a link. */
    int fd =
        openat(dfd, DB_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        snprintf(err->msg, sizeof(err->msg), "journal %.900s: %s", j->path,
                 strerror(errno));
        return -1;
    }
    pthread_once(&vfs_once, vfs_setup);
    struct stat fst;
    bool check = fstat(fd, &fst) == 0 && fst.st_size <= QUICK_CHECK_MAX;
    close(fd);
    int rc = sqlite3_open_v2(j->path, &j->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW |
                                 SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        snprintf(err->msg, sizeof(err->msg), "journal %.700s: %.200s", j->path,
                 j->db ? sqlite3_errmsg(j->db) : "out of memory");
        return -1;
    }
    sqlite3_busy_timeout(j->db, BUSY_MS);
    /* The first read of the file: a file that is not a database fails
     * here, a damaged one in quick_check. */
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(j->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    const char *mode =
        rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    bool wal = mode && strcmp(mode, "wal") == 0;
    snprintf(why, sizeof(why), "%.200s",
             rc == SQLITE_ROW ? "cannot use WAL mode" : sqlite3_errmsg(j->db));
    sqlite3_finalize(st);
    if (!wal || (check && quick_check(j->db, why, sizeof(why)) != 0)) {
        snprintf(err->msg, sizeof(err->msg),
                 "journal %.700s is damaged (%.150s): move it away (with its "
                 "-wal and -shm files); the next run re-checks the target "
                 "and rebuilds it",
                 j->path, why);
        return -1;
    }
    char pragmas[128];
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -%d;",
             CACHE_KIB);
    if (exec_sql(j->db, pragmas) != SQLITE_OK ||
        (!schema_current(j->db) && exec_sql(j->db, schema_sql) != SQLITE_OK) ||
        exec_sql(j->db, platform_schema_sql) != SQLITE_OK ||
        exec_sql(j->db, created_schema_sql) != SQLITE_OK ||
        exec_sql(j->db, repairs_sql) != SQLITE_OK ||
        exec_sql(j->db, uploads_sql) != SQLITE_OK) {
        snprintf(err->msg, sizeof(err->msg), "journal %.700s: %.200s", j->path,
                 sqlite3_errmsg(j->db));
        return -1;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(j->db, stmt_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &j->st[i],
                               NULL) != SQLITE_OK) {
            snprintf(err->msg, sizeof(err->msg), "journal %.700s: %.200s",
                     j->path, sqlite3_errmsg(j->db));
            return -1;
        }
    }
    return 0;
}

/* Reads the record count the triggers keep. Returns 0 or -1. */
static int count_records(it_journal *j)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        j->db, "SELECT value FROM meta WHERE key = 'records'", -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        j->records = (long)sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    } else {
        rc = SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}

/* Hands every record to v, one row at a time. Returns 0 or -1. */
static int replay(it_journal *j, const it_journal_visitor *v)
{
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_OK;
    if (v->blob) {
        rc = sqlite3_prepare_v2(
            j->db, "SELECT registry, repo, digest, size FROM blobs", -1, &st,
            NULL);
        while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            v->blob(v->payload, (const char *)sqlite3_column_text(st, 0),
                    (const char *)sqlite3_column_text(st, 1),
                    (const char *)sqlite3_column_text(st, 2),
                    sqlite3_column_int64(st, 3));
            rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
        st = NULL;
        if (rc != SQLITE_DONE)
            return -1;
        rc = SQLITE_OK;
    }
    if (v->image) {
        rc = sqlite3_prepare_v2(
            j->db, "SELECT source, digest, target FROM images", -1, &st, NULL);
        while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            v->image(v->payload, (const char *)sqlite3_column_text(st, 0),
                     (const char *)sqlite3_column_text(st, 1),
                     (const char *)sqlite3_column_text(st, 2));
            rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return -1;
    }
    return 0;
}

/* Frees j and everything it holds (the committer must not run). */
static void journal_free(it_journal *j)
{
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(j->st[i]);
    sqlite3_close(j->db); /* the last connection checkpoints the WAL */
    pthread_cond_destroy(&j->wake);
    pthread_mutex_destroy(&j->lock);
    free(j);
}

int it_journal_open(it_journal **out, const char *state_dir,
                    const it_journal_visitor *v, it_errbuf *err)
{
    static const char *const files[] = {DB_NAME, DB_NAME "-wal",
                                        DB_NAME "-shm"};
    int dfd = -1, rc = -1;
    it_journal *j = NULL;
    *out = NULL;
    j = calloc(1, sizeof(*j));
    if (!j) {
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        goto out;
    }
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->wake, NULL);
    if (snprintf(j->path, sizeof(j->path), "%s/%s", state_dir, DB_NAME) >=
        (int)sizeof(j->path)) {
        snprintf(err->msg, sizeof(err->msg), "state dir %.900s: path too long",
                 state_dir);
        goto out;
    }
    dfd = it_state_dir_open(state_dir, err);
    if (dfd < 0)
        goto out;
    /* A link planted in place of a file is refused, never followed (SQLite
     * refuses a linked journal.db too: SQLITE_OPEN_NOFOLLOW). */
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (check_file(dfd, state_dir, files[i], err) < 0)
            goto out;
    int old = check_file(dfd, state_dir, JSONL_NAME, err);
    if (old < 0 || open_db(j, dfd, err) != 0)
        goto out;
    if (old > 0 && import_jsonl(j, dfd, state_dir, err) != 0)
        goto out;
    if (count_records(j) != 0 || (v && replay(j, v) != 0)) {
        snprintf(err->msg, sizeof(err->msg), "journal %.700s: %.200s", j->path,
                 sqlite3_errmsg(j->db));
        goto out;
    }
    if (pthread_create(&j->committer, NULL, committer_main, j) != 0) {
        snprintf(err->msg, sizeof(err->msg), "journal: cannot start a thread");
        goto out;
    }
    j->committer_on = true;
    *out = j;
    j = NULL;
    rc = 0;
out:
    if (j)
        journal_free(j);
    if (dfd >= 0)
        close(dfd);
    return rc;
}

/* ------------------------------------------------------------ appends */

/* Adds a record to the open batch (opening one) and commits the batch when
 * it is full. Under j->lock. */
static void append_locked(it_journal *j, sqlite3_stmt *st)
{
    if (begin_locked(j) != 0) {
        sqlite3_clear_bindings(st);
        return;
    }
    if (step_done(st) != SQLITE_DONE)
        fail_locked(j, "append");
    else if (++j->pending >= BATCH_RECORDS)
        commit_locked(j);
}

void it_journal_blob(it_journal *j, const char *registry, const char *repo,
                     const char *digest, int64_t size)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *st = j->st[ST_INS_BLOB];
    bind_text(st, 1, registry);
    bind_text(st, 2, digest);
    bind_text(st, 3, repo);
    sqlite3_bind_int64(st, 4, size);
    append_locked(j, st);
    pthread_mutex_unlock(&j->lock);
}

void it_journal_image(it_journal *j, const char *source, const char *digest,
                      const char *target)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *st = j->st[ST_INS_IMAGE];
    bind_text(st, 1, source);
    bind_text(st, 2, target);
    bind_text(st, 3, digest);
    append_locked(j, st);
    /* copied (or found whole): no repair pending any more */
    st = j->st[ST_DEL_REPAIR];
    bind_text(st, 1, source);
    bind_text(st, 2, target);
    append_locked(j, st);
    pthread_mutex_unlock(&j->lock);
}

void it_journal_image_forget(it_journal *j, const char *source,
                             const char *target)
{
    if (!j || !source || !target)
        return;
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *st = j->st[ST_DEL_IMAGE];
    bind_text(st, 1, source);
    bind_text(st, 2, target);
    append_locked(j, st);
    pthread_mutex_unlock(&j->lock);
}

void it_journal_image_repair(it_journal *j, const char *source,
                             const char *target)
{
    if (!j || !source || !target)
        return;
    it_journal_image_forget(j, source, target);
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *st = j->st[ST_INS_REPAIR];
    bind_text(st, 1, source);
    bind_text(st, 2, target);
    append_locked(j, st);
    pthread_mutex_unlock(&j->lock);
}

/* ------------------------------------------------------------ lookups */

/* Steps a lookup: 1 with a row (st left on it: the caller resets), 0
 * without, -1 on an error (kept). Under j->lock. */
static int lookup_locked(it_journal *j, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc != SQLITE_DONE)
        fail_locked(j, "lookup");
    return rc == SQLITE_DONE ? 0 : -1;
}

static void lookup_end(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

int it_journal_image_digest(it_journal *j, const char *source,
                            const char *target, char *digest, size_t cap)
{
    if (!j || !source || !target)
        return 0;
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *st = j->st[ST_GET_IMAGE];
    bind_text(st, 1, source);
    bind_text(st, 2, target);
    int rc = lookup_locked(j, st);
    if (rc == 1) {
        const char *d = (const char *)sqlite3_column_text(st, 0);
        if (!d || strlen(d) >= cap)
            rc = 0; /* cannot be handed back whole: as if not recorded */
        else
            memcpy(digest, d, strlen(d) + 1);
    }
    lookup_end(st);
    pthread_mutex_unlock(&j->lock);
    return rc;
}

/* issue 14, platforms */
void it_journal_platform_image(it_journal *j, const char *source,
                               const char *target, const char *digest,
                               const char *filter, const char *target_digest,
                               const char *platforms)
{
    if (!j || !source || !target || !digest || !filter || !target_digest)
        return;
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *st = j->st[ST_INS_PLATFORM];
    bind_text(st, 1, source);
    bind_text(st, 2, target);
    bind_text(st, 3, digest);
    bind_text(st, 4, filter);
    bind_text(st, 5, target_digest);
    bind_text(st, 6, platforms ? platforms : "");
    append_locked(j, st);
    pthread_mutex_unlock(&j->lock);
}

void it_journal_created_record(it_journal *j, const char *registry,
                               const char *repo, const char *digest,
                               long long created)
{
    if (!j || !registry || !repo || !digest)
        return;
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *st = j->st[ST_INS_CREATED];
    bind_text(st, 1, registry);
    bind_text(st, 2, repo);
    bind_text(st, 3, digest);
    if (created == LLONG_MIN)
        sqlite3_bind_null(st, 4);
    else
        sqlite3_bind_int64(st, 4, created);
    append_locked(j, st);
    pthread_mutex_unlock(&j->lock);
}

int it_journal_platform_get(it_journal *j, const char *source,
                            const char *target, const char *filter,
                            char digest[IT_JOURNAL_DIGEST_CAP],
                            char target_digest[IT_JOURNAL_DIGEST_CAP],
                            char **platforms)
{
    *platforms = NULL;
    if (!j || !source || !target || !filter)
        return 0;
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *st = j->st[ST_GET_PLATFORM];
    bind_text(st, 1, source);
    bind_text(st, 2, target);
    bind_text(st, 3, filter);
    int rc = lookup_locked(j, st);
    if (rc == 1) {
        const char *d = (const char *)sqlite3_column_text(st, 0);
        const char *t = (const char *)sqlite3_column_text(st, 1);
        const char *p = (const char *)sqlite3_column_text(st, 2);
        if (!d || !t || strlen(d) >= IT_JOURNAL_DIGEST_CAP ||
            strlen(t) >= IT_JOURNAL_DIGEST_CAP ||
            !(*platforms = strdup(p ? p : ""))) {
            rc = 0; /* as if not recorded */
        } else {
            memcpy(digest, d, strlen(d) + 1);
            memcpy(target_digest, t, strlen(t) + 1);
        }
    }
    lookup_end(st);
    pthread_mutex_unlock(&j->lock);
    return rc;
}

int it_journal_created(it_journal *j, const char *registry, const char *repo,
                       const char *digest, long long *created)
{
    *created = LLONG_MIN;
    if (!j || !registry || !repo || !digest)
        return 0;
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *st = j->st[ST_GET_CREATED];
    bind_text(st, 1, registry);
    bind_text(st, 2, repo);
    bind_text(st, 3, digest);
    int rc = lookup_locked(j, st);
    if (rc == 1 && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *created = sqlite3_column_int64(st, 0);
    lookup_end(st);
    pthread_mutex_unlock(&j->lock);
    return rc;
}

int it_journal_image_needs_repair(it_journal *j, const char *source,
                                  const char *target)
{
    if (!j || !source || !target)
        return 0;
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *st = j->st[ST_GET_REPAIR];
    bind_text(st, 1, source);
    bind_text(st, 2, target);
    int rc = lookup_locked(j, st);
    lookup_end(st);
    pthread_mutex_unlock(&j->lock);
    return rc;
}

int it_journal_blob_in(it_journal *j, const char *registry, const char *repo,
                       const char *digest)
{
    if (!j || !registry || !repo || !digest)
        return 0;
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *st = j->st[ST_HAS_BLOB];
    bind_text(st, 1, registry);
    bind_text(st, 2, digest);
    bind_text(st, 3, repo);
    int rc = lookup_locked(j, st);
    lookup_end(st);
    pthread_mutex_unlock(&j->lock);
    return rc;
}

int it_journal_blob_any(it_journal *j, const char *registry, const char *digest,
                        const char *except, char **repo_out)
{
    *repo_out = NULL;
    if (!j || !registry || !digest)
        return 0;
    pthread_mutex_lock(&j->lock);
    /* Another repository first; `except` itself only when it is the one. */
    sqlite3_stmt *st = j->st[ST_ANY_BLOB];
    bind_text(st, 1, registry);
    bind_text(st, 2, digest);
    bind_text(st, 3, except);
    int rc = lookup_locked(j, st);
    if (rc == 0 && except) {
        lookup_end(st);
        st = j->st[ST_ONE_BLOB];
        bind_text(st, 1, registry);
        bind_text(st, 2, digest);
        rc = lookup_locked(j, st);
    }
    if (rc == 1) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        *repo_out = r ? strdup(r) : NULL;
        if (!*repo_out) {
            snprintf(j->errmsg, sizeof(j->errmsg), "journal: out of memory");
            j->failed = 1;
            rc = -1;
        }
    }
    lookup_end(st);
    pthread_mutex_unlock(&j->lock);
    return rc;
}

/* ------------------------------------------ resume across restarts */

void it_journal_upload_put(it_journal *j, const char *registry,
                           const char *repo, const char *digest,
                           const char *url, int64_t held)
{
    if (!j || !registry || !repo || !digest || !url)
        return;
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *st = j->st[ST_UPS_PUT];
    bind_text(st, 1, registry);
    bind_text(st, 2, repo);
    bind_text(st, 3, digest);
    bind_text(st, 4, url);
    sqlite3_bind_int64(st, 5, held);
    append_locked(j, st);
    pthread_mutex_unlock(&j->lock);
}

void it_journal_upload_forget(it_journal *j, const char *registry,
                              const char *repo, const char *digest)
{
    if (!j || !registry || !repo || !digest)
        return;
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *st = j->st[ST_UPS_DEL];
    bind_text(st, 1, registry);
    bind_text(st, 2, repo);
    bind_text(st, 3, digest);
    append_locked(j, st);
    pthread_mutex_unlock(&j->lock);
}

int it_journal_upload_get(it_journal *j, const char *registry, const char *repo,
                          const char *digest, char **url_out, int64_t *held_out)
{
    *url_out = NULL;
    *held_out = 0;
    if (!j || !registry || !repo || !digest)
        return 0;
    pthread_mutex_lock(&j->lock);
    sqlite3_stmt *st = j->st[ST_UPS_GET];
    bind_text(st, 1, registry);
    bind_text(st, 2, repo);
    bind_text(st, 3, digest);
    int rc = lookup_locked(j, st);
    if (rc == 1) {
        const char *u = (const char *)sqlite3_column_text(st, 0);
        *held_out = sqlite3_column_int64(st, 1);
        *url_out = u ? strdup(u) : NULL;
        if (!*url_out)
            rc = 0; /* as if none: the copy opens a new session */
    }
    lookup_end(st);
    pthread_mutex_unlock(&j->lock);
    return rc;
}

/* ------------------------------------------------------------ closing */

void it_journal_flush(it_journal *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->lock);
    commit_locked(j);
    pthread_mutex_unlock(&j->lock);
}

int it_journal_close(it_journal *j)
{
    if (!j)
        return 0;
    pthread_mutex_lock(&j->lock);
    commit_locked(j);
    j->stopping = true;
    pthread_cond_signal(&j->wake);
    pthread_mutex_unlock(&j->lock);
    if (j->committer_on)
        pthread_join(j->committer, NULL);
    int failed = j->failed;
    journal_free(j);
    return failed ? -1 : 0;
}

void it_journal_stats(const it_journal *j, long *records, long *torn)
{
    if (records)
        *records = j ? j->records : 0;
    if (torn)
        *torn = j ? j->torn : 0;
}

long it_journal_skipped(const it_journal *j)
{
    return j ? j->skipped : 0;
}

long it_journal_imported(const it_journal *j)
{
    return j ? j->imported : 0;
}
