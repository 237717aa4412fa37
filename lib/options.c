/* SPDX-License-Identifier: MIT */
/* options.c — the run-time options (POOLMALLOC_*), parsed once.
 *
 * Parsed once by pmi_init() straight from the environment block, without
 * allocating; ignored entirely for set-uid programs (AT_SECURE), as
 * jemalloc does.  Numbers outside [min, max] are clamped and reported; some
 * options also take a word (SHOW_STATS=json, PROF_SIGNAL=USR2); paths are
 * copied into static storage at start-up, so a program that edits its
 * environment cannot pull them from under us.  The options themselves are
 * listed once, in options.def (which also feeds the enums in internal.h and
 * the tables of README and poolmalloc(3)).
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
};

#define PM_OPTION(name, value_default, min, max, doc)                          \
  _Static_assert((min) <= (value_default) && (value_default) <= (max),         \
                 "POOLMALLOC_" #name ": the default is outside its range");
#include "options.def"

/* Words some numeric options accept instead of a number. */
static const struct {
  pm_option_t option;
  const char *word;
  long value;
} options_words[] = {
#define PM_OPTION_WORD(name, word, value) {PM_OPTION_##name, word, value},
#include "options.def"
};

static const char *const options_path_names[PM_OPTION_PATH_COUNT] = {
#define PM_OPTION_PATH(name, doc) [PM_OPTION_PATH_##name] = #name,
#include "options.def"
};

#define OPTIONS_PATH_MAX 1024
static char options_path_values[PM_OPTION_PATH_COUNT][OPTIONS_PATH_MAX];

long pmi_option_values[PM_OPTION_COUNT];   /* set from `options` by pmi_init() */

const char *pmi_option_path(pm_option_path_t o) { return options_path_values[o]; }

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

static bool options_name_is(const char *name, size_t len, const char *want) {
  return strlen(want) == len && strncmp(want, name, len) == 0;
}

/* A number, or one of the words the option takes. */
static bool options_value(int i, const char *text, long *out) {
  for (size_t w = 0; w < sizeof options_words / sizeof options_words[0]; w++)
    if ((int)options_words[w].option == i && strcmp(options_words[w].word, text) == 0) {
      *out = options_words[w].value;
      return true;
    }
  return options_parse_long(text, out);
}

static void options_set_path(int i, const char *entry, const char *text) {
  size_t len = strlen(text);
  if (len >= OPTIONS_PATH_MAX) pmi_fmt_message("option %.60s...: path too long (ignored)", entry);
  else memcpy(options_path_values[i], text, len + 1);
}

void pmi_options_init(char **envp, bool secure) {
  for (int i = 0; i < PM_OPTION_COUNT; i++) pmi_option_values[i] = options[i].value_default;
  if (envp == NULL || secure) return;
  static const char prefix[] = "POOLMALLOC_";
  for (char **e = envp; *e != NULL; e++) {
    if (strncmp(*e, prefix, sizeof prefix - 1) != 0) continue;
    const char *name = *e + sizeof prefix - 1, *eq = strchr(name, '=');
    if (eq == NULL) continue;
    size_t len = (size_t)(eq - name);
    int i = 0, p = 0;
    while (i < PM_OPTION_COUNT && !options_name_is(name, len, options[i].name)) i++;
    while (p < PM_OPTION_PATH_COUNT && !options_name_is(name, len, options_path_names[p])) p++;
    if (p < PM_OPTION_PATH_COUNT) {
      options_set_path(p, *e, eq + 1);
      continue;
    }
    if (i == PM_OPTION_COUNT) {
      pmi_fmt_message("unknown option %s (ignored)", *e);
      continue;
    }
    long v;
    if (!options_value(i, eq + 1, &v)) {
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
  for (int i = 0; i < PM_OPTION_PATH_COUNT; i++)
    if (options_path_values[i][0] != '\0')
      pmi_fmt_print(fd, "poolmalloc: option POOLMALLOC_%s=%s\n", options_path_names[i], options_path_values[i]);
}
