/* SPDX-License-Identifier: MIT */
/* prof_dump.c — writing heap profiles that google-pprof reads.
 *
 * Format: gperftools' heap profile, version 2 (what tcmalloc's sampler
 * writes and google-pprof parses in ReadHeapProfile):
 *
 *   heap profile:  <live n>: <live bytes> [<total n>: <total bytes>] @ heap_v2/<interval>
 *    <n>: <bytes> [<n>: <bytes>] @ 0x<pc> 0x<pc> ...      one line per site
 *   (blank line)
 *   MAPPED_LIBRARIES:
 *   <a copy of /proc/self/maps>                          so pprof can symbolize
 *
 * The counts are raw samples; "heap_v2/<interval>" tells pprof to scale
 * each line by 1/(1 - exp(-avg size / interval)), our own weight.
 *
 * When: at exit (prof.c), from pm_prof_dump(path), and on a signal.  The
 * signal handler only posts a semaphore (sem_post is async-signal-safe);
 * a helper thread started from our constructor waits on it and writes
 * <base>.<n> (base = POOLMALLOC_PROF_FILE or poolmalloc.<pid>.heap), so
 * nothing runs in the handler that could need a lock the interrupted
 * thread holds.  The helper thread does not survive fork (the child must
 * call pm_prof_dump itself).
 * Never calls malloc: lines are formatted by fmt.c into a static buffer
 * (used under pmi_prof_lock) and written with write(2).
 */
#define _GNU_SOURCE 1
#include "prof.h"

#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <unistd.h>

static struct {
  char buf[1 << 16];
  size_t len;
  int fd;
  bool failed;
} out;

static void dump_flush(void) {
  if (out.len == 0) return;
  errno = 0;
  pmi_prim_write(out.fd, out.buf, out.len);
  if (errno != 0 && errno != EINTR) out.failed = true;
  out.len = 0;
}

PM_PRINTF(1, 2) static void dump_printf(const char *fmt, ...) {
  if (sizeof out.buf - out.len < 512) dump_flush();
  va_list ap;
  va_start(ap, fmt);
  size_t n = pmi_fmt_vformat(out.buf + out.len, sizeof out.buf - out.len, fmt, ap);
  va_end(ap);
  out.len += n < sizeof out.buf - out.len ? n : sizeof out.buf - out.len - 1;
}

void pmi_prof_copy_maps(int fd) {
  int in = pmi_prim_open("/proc/self/maps", false);
  if (in < 0) return;
  char buf[4096];
  ssize_t n;
  while ((n = pmi_prim_read(in, buf, sizeof buf)) > 0) pmi_prim_write(fd, buf, (size_t)n);
  pmi_prim_close(in);
}

bool pmi_prof_write(int fd) {
  pthread_mutex_lock(&pmi_prof_lock);
  out.fd = fd;
  out.len = 0;
  out.failed = false;
  uint64_t ln = 0, lb = 0, an = 0, ab = 0;
  for (pmi_prof_site_t *s = pmi_prof_sites_locked(); s != NULL; s = s->all_next) {
    ln += s->live_n, lb += s->live_bytes, an += s->alloc_n, ab += s->alloc_bytes;
  }
  dump_printf("heap profile: %6llu: %8llu [%6llu: %8llu] @ heap_v2/%llu\n", (unsigned long long)ln,
              (unsigned long long)lb, (unsigned long long)an, (unsigned long long)ab,
              (unsigned long long)pmi_prof_interval());
  for (pmi_prof_site_t *s = pmi_prof_sites_locked(); s != NULL; s = s->all_next) {
    dump_printf("%6llu: %8llu [%6llu: %8llu] @", (unsigned long long)s->live_n,
                (unsigned long long)s->live_bytes, (unsigned long long)s->alloc_n,
                (unsigned long long)s->alloc_bytes);
    for (unsigned i = 0; i < s->depth; i++) dump_printf(" %p", s->pcs[i]);
    if (s->depth == 0) dump_printf(" 0x0");
    dump_printf("\n");
  }
  pmi_prof_counters.ndumps++;
  dump_printf("\nMAPPED_LIBRARIES:\n");
  dump_flush();
  bool ok = !out.failed;
  pthread_mutex_unlock(&pmi_prof_lock);
  pmi_prof_copy_maps(fd);
  return ok;
}

int pmi_prof_dump_path(const char *path) {
  int fd = pmi_prim_open(path, true);
  if (fd < 0) return -1;
  bool ok = pmi_prof_write(fd);
  pmi_prim_close(fd);
  if (!ok) errno = EIO;
  return ok ? 0 : -1;
}

/* ---- Dumps on a signal ------------------------------------------------------- */
static sem_t dump_sem;
static unsigned dump_seq;

static void dump_on_signal(int sig) {
  int saved = errno;
  sem_post(&dump_sem);
  errno = saved;
}

static void *dump_thread(void *arg) {
  for (;;) {
    while (sem_wait(&dump_sem) != 0) {
    }
    char path[1100];
    const char *base = pmi_option_path(PM_OPTION_PATH_PROF_FILE);
    if (base[0] != '\0') pmi_fmt_format(path, sizeof path, "%s.%u", base, ++dump_seq);
    else pmi_fmt_format(path, sizeof path, "poolmalloc.%d.heap.%u", (int)getpid(), ++dump_seq);
    if (pmi_prof_dump_path(path) != 0) pmi_fmt_message("cannot write the heap profile to %s", path);
    else if (pmi_option(PM_OPTION_VERBOSE)) pmi_fmt_message("heap profile written to %s", path);
  }
  return NULL;
}

void pmi_prof_dump_start(void) {
  int sig = (int)pmi_option(PM_OPTION_PROF_SIGNAL);
  if (sig == 0) return;
  if (sem_init(&dump_sem, 0, 0) != 0) return;
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  sigset_t all, old;   /* the helper never runs the handler itself */
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int rc = pthread_create(&t, &attr, dump_thread, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    pmi_fmt_message("cannot start the profile thread; POOLMALLOC_PROF_SIGNAL ignored");
    return;
  }
  struct sigaction sa = {0};
  sa.sa_handler = dump_on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(sig, &sa, NULL) != 0) pmi_fmt_message("cannot catch signal %d for heap profiles", sig);
}
