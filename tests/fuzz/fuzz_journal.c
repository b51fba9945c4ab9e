/*
 * fuzz_journal.c - the import of a journal.jsonl of any content: the input
 * is written as STATE_DIR/journal.jsonl in a private temporary directory
 * (with no journal.db yet), opened (imported into journal.db, replayed
 * through a visitor), appended to, closed, and opened again: the second
 * replay must see the records of the first plus the two appended (one
 * fewer each when the input already held that record), and the lookups
 * find them.
 */
#include "fuzz_common.h"

#include "journal.h"
#include "log.h"

typedef struct seen {
    long blobs, images;
    size_t bytes;
} seen;

static void on_blob(void *payload, const char *registry, const char *repo,
                    const char *digest, int64_t size)
{
    seen *s = payload;
    (void)size;
    s->blobs++;
    s->bytes += strlen(registry) + strlen(repo) + strlen(digest);
}

static void on_image(void *payload, const char *source, const char *digest,
                     const char *target)
{
    seen *s = payload;
    s->images++;
    s->bytes += strlen(source) + strlen(digest) + strlen(target);
}

FUZZ_FILE_TARGET_INIT()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    it_errbuf err = {{0}};
    it_journal *j = NULL;
    seen s1 = {0}, s2 = {0};
    const it_journal_visitor v1 = {on_blob, on_image, &s1};
    const it_journal_visitor v2 = {on_blob, on_image, &s2};
    long rec1 = 0, torn1 = 0, rec2 = 0, torn2 = 0;

    static const char *const old[] = {"journal.db", "journal.db-wal",
                                      "journal.db-shm",
                                      "journal.jsonl.imported"};
    for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", fuzz_tmpdir(), old[i]);
        unlink(path);
    }
    fuzz_write_file(path, sizeof(path), "journal.jsonl", data, size);
    if (it_journal_open(&j, fuzz_tmpdir(), &v1, &err) != 0) {
        /* Refusing the file is allowed (say, a line over the cap); it
         * must say why. */
        FUZZ_CHECK(j == NULL && err.msg[0] != '\0');
        return 0;
    }
    it_journal_stats(j, &rec1, &torn1);
    FUZZ_CHECK(rec1 == s1.blobs + s1.images && torn1 >= 0);
    it_journal_blob(j, "127.0.0.1:5000", "fuzz/repo",
                    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef"
                    "0123456789abcdef",
                    42);
    it_journal_image(j, "127.0.0.1:5000/fuzz/repo:v1",
                     "sha256:0123456789abcdef0123456789abcdef0123456789abcdef"
                     "0123456789abcdef",
                     "127.0.0.1:5001/fuzz/repo:v1");
    FUZZ_CHECK(it_journal_close(j) == 0);

    j = NULL;
    FUZZ_CHECK(it_journal_open(&j, fuzz_tmpdir(), &v2, &err) == 0);
    it_journal_stats(j, &rec2, &torn2);
    FUZZ_CHECK(rec2 == s2.blobs + s2.images);
    FUZZ_CHECK(s2.blobs - s1.blobs >= 0 && s2.blobs - s1.blobs <= 1);
    FUZZ_CHECK(s2.images - s1.images >= 0 && s2.images - s1.images <= 1);
    FUZZ_CHECK(torn2 == 0);
    FUZZ_CHECK(it_journal_blob_in(j, "127.0.0.1:5000", "fuzz/repo",
                                  "sha256:0123456789abcdef0123456789abcdef"
                                  "0123456789abcdef0123456789abcdef") == 1);
    FUZZ_CHECK(it_journal_close(j) == 0);
    return 0;
}
