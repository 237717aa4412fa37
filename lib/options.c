/* options.c — the one table of run-time options (POOLMALLOC_*).
 *
 * Parsed once by pmi_init() straight from the environment block, without
 * allocating; ignored entirely for set-uid programs (AT_SECURE), as
 * jemalloc does.  Values outside [min, max] are clamped and reported.
 * tools/gen-options-doc turns this table into README's option list, so keep
 * one entry per line in the format below.
 */
#include "internal.h"

#include <string.h>

typedef struct pm_option_desc_s {
  const char *name;     /* after POOLMALLOC_ */
  long value_default;
  long min, max;
  const char *doc;
} pm_option_desc_t;

static const pm_option_desc_t options[PM_OPTION_COUNT] = {
  [PM_OPTION_SHOW_STATS] = {"SHOW_STATS", 0, 0, 1, "print allocator statistics to stderr at exit"},
  [PM_OPTION_DECAY_MS] = {"DECAY_MS", 1000, 0, 3600000, "empty pools and arenas, and freed large-block memory, go back to the OS between half this many milliseconds and this many after they empty"},
  [PM_OPTION_PURGE_FREE] = {"PURGE_FREE", 0, 0, 1, "purge with MADV_FREE (lazy, RSS drops only under pressure) instead of MADV_DONTNEED"},
  [PM_OPTION_FOREIGN_FREE] = {"FOREIGN_FREE", 0, 0, 1, "hand pointers poolmalloc did not allocate to the C library's free instead of aborting"},
  [PM_OPTION_LARGE_CACHE_MB] = {"LARGE_CACHE_MB", 1024, 0, 65536, "MiB of freed large-block memory kept resident for reuse at most (plus each thread's cache of up to 4 one-chunk blocks), and never so much that live + cached exceeds 5/4 of the recent peak of live large memory; 0 = none"},
  [PM_OPTION_VERBOSE] = {"VERBOSE", 0, 0, 1, "report the options in force and unusual events on stderr"},
};

long pmi_option_values[PM_OPTION_COUNT];   /* set from `options` by pmi_init() */

static bool options_parse_long(const char *s, long *out) {
  bool neg = *s == '-';
  if (neg || *s == '+') s++;
  if (*s == '\0') return false;
  long v = 0;
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9' || v > (0x7fffffffffffffffL - 9) / 10) return false;
    v = v * 10 + (*s - '0');
  }
  *out = neg ? -v : v;
  return true;
}

void pmi_options_init(char **envp, bool secure) {
  for (int i = 0; i < PM_OPTION_COUNT; i++) pmi_option_values[i] = options[i].value_default;
  if (envp == NULL || secure) return;
  static const char prefix[] = "POOLMALLOC_";
  for (char **e = envp; *e != NULL; e++) {
    if (strncmp(*e, prefix, sizeof prefix - 1) != 0) continue;
    const char *name = *e + sizeof prefix - 1, *eq = strchr(name, '=');
    if (eq == NULL) continue;
    int i = 0;
    while (i < PM_OPTION_COUNT && !(strlen(options[i].name) == (size_t)(eq - name) &&
                                    strncmp(options[i].name, name, (size_t)(eq - name)) == 0))
      i++;
    if (i == PM_OPTION_COUNT) {
      pmi_fmt_message("unknown option %s (ignored)", *e);
      continue;
    }
    long v;
    if (!options_parse_long(eq + 1, &v)) {
      pmi_fmt_message("option %s: not a number (using %ld)", *e, options[i].value_default);
      continue;
    }
    if (v < options[i].min || v > options[i].max) {
      long c = v < options[i].min ? options[i].min : options[i].max;
      pmi_fmt_message("option %s: out of range %ld..%ld (using %ld)", *e, options[i].min, options[i].max, c);
      v = c;
    }
    pmi_option_values[i] = v;
  }
  if (pmi_option(PM_OPTION_VERBOSE)) pmi_options_print(2);
}

void pmi_options_print(int fd) {
  for (int i = 0; i < PM_OPTION_COUNT; i++)
    pmi_fmt_print(fd, "poolmalloc: option POOLMALLOC_%s=%ld (default %ld)\n", options[i].name,
                  pmi_option_values[i], options[i].value_default);
}
