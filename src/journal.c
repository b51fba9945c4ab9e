/* journal.c - append-only JSON-lines journal of finished blobs and images. */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define JOURNAL_NAME "journal.jsonl"
#define SYNC_EVERY   64 /* records between fsyncs */

struct it_journal {
    pthread_mutex_t lock;
    int fd;
    int unsynced;
    int failed;
    long records;
    long torn;
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

static void replay_line(it_journal *j, const char *line,
                        const it_journal_visitor *v)
{
    json_error_t jerr;
    json_t *o = json_loads(line, 0, &jerr);
    if (!json_is_object(o)) {
        j->torn++;
        json_decref(o);
        return;
    }
    const char *t = json_string_value(json_object_get(o, "t"));
    if (t && strcmp(t, "blob") == 0) {
        const char *reg = json_string_value(json_object_get(o, "registry"));
        const char *repo = json_string_value(json_object_get(o, "repo"));
        const char *dg = json_string_value(json_object_get(o, "digest"));
        json_int_t size = json_integer_value(json_object_get(o, "size"));
        if (!reg || !repo || !dg) {
            j->torn++; /* a record without its fields is corrupt */
        } else {
            if (v && v->blob)
                v->blob(v->payload, reg, repo, dg, (int64_t)size);
            j->records++;
        }
    } else if (t && strcmp(t, "image") == 0) {
        const char *src = json_string_value(json_object_get(o, "source"));
        const char *dg = json_string_value(json_object_get(o, "digest"));
        const char *dst = json_string_value(json_object_get(o, "target"));
        if (!src || !dg || !dst) {
            j->torn++;
        } else {
            if (v && v->image)
                v->image(v->payload, src, dg, dst);
            j->records++;
        }
    } else {
        j->torn++;
    }
    json_decref(o);
}

/* Reads the file, replays complete lines, and returns the offset just past
 * the last complete line (a torn tail is cut off there). */
static off_t replay(it_journal *j, FILE *f, const it_journal_visitor *v)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    off_t good = 0, pos = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        pos += n;
        if (line[n - 1] != '\n') {
            j->torn++; /* last line without newline: torn by a crash */
            break;
        }
        line[n - 1] = '\0';
        replay_line(j, line, v);
        good = pos;
    }
    free(line);
    return good;
}

int it_journal_open(it_journal **out, const char *state_dir,
                    const it_journal_visitor *v, it_errbuf *err)
{
    char path[4096];
    *out = NULL;
    if (it_make_dirs(state_dir) != 0) {
        snprintf(err->msg, sizeof(err->msg),
                 "state dir %.900s: cannot create: %s", state_dir,
                 strerror(errno));
        return -1;
    }
    if (snprintf(path, sizeof(path), "%s/%s", state_dir, JOURNAL_NAME) >=
        (int)sizeof(path)) {
        snprintf(err->msg, sizeof(err->msg), "state dir %.900s: path too long",
                 state_dir);
        return -1;
    }
    /* O_APPEND: every record is one whole write at the end. */
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err->msg, sizeof(err->msg), "journal %.900s: %s", path,
                 strerror(errno));
        return -1;
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
        close(fd);
        return -1;
    }
    it_journal *j = calloc(1, sizeof(*j));
    if (!j) {
        close(fd);
        snprintf(err->msg, sizeof(err->msg), "out of memory");
        return -1;
    }
    pthread_mutex_init(&j->lock, NULL);
    j->fd = fd;
    FILE *f = fdopen(dup(fd), "r");
    off_t good = 0;
    if (f) {
        good = replay(j, f, v);
        fclose(f);
    }
    if (ftruncate(fd, good) != 0 || lseek(fd, good, SEEK_SET) < 0) {
        snprintf(err->msg, sizeof(err->msg), "journal %.900s: %s", path,
                 strerror(errno));
        it_journal_close(j);
        return -1;
    }
    *out = j;
    return 0;
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
