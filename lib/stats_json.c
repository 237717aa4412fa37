/* SPDX-License-Identifier: MIT */
/* stats_json.c — pm_stats_json and POOLMALLOC_SHOW_STATS=json: the whole
 * allocator as one JSON document (schema and the meaning of every figure:
 * docs/stats.md), and the census it is built from.
 *
 * The census walks every arena under the arena lock and reads each pool's
 * descriptor (pools of other threads are read without stopping them, as
 * pm_stats_get does: a consistent-enough snapshot).  Heaps are listed
 * under the heap lock.  The two locks are taken one after the other,
 * never together.  Resident memory is estimated from allocator state, not
 * measured (docs/stats.md, "Accounting for RSS"): a pool's slots are
 * resident up to its bump pointer (page-rounded), all of them if they were
 * dirty when the pool took them; dirty free slots are resident; purged and
 * never-used ones are not; large mappings (live or cached) are.
 * Never calls malloc: the document is formatted by fmt.c into a stack
 * buffer and written with write(2).
 */
#define _GNU_SOURCE 1
#include "prof.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#if PM_GC
#include <poolmalloc/gc.h>
#endif

/* ---- The census --------------------------------------------------------------- */
/* Reads other heaps' pool counters without stopping them (PM_NO_TSAN, as
 * pmi_arena_stats): a census is a moment's estimate. */
PM_NO_TSAN static void census_arena(const pm_arena_t *a, void *arg) {
  pmi_census_t *c = arg;
  c->narenas++;
  c->arena_mapped += PM_CHUNK_SIZE;
  c->arena_header_resident += pm_align_up(sizeof(pm_arena_t), PM_PAGE_SIZE);
  c->slots_free_dirty += pm_popcount64(a->free_mask & a->dirty_mask);
  c->slots_free_clean += pm_popcount64(a->free_mask & ~a->dirty_mask);
  for (unsigned s = PM_ARENA_FIRST_SLOT; s <= PM_ARENA_LAST_SLOT; s++) {
    const pm_pool_t *pool = pmi_arena_slot_pool(a, s);
    if (pool == NULL) continue;
    pmi_census_class_t *k = &c->cls[pool->cls];
    size_t bs = pool->block_size, bytes = (size_t)pool->nslots * PM_SLOT_SIZE;
    uint32_t nused = pool->nused;
    size_t carved_bytes = pmi_pool_carved(pool);
    if (nused > pool->capacity) nused = pool->capacity;     /* read mid-update */
    size_t carved = carved_bytes / bs;
    if (carved < nused) carved = nused;
    size_t touched = pm_align_up(carved_bytes, PM_PAGE_SIZE);
    size_t resident = pool->carved_is_zero ? touched : bytes;
    c->slots_in_pools += pool->nslots;
    k->npools++;
    k->pool_bytes += bytes;
    k->nused += nused;
    k->used_bytes += (size_t)nused * bs;
    k->free_bytes += (carved - nused) * bs;
    k->uncarved_bytes += (size_t)(pool->capacity - carved) * bs;
    k->resident += resident;
    c->pool_resident += resident;
  }
}

void pmi_census_take(pmi_census_t *c) {
  memset(c, 0, sizeof *c);
  pmi_arena_walk(census_arena, c);
}

size_t pmi_stats_rss(void) {
  int fd = pmi_prim_open("/proc/self/statm", false);
  if (fd < 0) return 0;
  char buf[128];
  ssize_t n = pmi_prim_read(fd, buf, sizeof buf - 1);
  pmi_prim_close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char *p = buf;
  while (*p != ' ' && *p != '\0') p++;   /* size, then resident */
  size_t pages = 0;
  for (p++; *p >= '0' && *p <= '9'; p++) pages = pages * 10 + (size_t)(*p - '0');
  return pages * PM_PAGE_SIZE;
}

/* ---- JSON output --------------------------------------------------------------- */
typedef struct json_s {
  int fd;
  char buf[8192];
  size_t len;
  bool comma;          /* a value was written at this level */
} json_t;

static void json_flush(json_t *j) {
  pmi_prim_write(j->fd, j->buf, j->len);
  j->len = 0;
}

PM_PRINTF(2, 3) static void json_raw(json_t *j, const char *fmt, ...) {
  if (sizeof j->buf - j->len < 1024) json_flush(j);
  va_list ap;
  va_start(ap, fmt);
  size_t n = pmi_fmt_vformat(j->buf + j->len, sizeof j->buf - j->len, fmt, ap);
  va_end(ap);
  j->len += n < sizeof j->buf - j->len ? n : sizeof j->buf - j->len - 1;
}

