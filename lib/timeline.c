/* SPDX-License-Identifier: MIT */
/* timeline.c — POOLMALLOC_TIMELINE: the heap over time.
 *
 * A helper thread, started from our constructor when the option is set,
 * wakes every POOLMALLOC_TIMELINE_MS (default 100) and appends one line to
 * the file: milliseconds since start, bytes in live blocks (pools +
 * large), bytes mapped, the process's RSS, our resident estimate, the
 * large cache, then bytes in use per size class.  A helper thread and not
 * the allocator's slow paths: a program that stops allocating (or sleeps)
 * still gets its samples, and the fast and slow paths pay nothing.  The
 * census it takes holds the arena lock for one walk (stats_json.c).  The
 * last line is written at exit.  tools/pmprof plot draws the file with
 * gnuplot.  The thread does not survive fork: a child writes no timeline
 * (not even the exit line, which would land in its parent's file).
 * Never calls malloc: lines are formatted by fmt.c on the thread's stack.
 */
#define _GNU_SOURCE 1
#include "os.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

static struct {
  int fd;
  int pid;                  /* the process that opened the file */
  uint64_t t0_ns;
  pthread_mutex_t lock;     /* one writer at a time: the thread or exit */
  bool done;
} timeline = {.fd = -1, .lock = PM_LOCK_INITIALIZER};

static void timeline_line(void) {
  pmi_census_t c;
  pmi_census_take(&c);
  pm_stats_t s;
  pm_stats_get(&s);
  size_t rss = pmi_stats_rss();
  char line[4096];
  size_t n = pmi_fmt_format(line, sizeof line, "%llu\t%zu\t%zu\t%zu\t%zu\t%zu",
                            (unsigned long long)((pmi_prim_now_ns() - timeline.t0_ns) / 1000000u),
                            s.small_allocated + s.large_allocated, pm_atomic_load_relaxed(&pmi_counters.mapped), rss,
                            c.pool_resident + c.slots_free_dirty * PM_SLOT_SIZE + c.arena_header_resident +
                                s.large_allocated + s.large_cached,
                            s.large_cached);
  for (unsigned k = 0; k < PM_NCLASSES && n < sizeof line - 32; k++)
    n += pmi_fmt_format(line + n, sizeof line - n, "\t%zu", c.cls[k].used_bytes);
  line[n++] = '\n';
  pthread_mutex_lock(&timeline.lock);
  if (!timeline.done) pmi_prim_write(timeline.fd, line, n);
  pthread_mutex_unlock(&timeline.lock);
}

static void *timeline_thread(void *arg) {
  long ms = pmi_option(PM_OPTION_TIMELINE_MS);
  struct timespec period = {ms / 1000, (ms % 1000) * 1000000L};
  for (;;) {
    struct timespec left = period;
    while (nanosleep(&left, &left) != 0) {
    }
    timeline_line();
  }
  return NULL;
}

void pmi_timeline_start(void) {
  const char *path = pmi_option_path(PM_OPTION_PATH_TIMELINE);
  if (path[0] == '\0') return;
  timeline.fd = pmi_prim_open(path, true);
  if (timeline.fd < 0) {
    pmi_fmt_message("cannot open the timeline file %s", path);
    return;
  }
  timeline.t0_ns = pmi_prim_now_ns();
  timeline.pid = (int)getpid();
  char head[8192];
  size_t n = pmi_fmt_format(head, sizeof head,
                            "# poolmalloc timeline: pid %d, one line every %ld ms; bytes (docs/stats.md)\n"
                            "t_ms\tlive\tmapped\trss\tresident\tlarge_cached",
                            (int)getpid(), pmi_option(PM_OPTION_TIMELINE_MS));
  for (unsigned k = 0; k < PM_NCLASSES && n < sizeof head - 32; k++)
    n += pmi_fmt_format(head + n, sizeof head - n, "\tc%u", k == 0 ? 0u : (unsigned)pmi_class_info[k].block_size);
  head[n++] = '\n';
  pmi_prim_write(timeline.fd, head, n);
  timeline_line();
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  sigset_t all, old;   /* signals stay with the program's threads */
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  if (pthread_create(&t, &attr, timeline_thread, NULL) != 0)
    pmi_fmt_message("cannot start the timeline thread; one sample at start and one at exit only");
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
}

void pmi_timeline_at_exit(void) {
  if (timeline.fd < 0 || timeline.pid != (int)getpid()) return;   /* a forked child: not its file */
  timeline_line();
  pthread_mutex_lock(&timeline.lock);
  timeline.done = true;
  pmi_prim_close(timeline.fd);
  pthread_mutex_unlock(&timeline.lock);
}
