/* journal.c - append-only JSON-lines journal of finished blobs and images. */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define JOURNAL_NAME "journal.jsonl"
#define SYNC_EVERY   64 /* records between fsyncs */

struct it_journal {
    pthread_mutex_t lock;
    int fd;
    int unsynced;
    int failed;
    long records;
    long torn;    /* a last line without its newline, cut off (0 or 1) */
    long skipped; /* complete lines that were corrupt or too long */
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

/* Replays one complete line (lineno counts from 1); a line that is not a
 * record is skipped with a warning. */
static void replay_line(it_journal *j, const char *line, size_t len,
                        long lineno, const it_journal_visitor *v)
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
            if (v && v->blob)
                v->blob(v->payload, reg, repo, dg, (int64_t)size);
            ok = true;
        }
    } else if (t && strcmp(t, "image") == 0) {
        const char *src = json_string_value(json_object_get(o, "source"));
        const char *dg = json_string_value(json_object_get(o, "digest"));
        const char *dst = json_string_value(json_object_get(o, "target"));
        if (src && dg && dst) {
            if (v && v->image)
                v->image(v->payload, src, dg, dst);
            ok = true;
        }
    }
out:
    json_decref(o);
    if (ok) {
        j->records++;
    } else {
        j->skipped++;
        log_warn("journal line %ld: not a valid record, skipped", lineno);
    }
}

#define LINE_CAP (64 * 1024) /* longest journal line kept, bytes */

/* Reads the file from the start with a bounded buffer, replays complete
 * lines, skips (with a warning naming it) a line longer than LINE_CAP
 * without holding it in memory, and returns the offset just past the last
 * complete line (a torn tail is cut off there), or -1 on a read error. */
static off_t replay(it_journal *j, int fd, const it_journal_visitor *v)
{
    char chunk[16384];
    char *line = malloc(LINE_CAP + 1);
    size_t len = 0;
    bool too_long = false;
    long lineno = 1;
    off_t pos = 0, good = 0;
    if (!line)
        return -1;
    if (lseek(fd, 0, SEEK_SET) < 0) {
        good = -1;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            good = -1;
            goto out;
        }
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
            pos += (off_t)take;
            if (!nl)
                break;
            i++;
            pos++;
            if (too_long) {
                j->skipped++;
                log_warn("journal line %ld: longer than %d bytes, skipped",
                         lineno, LINE_CAP);
            } else {
                replay_line(j, line, len, lineno, v);
            }
            good = pos;
            len = 0;
            too_long = false;
            lineno++;
        }
    }
    if (pos > good)
        j->torn++; /* last line without newline: torn by a crash */
out:
    free(line);
    return good;
}

int it_journal_open(it_journal **out, const char *state_dir,
                    const it_journal_visitor *v, it_errbuf *err)
{
    char path[4096];
    int dfd = -1, fd = -1, rc = -1;
    it_journal *j = NULL;
    *out = NULL;
    if (snprintf(path, sizeof(path), "%s/%s", state_dir, JOURNAL_NAME) >=
        (int)sizeof(path)) {
        snprintf(err->msg, sizeof(err->msg), "state dir %.900s: path too long",
                 state_dir);
        goto out;
    }
    dfd = it_state_dir_open(state_dir, err);
    if (dfd < 0)
        goto out;
    /* O_APPEND: every record is one whole write at the end. O_NOFOLLOW: a
     * link planted in place of the journal is refused, never followed to
     * truncate or append to what it points at. */
    fd = openat(dfd, JOURNAL_NAME,
                O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW |
                    O_NONBLOCK,
                0600);
    if (fd < 0) {
        if (errno == ELOOP)
            snprintf(err->msg, sizeof(err->msg),
                     "journal %.900s is a symbolic link: refusing to follow "
                     "it (remove it)",
                     path);
        else
            snprintf(err->msg, sizeof(err->msg), "journal %.900s: %s", path,
                     strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        fcntl(fd, F_SETFL, O_APPEND) != 0) {
        snprintf(err->msg, sizeof(err->msg),
                 "journal %.900s: not a regular file", path);
        goto out;
    }
    /* One run per state dir: opening drops a torn last line, which would
     * cut the records of another run writing at the same time (shards
     * started in parallel without their own --state-dir, say). The lock
     * goes with the process, even on kill -9. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            snprintf(err->msg, sizeof(err->msg),
                     "state dir %.800s is in use by another image-transfer "
                     "run; runs at the same time (such as --shard=I/N "
                     "processes) each need their own --state-dir",
                     state_dir);
        else
            snprintf(err->msg, sizeof(err->msg), "journal %.900s: lock: %s",
                     path, strerror(errno));
        goto out;
    }
    j = calloc(1, sizeof(*j));
    if (!j) {
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        goto out;
    }
    pthread_mutex_init(&j->lock, NULL);
    j->fd = fd;
    fd = -1;
    off_t good = replay(j, j->fd, v);
    if (good < 0 || ftruncate(j->fd, good) != 0 ||
        lseek(j->fd, good, SEEK_SET) < 0) {
        snprintf(err->msg, sizeof(err->msg), "journal %.900s: %s", path,
                 strerror(errno));
        it_journal_close(j);
        j = NULL;
        goto out;
    }
    *out = j;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    return rc;
}

static void append(it_journal *j, json_t *rec)
{
    char *s = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (!s) {
        pthread_mutex_lock(&j->lock);
        j->failed = 1;
        pthread_mutex_unlock(&j->lock);
        return;
    }
    size_t len = strlen(s);
    s[len] = '\n'; /* replaces the NUL; written as one line */
    pthread_mutex_lock(&j->lock);
    /* One write() per record: a crash tears at most the last line. */
    size_t off = 0;
    while (off < len + 1) {
        ssize_t w = write(j->fd, s + off, len + 1 - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            j->failed = 1;
            break;
        }
        off += (size_t)w;
    }
    if (++j->unsynced >= SYNC_EVERY) {
        fdatasync(j->fd);
        j->unsynced = 0;
    }
    pthread_mutex_unlock(&j->lock);
    free(s);
}

void it_journal_blob(it_journal *j, const char *registry, const char *repo,
                     const char *digest, int64_t size)
{
    if (!j)
        return;
    append(j,
           json_pack("{s:s,s:s,s:s,s:s,s:I}", "t", "blob", "registry", registry,
                     "repo", repo, "digest", digest, "size", (json_int_t)size));
}

void it_journal_image(it_journal *j, const char *source, const char *digest,
                      const char *target)
{
    if (!j)
        return;
    append(j, json_pack("{s:s,s:s,s:s,s:s}", "t", "image", "source", source,
                        "digest", digest, "target", target));
}

void it_journal_flush(it_journal *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->lock);
    fdatasync(j->fd);
    j->unsynced = 0;
    pthread_mutex_unlock(&j->lock);
}

int it_journal_close(it_journal *j)
{
    if (!j)
        return 0;
    it_journal_flush(j);
    int failed = j->failed;
    close(j->fd);
    pthread_mutex_destroy(&j->lock);
    free(j);
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