static void json_key(json_t *j, const char *key) {
  json_raw(j, "%s", j->comma ? "," : "");
  if (key != NULL) json_raw(j, "\"%s\":", key);
  j->comma = true;
}
static void json_open(json_t *j, const char *key, char brace) {
  json_key(j, key);
  json_raw(j, "%c", brace);
  j->comma = false;
}
static void json_close(json_t *j, char brace) {
  json_raw(j, "%c", brace);
  j->comma = true;
}
static void json_num(json_t *j, const char *key, size_t v) {
  json_key(j, key);
  json_raw(j, "%zu", v);
}
static void json_bool(json_t *j, const char *key, bool v) {
  json_key(j, key);
  json_raw(j, "%s", v ? "true" : "false");
}
/* Strings we write are our own (no quotes or control characters) except
 * paths, which are escaped minimally. */
static void json_str(json_t *j, const char *key, const char *s) {
  json_key(j, key);
  json_raw(j, "\"");
  for (; *s != '\0'; s++) {
    if (*s == '"' || *s == '\\') json_raw(j, "\\%c", *s);
    else if ((unsigned char)*s < 0x20) json_raw(j, "\\u%04x", (unsigned)(unsigned char)*s);
    else json_raw(j, "%c", *s);
  }
  json_raw(j, "\"");
}

/* ---- Sections ------------------------------------------------------------------ */
static size_t status_field(const char *status, const char *name) {   /* "Name:  123 kB" */
  const char *p = strstr(status, name);
  if (p == NULL) return 0;
  p += strlen(name);
  while (*p == ' ' || *p == '\t' || *p == ':') p++;
  size_t v = 0;
  for (; *p >= '0' && *p <= '9'; p++) v = v * 10 + (size_t)(*p - '0');
  return v * 1024;
}

static void json_process(json_t *j) {
  char status[4096];
  int fd = pmi_prim_open("/proc/self/status", false);
  ssize_t n = fd >= 0 ? pmi_prim_read(fd, status, sizeof status - 1) : -1;
  if (fd >= 0) pmi_prim_close(fd);
  status[n > 0 ? n : 0] = '\0';
  json_open(j, "process", '{');
  json_num(j, "vm_rss", status_field(status, "\nVmRSS"));
  json_num(j, "rss_anon", status_field(status, "\nRssAnon"));
  json_num(j, "rss_file", status_field(status, "\nRssFile"));
  json_num(j, "rss_shmem", status_field(status, "\nRssShmem"));
  json_num(j, "vm_hwm", status_field(status, "\nVmHWM"));
  json_close(j, '}');
}

typedef struct heap_row_s {
  const pm_heap_t *h;
  size_t npools, used_bytes;
} heap_row_t;
#define JSON_MAX_HEAPS 256
typedef struct heap_rows_s {
  heap_row_t rows[JSON_MAX_HEAPS];
  size_t n, total;
} heap_rows_t;

static void json_collect_heap(const pm_heap_t *h, void *arg) {
  heap_rows_t *r = arg;
  r->total++;
  if (r->n < JSON_MAX_HEAPS) r->rows[r->n++] = (heap_row_t){h, 0, 0};
}

PM_NO_TSAN static void json_heap_usage(const pm_arena_t *a, void *arg) {
  heap_rows_t *r = arg;
  for (unsigned s = PM_ARENA_FIRST_SLOT; s <= PM_ARENA_LAST_SLOT; s++) {
    const pm_pool_t *pool = pmi_arena_slot_pool(a, s);
    if (pool == NULL) continue;
    const pm_heap_t *owner = pm_atomic_load_relaxed(&pool->heap);
    for (size_t i = 0; i < r->n; i++)
      if (r->rows[i].h == owner) {
        r->rows[i].npools++;
        r->rows[i].used_bytes += (size_t)pool->nused * pool->block_size;
        break;
      }
  }
}

static void json_heaps(json_t *j, heap_rows_t *r) {
  size_t pending = 0;
  json_open(j, "heaps", '[');
  for (size_t i = 0; i < r->n; i++) {
    const pm_heap_t *h = r->rows[i].h;
    bool remote = pmi_heap_has_remote(h);
    pending += remote;
    static const char *const states[] = {"?", "active", "abandoned", "unused", "orphaned"};
    json_open(j, NULL, '{');
    json_str(j, "state", states[h->state <= PM_HEAP_ORPHANED ? h->state : 0]);
    json_num(j, "pools", r->rows[i].npools);
    json_num(j, "bytes_in_use", r->rows[i].used_bytes);
    json_bool(j, "remote_frees_pending", remote);
    json_close(j, '}');
  }
  json_close(j, ']');
  json_open(j, "remote_free", '{');
  json_num(j, "heaps_listed", r->n);
  json_num(j, "heaps_total", r->total);
  json_num(j, "heaps_with_pending_remote_frees", pending);
  json_num(j, "batch_blocks", PM_REMOTE_BATCH);
  json_close(j, '}');
}

