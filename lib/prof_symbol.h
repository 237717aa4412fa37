/* SPDX-License-Identifier: MIT */
/* prof_symbol.h — the symbolizer's interface (prof_symbol.c). */
#ifndef PM_PROF_SYMBOL_H
#define PM_PROF_SYMBOL_H

#include "prof.h"

typedef struct pmi_prof_strpool_s {
  char *buf;
  size_t len, cap;
} pmi_prof_strpool_t;

PM_INTERNAL bool pmi_prof_maps_lookup(const char *maps, size_t maps_len, uintptr_t pc, const char **path,
                                      size_t *path_len, uintptr_t *base);
/* names[i] = a string in sp for pcs[i] (return addresses). */
PM_INTERNAL void pmi_prof_symbolize(const char *maps, size_t maps_len, const uintptr_t *pcs, size_t n,
                                    const char **names, pmi_prof_strpool_t *sp);

#endif /* PM_PROF_SYMBOL_H */
