/* SPDX-License-Identifier: MIT */
/* bench/workloads/table.c — the list of micro workloads, in report order.
 *
 * Owns: pmb_workloads[] and the two helpers every workload shares
 * (pmb_sink, pmb_oom).  Adding a workload = one .c file in this directory,
 * one extern line and one table entry here, one line in bench/bench.mk.
 */
#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

volatile uintptr_t pmb_sink;

void pmb_oom(const char *workload, size_t size) {
  fprintf(stderr, "pm-microbench: %s: allocation of %zu bytes failed\n", workload, size);
  abort();
}

extern const pmb_workload_t pmb_workload_malloc_free;
extern const pmb_workload_t pmb_workload_batch_lifo;
extern const pmb_workload_t pmb_workload_batch_fifo;
extern const pmb_workload_t pmb_workload_batch_random;
extern const pmb_workload_t pmb_workload_calloc_free;
extern const pmb_workload_t pmb_workload_realloc_double;
extern const pmb_workload_t pmb_workload_realloc_add16;
extern const pmb_workload_t pmb_workload_aligned_alloc;
extern const pmb_workload_t pmb_workload_xthread_free;
extern const pmb_workload_t pmb_workload_interp_churn;

const pmb_workload_t *const pmb_workloads[] = {
    &pmb_workload_malloc_free,   &pmb_workload_batch_lifo,      &pmb_workload_batch_fifo,
    &pmb_workload_batch_random,  &pmb_workload_calloc_free,     &pmb_workload_realloc_double,
    &pmb_workload_realloc_add16, &pmb_workload_aligned_alloc,   &pmb_workload_xthread_free,
    &pmb_workload_interp_churn,  NULL,
};