/* The chunk map's runs of consecutive arena or large chunks, from the
 * leaves that exist (a few for a typical heap: each covers 16 GiB). */
static void json_regions(json_t *j) {
  json_open(j, "regions", '[');
  uintptr_t run_lo = 0, run_hi = 0;
  unsigned run_kind = 0;
  for (size_t r = 0; r <= PM_PAGEMAP_ROOT_SIZE; r++) {
    const uint8_t *leaf = r < PM_PAGEMAP_ROOT_SIZE ? pm_atomic_load_relaxed(&pmi_pagemap_root[r]) : NULL;
    if (leaf == NULL && run_kind == 0) continue;
    for (size_t i = 0; i < PM_PAGEMAP_LEAF_SIZE; i++) {
      unsigned kind = leaf != NULL ? pm_atomic_load_relaxed(&leaf[i]) & PM_PAGEMAP_KIND_MASK : 0;
      unsigned cls = kind == PM_CHUNK_ARENA ? 1 : kind != 0 ? 2 : 0;
      uintptr_t chunk = ((uintptr_t)r * PM_PAGEMAP_LEAF_SIZE + i) << PM_CHUNK_SHIFT;
      if (cls == run_kind && cls != 0 && chunk == run_hi) {
        run_hi += PM_CHUNK_SIZE;
        continue;
      }
      if (run_kind != 0) {
        json_open(j, NULL, '[');
        json_num(j, NULL, run_lo);
        json_num(j, NULL, run_hi);
        json_str(j, NULL, run_kind == 1 ? "arena" : "large");
        json_close(j, ']');
      }
      run_kind = cls;
      run_lo = chunk;
      run_hi = chunk + PM_CHUNK_SIZE;
      if (leaf == NULL) break;
    }
  }
  json_close(j, ']');
}

static void json_gc(json_t *j) {
#if PM_GC
  pm_gc_stats_t st[PM_GC_NGEN];
  pm_gc_get_stats(st);
  long count[3];
  pm_gc_get_count(count);
  json_open(j, "gc", '{');
  json_num(j, "live_objects", pm_gc_live_objects());
  json_num(j, "frozen_objects", pm_gc_gen_size(PM_GC_PERMANENT));
  json_open(j, "generations", '[');
  for (int g = 0; g < PM_GC_NGEN; g++) {
    json_open(j, NULL, '{');
    json_num(j, "objects", pm_gc_gen_size(g));
    json_num(j, "count", (size_t)(count[g] < 0 ? 0 : count[g]));
    json_num(j, "collections", st[g].collections);
    json_num(j, "collected", st[g].collected);
    json_num(j, "uncollectable", st[g].uncollectable);
    json_close(j, '}');
  }
  json_close(j, ']');
  json_close(j, '}');
#else
  json_key(j, "gc");
  json_raw(j, "null");
#endif
}

static void json_profiler(json_t *j) {
  pthread_mutex_lock(&pmi_prof_lock);
  size_t nsites = pmi_prof_nsites_locked(), nlive = pmi_prof_nsamples_locked();
  pmi_prof_counters_t pc = pmi_prof_counters;
  double est = 0;
  for (pmi_prof_site_t *s = pmi_prof_sites_locked(); s != NULL; s = s->all_next) est += s->est_live_bytes;
  pthread_mutex_unlock(&pmi_prof_lock);
  json_open(j, "profiler", '{');
  json_bool(j, "enabled", pmi_prof_on);
  json_num(j, "interval", (size_t)pmi_prof_interval());
  json_num(j, "sites", nsites);
  json_num(j, "live_samples", nlive);
  json_num(j, "live_bytes_estimate", (size_t)est);
  json_num(j, "samples_taken", pc.nsampled);
  json_num(j, "samples_freed", pc.nfreed);
  json_num(j, "samples_skipped", pc.nskipped);
  json_num(j, "dumps", pc.ndumps);
  json_num(j, "table_bytes", pmi_prof_table_bytes());
  json_close(j, '}');
}

