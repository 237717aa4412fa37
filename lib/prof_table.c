/* SPDX-License-Identifier: MIT */
/* prof_table.c — the profiler's two tables, in our own mappings.
 *
 *   sites    identical (stack, annotation) pairs share one record: a
 *            chained hash table of 2^16 buckets over records bump-allocated
 *            from 1 MiB chunks.  Records are never freed (a site that
 *            stops allocating keeps its cumulative counts for the dumps).
 *   samples  live sampled blocks, by address: open addressing with linear
 *            probing and backward-shift deletion (no tombstones), doubled
 *            when half full.  The old array is unmapped after the copy.
 *
 * Invariants: every sample's site is in the site table;
 *   sum over sites of live_n == number of samples in the table.
 * Caller holds pmi_prof_lock for everything here.  Never calls malloc:
 * memory comes from pmi_os_map and nothing else.
 */
#include "prof.h"

pthread_mutex_t pmi_prof_lock = PM_LOCK_INITIALIZER;

#define TABLE_CHUNK ((size_t)1 << 20)
#define TABLE_BUCKETS ((size_t)1 << 16)
#define TABLE_MIN_SAMPLES ((size_t)1 << 12)

static struct {
  char *cur, *end;                 /* bump region for site records       */
  pmi_prof_site_t **buckets;       /* TABLE_BUCKETS chains               */
  pmi_prof_site_t *all;
  size_t nsites;
  pmi_prof_sample_t *samples;      /* capacity slots, power of two       */
  size_t capacity, nsamples;
  size_t mapped;                   /* bytes of our mappings: relaxed      */
} table;

void *pmi_prof_table_alloc_locked(size_t size) {
  size = pm_align_up(size, 16);
  if (table.cur == NULL || table.cur + size > table.end) {
    size_t chunk = size > TABLE_CHUNK ? pm_align_up(size, PM_PAGE_SIZE) : TABLE_CHUNK;
    char *m = pmi_os_map(chunk, PM_PAGE_SIZE);
    if (m == NULL) return NULL;
    pmi_os_name(m, chunk, "poolmalloc profile");
    pm_atomic_add_relaxed(&table.mapped, chunk);
    table.cur = m;
    table.end = m + chunk;
  }
  void *p = table.cur;
  table.cur += size;
  return p;
}

size_t pmi_prof_table_bytes(void) { return pm_atomic_load_relaxed(&table.mapped); }

/* ---- Sites --------------------------------------------------------------- */
static uint64_t table_hash(void *const *pcs, unsigned depth, const char *annotation) {
  uint64_t h = 0xcbf29ce484222325ull ^ (uintptr_t)annotation;
  for (unsigned i = 0; i < depth; i++) {
    h ^= (uintptr_t)pcs[i];
    h *= 0x100000001b3ull;
    h ^= h >> 29;
  }
  return h ^ depth;
}

pmi_prof_site_t *pmi_prof_site_get_locked(void *const *pcs, unsigned depth, const char *annotation) {
  if (table.buckets == NULL) {
    table.buckets = pmi_prof_table_alloc_locked(TABLE_BUCKETS * sizeof(pmi_prof_site_t *));
    if (table.buckets == NULL) return NULL;
  }
  uint64_t h = table_hash(pcs, depth, annotation);
  pmi_prof_site_t **bucket = &table.buckets[h & (TABLE_BUCKETS - 1)];
  for (pmi_prof_site_t *s = *bucket; s != NULL; s = s->hash_next) {
    if (s->hash != h || s->depth != depth || s->annotation != annotation) continue;
    unsigned i = 0;
    while (i < depth && s->pcs[i] == pcs[i]) i++;
    if (i == depth) return s;
  }
  pmi_prof_site_t *s = pmi_prof_table_alloc_locked(sizeof *s + depth * sizeof(void *));
  if (s == NULL) return NULL;
  s->hash = h;
  s->depth = depth;
  s->annotation = annotation;
  for (unsigned i = 0; i < depth; i++) s->pcs[i] = pcs[i];
  s->hash_next = *bucket;
  *bucket = s;
  s->all_next = table.all;
  table.all = s;
  table.nsites++;
  return s;
}

pmi_prof_site_t *pmi_prof_sites_locked(void) { return table.all; }
size_t pmi_prof_nsites_locked(void) { return table.nsites; }

/* ---- Samples ------------------------------------------------------------- */
static size_t table_slot(uintptr_t addr, size_t capacity) {
  return (size_t)((addr >> 4) * 0x9e3779b97f4a7c15ull >> 20) & (capacity - 1);
}

static bool table_grow_locked(void) {
  size_t cap = table.capacity ? table.capacity * 2 : TABLE_MIN_SAMPLES;
  size_t bytes = cap * sizeof(pmi_prof_sample_t);
  pmi_prof_sample_t *n = pmi_os_map(bytes, PM_PAGE_SIZE);
  if (n == NULL) return false;
  pmi_os_name(n, bytes, "poolmalloc profile");
  pm_atomic_add_relaxed(&table.mapped, bytes);
  for (size_t i = 0; i < table.capacity; i++) {
    if (table.samples[i].addr == 0) continue;
    size_t j = table_slot(table.samples[i].addr, cap);
    while (n[j].addr != 0) j = (j + 1) & (cap - 1);
    n[j] = table.samples[i];
  }
  if (table.samples != NULL) {
    size_t old = table.capacity * sizeof(pmi_prof_sample_t);
    pmi_os_unmap(table.samples, old);
    pm_atomic_sub_relaxed(&table.mapped, old);
  }
  table.samples = n;
  table.capacity = cap;
  return true;
}

bool pmi_prof_sample_add_locked(uintptr_t addr, pmi_prof_site_t *site, size_t size) {
  if ((table.nsamples + 1) * 2 > table.capacity && !table_grow_locked()) return false;
  size_t j = table_slot(addr, table.capacity);
  while (table.samples[j].addr != 0) j = (j + 1) & (table.capacity - 1);
  table.samples[j] = (pmi_prof_sample_t){addr, site, size};
  table.nsamples++;
  return true;
}

pmi_prof_sample_t *pmi_prof_sample_find_locked(uintptr_t addr) {
  if (table.capacity == 0) return NULL;
  for (size_t j = table_slot(addr, table.capacity);; j = (j + 1) & (table.capacity - 1)) {
    if (table.samples[j].addr == addr) return &table.samples[j];
    if (table.samples[j].addr == 0) return NULL;
  }
}

/* Backward-shift deletion: later entries of the probe run move up into the
 * hole when their home slot is not between the hole and them. */
void pmi_prof_sample_remove_locked(pmi_prof_sample_t *s) {
  size_t mask = table.capacity - 1, hole = (size_t)(s - table.samples);
  for (size_t j = (hole + 1) & mask; table.samples[j].addr != 0; j = (j + 1) & mask) {
    size_t home = table_slot(table.samples[j].addr, table.capacity);
    bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
    if (movable) {
      table.samples[hole] = table.samples[j];
      hole = j;
    }
  }
  table.samples[hole].addr = 0;
  table.nsamples--;
}

size_t pmi_prof_nsamples_locked(void) { return table.nsamples; }
