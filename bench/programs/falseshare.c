/* SPDX-License-Identifier: MIT */
/* bench/programs/falseshare.c — active and passive false sharing.
 *
 * Models: Hoard's cache-thrash and cache-scratch (Berger et al., "Hoard: A
 * Scalable Memory Allocator for Multithreaded Applications", ASPLOS 2000).
 *   active  (cache-thrash): each thread repeatedly mallocs a small object,
 *           writes it WRITES times, frees it.  An allocator that hands
 *           neighbouring bytes of one cache line to different threads makes
 *           the writes ping-pong the line between cores.
 *   passive (cache-scratch): the main thread allocates one small object per
 *           thread, back to back, and gives one to each thread, which frees
 *           it first and then loops as above.  An allocator that reuses the
 *           freed block for that thread inherits the shared line.
 *
 * Usage: falseshare active|passive [threads=2] [iterations=2000] [objsize=8] [writes=5000]
 * Prints: the sum of the bytes read back (argument-determined).
 */
#include <pthread.h>
#include <string.h>

#include "prog.h"

#define PROG "falseshare"

typedef struct fs_arg_s {
  char *given; /* passive mode: the object to free first */
  long iterations, objsize, writes;
  unsigned long long sum;
} fs_arg_t;

static void *fs_worker(void *varg) {
  fs_arg_t *a = varg;
  free(a->given);
  unsigned long long sum = 0;
  for (long i = 0; i < a->iterations; i++) {
    volatile char *obj = prog_malloc((size_t)a->objsize, PROG);
    for (long j = 0; j < a->objsize; j++) obj[j] = 0;
    for (long w = 0; w < a->writes; w++)
      for (long j = 0; j < a->objsize; j++) obj[j] = (char)(obj[j] + 1);
    sum += (unsigned char)obj[0];
    free((void *)obj);
  }
  a->sum = sum;
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2 || (strcmp(argv[1], "active") != 0 && strcmp(argv[1], "passive") != 0))
    prog_die(PROG, "usage: falseshare active|passive [threads] [iterations] [objsize] [writes]");
  int passive = strcmp(argv[1], "passive") == 0;
  long nthreads = prog_arg(argc, argv, 2, 2, PROG);
  long iterations = prog_arg(argc, argv, 3, 2000, PROG);
  long objsize = prog_arg(argc, argv, 4, 8, PROG);
  long writes = prog_arg(argc, argv, 5, 5000, PROG);
  pthread_t *tids = calloc((size_t)nthreads, sizeof *tids);
  fs_arg_t *args = calloc((size_t)nthreads, sizeof *args);
  if (!tids || !args) prog_die(PROG, "out of memory");
  for (long t = 0; t < nthreads; t++) {
    args[t].iterations = iterations;
    args[t].objsize = objsize;
    args[t].writes = writes;
    if (passive) {
      args[t].given = prog_malloc((size_t)objsize, PROG);
      memset(args[t].given, 0, (size_t)objsize);
    }
  }
  for (long t = 0; t < nthreads; t++)
    if (pthread_create(&tids[t], NULL, fs_worker, &args[t]) != 0) prog_die(PROG, "pthread_create failed");
  unsigned long long sum = 0;
  for (long t = 0; t < nthreads; t++) {
    pthread_join(tids[t], NULL);
    sum += args[t].sum;
  }
  free(tids);
  free(args);
  printf("falseshare %s: sum %llu\n", argv[1], sum);
  return 0;
}