PM_EXPORT int pm_stats_json(int fd) {
  pmi_init_ensure();
  if (fd < 0) {
    errno = EBADF;
    return -1;
  }
  pmi_census_t c;
  pmi_census_take(&c);
  heap_rows_t heaps = {.n = 0};
  pmi_heap_walk(json_collect_heap, &heaps);
  pmi_arena_walk(json_heap_usage, &heaps);
  pm_stats_t s;
  pm_stats_get(&s);
  json_t jv = {.fd = fd}, *j = &jv;
  json_open(j, NULL, '{');
  json_num(j, "schema", 1);
  json_str(j, "version", pm_version());
  json_num(j, "pid", (size_t)getpid());
  json_process(j);

  /* ---- totals: the pm_stats_t fields, as malloc_stats prints them ---- */
  json_open(j, "totals", '{');
#define JSON_FIELD(f, doc) json_num(j, #f, s.f);
  JSON_FIELD(arena_mapped, 0) JSON_FIELD(arena_resident, 0) JSON_FIELD(pool_in_use, 0)
  JSON_FIELD(small_allocated, 0) JSON_FIELD(small_free, 0) JSON_FIELD(large_allocated, 0)
  JSON_FIELD(large_cached, 0) JSON_FIELD(narenas, 0) JSON_FIELD(nlarge, 0) JSON_FIELD(nheaps, 0)
  JSON_FIELD(peak_mapped, 0) JSON_FIELD(npurges, 0) JSON_FIELD(narena_unmaps, 0)
#undef JSON_FIELD
  json_close(j, '}');

  /* ---- accounting: every resident byte we can name ---- */
  size_t used = 0, free_b = 0, uncarved = 0;
  for (unsigned k = 0; k < PM_NCLASSES; k++) used += c.cls[k].used_bytes, free_b += c.cls[k].free_bytes,
                                                 uncarved += c.cls[k].uncarved_bytes;
  size_t pool_other = c.pool_resident > used + free_b ? c.pool_resident - used - free_b : 0;
  size_t dirty = c.slots_free_dirty * PM_SLOT_SIZE;
  size_t heap_meta = pm_align_up(s.nheaps * pm_align_up(sizeof(pm_heap_t), 64), PM_PAGE_SIZE);
  size_t prof_meta = pmi_prof_table_bytes();
  size_t total = used + free_b + pool_other + dirty + c.arena_header_resident + s.large_allocated +
                 s.large_cached + heap_meta + prof_meta;
  json_open(j, "accounting", '{');
  json_num(j, "blocks_in_use", used);
  json_num(j, "free_in_pools", free_b);
  json_num(j, "pool_slack_resident", pool_other);
  json_num(j, "dirty_free_slots", dirty);
  json_num(j, "arena_headers", c.arena_header_resident);
  json_num(j, "large_live", s.large_allocated);
  json_num(j, "large_cached", s.large_cached);
  json_num(j, "heap_metadata", heap_meta);
  json_num(j, "profiler_tables", prof_meta);
  json_num(j, "resident_total", total);
  json_close(j, '}');

  json_open(j, "size_classes", '[');
  for (unsigned k = 0; k < PM_NCLASSES; k++) {
    const pmi_census_class_t *cl = &c.cls[k];
    json_open(j, NULL, '{');
    json_num(j, "class", k);
    json_num(j, "block_size", pmi_class_info[k].block_size);
    json_num(j, "pool_slots", pmi_class_info[k].nslots);
    json_num(j, "pools", cl->npools);
    json_num(j, "pool_bytes", cl->pool_bytes);
    json_num(j, "blocks_in_use", cl->nused);
    json_num(j, "bytes_in_use", cl->used_bytes);
    json_num(j, "free_bytes", cl->free_bytes);
    json_num(j, "uncarved_bytes", cl->uncarved_bytes);
    json_num(j, "resident_estimate", cl->resident);
    json_close(j, '}');
  }
  json_close(j, ']');

  json_open(j, "arenas", '{');
  json_num(j, "count", c.narenas);
  json_num(j, "mapped", c.arena_mapped);
  json_num(j, "resident_estimate", c.pool_resident + dirty + c.arena_header_resident);
  json_num(j, "slots_in_pools", c.slots_in_pools);
  json_num(j, "dirty", dirty);
  json_num(j, "clean_free", c.slots_free_clean * PM_SLOT_SIZE);
  json_num(j, "purged_total", pm_atomic_load_relaxed(&pmi_counters.purged_bytes));
  json_num(j, "purges", s.npurges);
  json_num(j, "unmapped_total", s.narena_unmaps * PM_CHUNK_SIZE);
  json_num(j, "decay_ms", (size_t)pmi_option(PM_OPTION_DECAY_MS));
  json_close(j, '}');

  json_open(j, "large", '{');
  json_num(j, "live_blocks", s.nlarge);
  json_num(j, "live_bytes", s.large_allocated);
  json_num(j, "cached_bytes", s.large_cached);
  json_num(j, "cache_limit", (size_t)pmi_option(PM_OPTION_LARGE_CACHE_MB) << 20);
  json_num(j, "thread_cache_slots", PM_LARGE_TCACHE_SLOTS);
  json_num(j, "reserved_bytes", pmi_large_reserved());
  json_close(j, '}');

  json_heaps(j, &heaps);
  json_gc(j);
  json_profiler(j);
  json_regions(j);
  json_close(j, '}');
  json_raw(j, "\n");
  json_flush(j);
  return 0;
}
