/* SPDX-License-Identifier: MIT */
/* prof.h — what the profiler's files share (prof.c, prof_stack.c,
 * prof_table.c, prof_dump.c, prof_report.c); the hooks the allocator core
 * calls are in internal.h under "prof.c".  Design: docs/profiling.md.
 *
 * A sample is one live block the profiler chose: its address, its size
 * (block size for pools, usable size for large blocks) and its site.  A
 * site is one distinct (call stack, annotation) pair; sites are never
 * freed, so a pointer to one stays valid for the life of the process.
 * Each sample of size s stands for 1/p(s) blocks and s/p(s) bytes, where
 * p(s) = 1 - exp(-s / interval) is the probability that a block of size s
 * is sampled (a Poisson process over allocated bytes).
 * All tables live in memory from pmi_os_map and are guarded by one lock,
 * taken only on slow paths (a sample, the free of a sampled block, a dump).
 */
#ifndef PM_PROF_H
#define PM_PROF_H

#include "os.h"

#define PM_PROF_MAX_DEPTH 64

typedef struct pmi_prof_site_s {
  struct pmi_prof_site_s *hash_next;  /* chain in the site table         */
  struct pmi_prof_site_s *all_next;   /* every site, newest first        */
  uint64_t hash;
  const char *annotation;             /* NULL, or e.g. a GC type's name  */
  uint64_t live_n, live_bytes;        /* samples live now (raw)          */
  uint64_t alloc_n, alloc_bytes;      /* samples ever taken (raw)        */
  double est_live_n, est_live_bytes;  /* sum of the samples' weights     */
  uint32_t depth;
  void *pcs[];                        /* return addresses, innermost first */
} pmi_prof_site_t;

typedef struct pmi_prof_sample_s {
  uintptr_t addr;                     /* 0: empty slot                   */
  pmi_prof_site_t *site;
  size_t size;
} pmi_prof_sample_t;

/* ---- prof_stack.c ---- */
PM_INTERNAL unsigned pmi_prof_backtrace(void **pcs, unsigned max);
PM_INTERNAL void pmi_prof_stack_prime(void);

/* ---- prof_table.c (every function: caller holds pmi_prof_lock) ---- */
PM_INTERNAL extern pthread_mutex_t pmi_prof_lock;
PM_INTERNAL pmi_prof_site_t *pmi_prof_site_get_locked(void *const *pcs, unsigned depth, const char *annotation);
PM_INTERNAL pmi_prof_site_t *pmi_prof_sites_locked(void);          /* the all_next list */
PM_INTERNAL size_t pmi_prof_nsites_locked(void);
PM_INTERNAL bool pmi_prof_sample_add_locked(uintptr_t addr, pmi_prof_site_t *site, size_t size);
PM_INTERNAL pmi_prof_sample_t *pmi_prof_sample_find_locked(uintptr_t addr);
PM_INTERNAL void pmi_prof_sample_remove_locked(pmi_prof_sample_t *s);
PM_INTERNAL size_t pmi_prof_nsamples_locked(void);
/* Bytes of our own mappings the tables use (for the JSON statistics). */
PM_INTERNAL size_t pmi_prof_table_bytes(void);
/* Bump memory for tables (never freed); NULL if mapping fails. */
PM_INTERNAL void *pmi_prof_table_alloc_locked(size_t size);

/* ---- prof.c ---- */
PM_INTERNAL double pmi_prof_interval(void);
/* Weight of one sample of size bytes: the blocks it stands for, 1/p. */
PM_INTERNAL double pmi_prof_weight(size_t size);
typedef struct pmi_prof_counters_s {
  uint64_t nsampled;     /* samples taken                              */
  uint64_t nfreed;       /* sampled blocks freed                       */
  uint64_t nskipped;     /* samples lost to recursion or a full table  */
  uint64_t ndumps;       /* profiles written                           */
} pmi_prof_counters_t;
PM_INTERNAL extern pmi_prof_counters_t pmi_prof_counters;   /* under the lock */

/* ---- prof_dump.c ---- */
/* Writes a gperftools heap profile (heap_v2) to fd; false on a write error. */
PM_INTERNAL bool pmi_prof_write(int fd);
PM_INTERNAL void pmi_prof_dump_start(void);     /* the signal and its thread */
/* Copies /proc/self/maps to fd without allocating. */
PM_INTERNAL void pmi_prof_copy_maps(int fd);
PM_INTERNAL int pmi_prof_dump_path(const char *path);

/* The leak report's fd when it goes to stderr (a copy taken at start-up). */
PM_INTERNAL extern int pmi_prof_report_fd;

/* ---- prof_report.c ---- */
PM_INTERNAL void pmi_prof_leak_report(void);

#endif /* PM_PROF_H */
