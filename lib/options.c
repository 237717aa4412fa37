/* SPDX-License-Identifier: MIT */
/* options.c — the one table of run-time options (POOLMALLOC_*).
 *
 * Parsed once by pmi_init() straight from the environment block, without
 * allocating; ignored entirely for set-uid programs (AT_SECURE), as
 * jemalloc does.  Values outside [min, max] are clamped and reported.
 * The options themselves are listed once, in options.def (which also feeds
 * the enum in internal.h and the tables of README and poolmalloc(3)).
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
#define PM_OPTION(name, value_default, min, max, doc) [PM_OPTION_##name] = {#name, value_default, min, max, doc},
#include "options.def"
#undef PM_OPTION
};

#define PM_OPTION(name, value_default, min, max, doc)                          \
  _Static_assert((min) <= (value_default) && (value_default) <= (max),         \
                 "POOLMALLOC_" #name ": the default is outside its range");
#include "options.def"
#undef PM_OPTION

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
