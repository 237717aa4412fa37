/* SPDX-License-Identifier: MIT */
/* bench/programs/textbuild.c — a realloc-heavy text builder.
 *
 * Models: the way naive C builds strings and arrays — append a piece,
 * realloc to the exact new length, repeat (log formatters, template
 * engines, JSON writers without a growth policy).  Each thread builds DOCS
 * documents.  A document is LINES lines; a line is built word by word with
 * realloc(len + wordlen + 1), then appended to the document's line array
 * (realloc by one pointer) and to the document text (realloc by the line's
 * length).  The document is hashed and freed.  Every realloc is an exact
 * growth by a few bytes: in-place growth and size-class slack decide the
 * score.
 *
 * Usage: textbuild [threads=2] [docs=200] [lines=400]  (docs per thread)
 * Prints: an FNV-1a hash over all documents (argument-determined).
 */
#include <pthread.h>
#include <string.h>

#include "prog.h"

#define PROG "textbuild"

static const char *const words[] = {
    "alloc", "arena", "pool", "block", "heap", "free", "list", "page", "size", "class",
    "thread", "cache", "remote", "large", "mmap", "purge", "decay", "segment", "span", "chunk",
    "a", "of", "to", "in", "the", "fragmentation", "interposition", "allocation", "benchmark", "x"};
#define NWORDS (sizeof words / sizeof words[0])

typedef struct tb_arg_s {
  uint64_t seed;
  long docs, lines;
  uint64_t hash;
} tb_arg_t;

static void *tb_realloc(void *p, size_t size) {
  void *q = realloc(p, size);
  if (q == NULL) prog_die(PROG, "out of memory");
  return q;
}

static uint64_t tb_fnv(uint64_t h, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
  return h;
}

static void *tb_worker(void *varg) {
  tb_arg_t *a = varg;
  bench_rng_t rng;
  bench_rng_seed(&rng, a->seed);
  uint64_t h = 0xcbf29ce484222325ull;
  for (long d = 0; d < a->docs; d++) {
    char **lines = NULL;
    char *text = NULL;
    size_t text_len = 0;
    for (long l = 0; l < a->lines; l++) {
      char *line = NULL;
      size_t len = 0;
      long nw = 3 + (long)bench_rng_below(&rng, 14);
      for (long w = 0; w < nw; w++) {
        const char *word = words[bench_rng_below(&rng, NWORDS)];
        size_t wl = strlen(word);
        line = tb_realloc(line, len + wl + 2);
        memcpy(line + len, word, wl);
        len += wl;
        line[len++] = w + 1 == nw ? '\n' : ' ';
        line[len] = '\0';
      }
      lines = tb_realloc(lines, (size_t)(l + 1) * sizeof *lines);
      lines[l] = line;
      text = tb_realloc(text, text_len + len + 1);
      memcpy(text + text_len, line, len + 1);
      text_len += len;
    }
    h = tb_fnv(h, text, text_len);
    for (long l = 0; l < a->lines; l++) free(lines[l]);
    free(lines);
    free(text);
  }
  a->hash = h;
  return NULL;
}

int main(int argc, char **argv) {
  long nthreads = prog_arg(argc, argv, 1, 2, PROG);
  long docs = prog_arg(argc, argv, 2, 200, PROG);
  long nlines = prog_arg(argc, argv, 3, 400, PROG);
  pthread_t *tids = calloc((size_t)nthreads, sizeof *tids);
  tb_arg_t *args = calloc((size_t)nthreads, sizeof *args);
  if (!tids || !args) prog_die(PROG, "out of memory");
  for (long t = 0; t < nthreads; t++) {
    args[t].seed = (uint64_t)t + 11;
    args[t].docs = docs;
    args[t].lines = nlines;
    if (pthread_create(&tids[t], NULL, tb_worker, &args[t]) != 0) prog_die(PROG, "pthread_create failed");
  }
  uint64_t h = 0;
  for (long t = 0; t < nthreads; t++) {
    pthread_join(tids[t], NULL);
    h ^= args[t].hash;
  }
  free(tids);
  free(args);
  printf("textbuild: hash %016llx\n", (unsigned long long)h);
  return 0;
}
