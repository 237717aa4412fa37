/* SPDX-License-Identifier: MIT */
/* bench/runner.c — pm-bench-exec: run one command, report wall, CPU, peak RSS.
 *
 * Owns: the measurement of one run of a whole-program benchmark, used by
 * tools/bench-run.  Why a C program and not Python's own fork: Linux keeps
 * ru_maxrss across execve() as a high-water mark that includes the forked
 * copy of the parent, so a child forked from a 15 MiB Python would report at
 * least 15 MiB.  This runner is small (about 1 MiB resident), runs the
 * command directly with execve() (no shell in between), and sets LD_PRELOAD
 * only in the child's environment, so the allocator under test is never
 * loaded into the runner itself.
 *
 * Usage: pm-bench-exec [-p PRELOAD] [-i STDIN] [-o STDOUT] [-e STDERR]
 *                      [-t TIMEOUT_S] [-s VAR=VALUE]... -- PROGRAM ARGS...
 *   -p ''  (or no -p) removes LD_PRELOAD from the child's environment.
 * Prints one line:  <status> <wall_s> <cpu_s> <maxrss_kb>
 *   status = the exit code, or "signal:N", or "timeout".
 * wall = CLOCK_MONOTONIC from just before fork to the reap; cpu = user+sys
 * of the child and every descendant it waited for; maxrss = the largest
 * RSS of the child or those descendants (wait4 rusage).
 * Exit status: 0 when a line was printed, 2 on usage or fork errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define RUNNER_MAX_ENV 4096

static double runner_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void runner_redirect(const char *path, int fd, int flags) {
  if (path == NULL) return;
  int f = open(path, flags, 0644);
  if (f < 0 || dup2(f, fd) < 0) {
    fprintf(stderr, "pm-bench-exec: %s: %s\n", path, strerror(errno));
    _exit(127);
  }
  close(f);
}

/* Copy environ minus LD_PRELOAD and minus any VAR that -s sets. */
static char **runner_env(const char *preload, char **sets, int nsets) {
  static char *envp[RUNNER_MAX_ENV];
  static char preload_var[8192];
  int n = 0;
  for (char **e = environ; *e && n < RUNNER_MAX_ENV - nsets - 2; e++) {
    if (strncmp(*e, "LD_PRELOAD=", 11) == 0) continue;
    int overridden = 0;
    for (int i = 0; i < nsets; i++) {
      size_t len = strcspn(sets[i], "=") + 1;
      if (strncmp(*e, sets[i], len) == 0) overridden = 1;
    }
    if (!overridden) envp[n++] = *e;
  }
  for (int i = 0; i < nsets; i++) envp[n++] = sets[i];
  if (preload && *preload) {
    snprintf(preload_var, sizeof preload_var, "LD_PRELOAD=%s", preload);
    envp[n++] = preload_var;
  }
  envp[n] = NULL;
  return envp;
}

int main(int argc, char **argv) {
  const char *preload = NULL, *in = NULL, *out = NULL, *err = NULL;
  double timeout = 0;
  char *sets[64];
  int nsets = 0, opt;
  while ((opt = getopt(argc, argv, "+p:i:o:e:t:s:")) != -1) {
    switch (opt) {
    case 'p': preload = optarg; break;
    case 'i': in = optarg; break;
    case 'o': out = optarg; break;
    case 'e': err = optarg; break;
    case 't': timeout = atof(optarg); break;
    case 's':
      if (nsets == 64 || strchr(optarg, '=') == NULL) goto usage;
      sets[nsets++] = optarg;
      break;
    default: goto usage;
    }
  }
  if (optind >= argc) goto usage;
  char **envp = runner_env(preload, sets, nsets);

  double t0 = runner_now();
  pid_t pid = fork();
  if (pid < 0) {
    perror("pm-bench-exec: fork");
    return 2;
  }
  if (pid == 0) {
    runner_redirect(in, 0, O_RDONLY);
    runner_redirect(out, 1, O_WRONLY | O_CREAT | O_TRUNC);
    runner_redirect(err, 2, O_WRONLY | O_CREAT | O_TRUNC);
    /* Search PATH like execvp, but with our environment. */
    execvpe(argv[optind], &argv[optind], envp);
    fprintf(stderr, "pm-bench-exec: %s: %s\n", argv[optind], strerror(errno));
    _exit(127);
  }
  int status = 0, timed_out = 0;
  struct rusage ru;
  for (;;) {
    pid_t r = wait4(pid, &status, timeout > 0 ? WNOHANG : 0, &ru);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      perror("pm-bench-exec: wait4");
      return 2;
    }
    if (timeout > 0 && runner_now() - t0 > timeout && !timed_out) {
      kill(pid, SIGKILL);
      timed_out = 1;
    }
    if (timeout > 0) usleep(2000);
  }
  double wall = runner_now() - t0;
  double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
  if (timed_out)
    printf("timeout");
  else if (WIFSIGNALED(status))
    printf("signal:%d", WTERMSIG(status));
  else
    printf("%d", WEXITSTATUS(status));
  printf(" %.6f %.6f %ld\n", wall, cpu, ru.ru_maxrss);
  return 0;

usage:
  fprintf(stderr, "usage: pm-bench-exec [-p PRELOAD] [-i IN] [-o OUT] [-e ERR] [-t SECS] "
                  "[-s VAR=VAL]... -- PROGRAM ARGS...\n");
  return 2;
}
