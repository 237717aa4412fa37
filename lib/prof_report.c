/* SPDX-License-Identifier: MIT */
/* prof_report.c — tracemalloc for C: snapshots, comparisons, filters, and
 * the leak report at exit (docs/profiling.md, "Snapshots").
 *
 * A snapshot is one mapping of our own (never malloc) laid out as
 *
 *   pm_snapshot_s | sites[n] | frames (all sites, back to back) |
 *   maps text (/proc/self/maps at the time of the snapshot)
 *
 * plus, after pm_snapshot_symbolize, a second mapping with the symbol
 * pointers and their strings.  Sites are keyed by the profiler's site
 * record (one per distinct stack and annotation, never freed), so
 * comparing two snapshots is a merge on that key.  Estimates: a site's
 * bytes and count are the sums of its samples' weights (prof.c).
 * Sorting is our own (shell sort): glibc's qsort may call malloc.
 * Only called by the program (or the exit path), never while a lock of
 * ours is held by this thread.
 */
#define _GNU_SOURCE 1
#include "prof.h"
#include "prof_symbol.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

struct pm_snapshot_s {
  size_t map_bytes;                 /* this mapping                         */
  char *sym_map;                    /* symbols mapping, or NULL             */
  size_t sym_bytes;
  size_t nsites;
  pm_site_t *sites;
  const void **keys;                /* the profiler's site record per site  */
  char *maps;                       /* /proc/self/maps copy                 */
  size_t maps_len;
  double interval;
  int compared;
};

/* ---- Building --------------------------------------------------------------- */
static size_t snap_read_maps(char *buf, size_t cap) {
  int fd = pmi_prim_open("/proc/self/maps", false);
  if (fd < 0) return 0;
  size_t len = 0;
  ssize_t r;
  while (len < cap && (r = pmi_prim_read(fd, buf + len, cap - len)) > 0) len += (size_t)r;
  pmi_prim_close(fd);
  return len;
}

#define SNAP_MAPS_MAX ((size_t)4 << 20)

static pm_snapshot_t *snap_alloc(size_t nsites, size_t nframes, size_t maps_cap) {
  size_t bytes = sizeof(pm_snapshot_t) + nsites * (sizeof(pm_site_t) + sizeof(void *)) +
                 nframes * sizeof(void *) + maps_cap;
  bytes = pm_align_up(bytes, PM_PAGE_SIZE);
  char *m = pmi_os_map(bytes, PM_PAGE_SIZE);
  if (m == NULL) return NULL;
  pm_snapshot_t *s = (pm_snapshot_t *)m;
  s->map_bytes = bytes;
  s->sites = (pm_site_t *)(s + 1);
  s->keys = (const void **)(s->sites + nsites);
  s->maps = (char *)(s->keys + nsites + nframes);   /* frames sit between keys and maps */
  s->interval = pmi_prof_interval();
  return s;
}

/* Shell sort of sites (and keys) by a key, descending. */
static double snap_key(const pm_snapshot_t *s, size_t i) {
  return s->compared ? (double)s->sites[i].bytes_diff : (double)s->sites[i].bytes;
}

static void snap_sort(pm_snapshot_t *s) {
  static const size_t gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
  for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
    size_t gap = gaps[g];
    for (size_t i = gap; i < s->nsites; i++) {
      pm_site_t site = s->sites[i];
      const void *key = s->keys[i];
      double k = snap_key(s, i);
      size_t j = i;
      for (; j >= gap; j -= gap) {
        double kj = s->compared ? (double)s->sites[j - gap].bytes_diff : (double)s->sites[j - gap].bytes;
        if (kj >= k) break;
        s->sites[j] = s->sites[j - gap];
        s->keys[j] = s->keys[j - gap];
      }
      s->sites[j] = site;
      s->keys[j] = key;
    }
  }
}

PM_EXPORT pm_snapshot_t *pm_snapshot_take(void) {
  pmi_init_ensure();
  if (!pmi_prof_on) {
    errno = EINVAL;
    return NULL;
  }
  for (int attempt = 0; attempt < 4; attempt++) {
    pthread_mutex_lock(&pmi_prof_lock);
    size_t nsites = 0, nframes = 0;
    for (pmi_prof_site_t *p = pmi_prof_sites_locked(); p != NULL; p = p->all_next)
      if (p->live_n > 0) nsites++, nframes += p->depth;
    pthread_mutex_unlock(&pmi_prof_lock);
    nsites += 64, nframes += 64 * PM_PROF_MAX_DEPTH;   /* room for sites added meanwhile */
    pm_snapshot_t *s = snap_alloc(nsites, nframes, SNAP_MAPS_MAX);
    if (s == NULL) {
      errno = ENOMEM;
      return NULL;
    }
    pthread_mutex_lock(&pmi_prof_lock);
    size_t k = 0, f = 0;
    bool fits = true;
    void **frames = (void **)(s->keys + nsites);
    for (pmi_prof_site_t *p = pmi_prof_sites_locked(); p != NULL && fits; p = p->all_next) {
      if (p->live_n == 0) continue;
      if (k == nsites || f + p->depth > nframes) {
        fits = false;
        break;
      }
      for (unsigned i = 0; i < p->depth; i++) frames[f + i] = p->pcs[i];
      s->sites[k] = (pm_site_t){.bytes = (size_t)(p->est_live_bytes + 0.5), .count = (size_t)(p->est_live_n + 0.5),
                                .nsamples = p->live_n, .annotation = p->annotation, .depth = p->depth,
                                .frames = frames + f};
      s->keys[k++] = p;
      f += p->depth;
    }
    pthread_mutex_unlock(&pmi_prof_lock);
    if (!fits) {
      pmi_os_unmap(s, s->map_bytes);
      continue;
    }
    /* keys and frames were laid out for nsites slots; the sort moves only
     * sites[] and keys[], so the frames stay where the sites point. */
    s->nsites = k;
    s->maps = (char *)(frames + nframes);
    s->maps_len = snap_read_maps(s->maps, SNAP_MAPS_MAX);
    snap_sort(s);
    return s;
  }
  errno = EAGAIN;
  return NULL;
}

PM_EXPORT void pm_snapshot_free(pm_snapshot_t *s) {
  if (s == NULL) return;
  if (s->sym_map != NULL) pmi_os_unmap(s->sym_map, s->sym_bytes);
  pmi_os_unmap(s, s->map_bytes);
}

PM_EXPORT size_t pm_snapshot_count(const pm_snapshot_t *s) { return s == NULL ? 0 : s->nsites; }

PM_EXPORT const pm_site_t *pm_snapshot_site(const pm_snapshot_t *s, size_t i) {
  return s == NULL || i >= s->nsites ? NULL : &s->sites[i];
}

/* A new snapshot with room for n sites and the given frames, maps copied. */
static pm_snapshot_t *snap_derive(const pm_snapshot_t *from, size_t n, size_t nframes) {
  pm_snapshot_t *s = snap_alloc(n, nframes, from->maps_len + 1);
  if (s == NULL) return NULL;
  s->maps = (char *)((void **)(s->keys + n) + nframes);
  memcpy(s->maps, from->maps, from->maps_len);
  s->maps_len = from->maps_len;
  s->interval = from->interval;
  return s;
}

static void snap_copy_site(pm_snapshot_t *to, size_t k, const pm_snapshot_t *from, size_t i, void **frames, size_t *f) {
  to->sites[k] = from->sites[i];
  to->keys[k] = from->keys[i];
  for (unsigned d = 0; d < from->sites[i].depth; d++) frames[*f + d] = from->sites[i].frames[d];
  to->sites[k].frames = frames + *f;
  to->sites[k].symbols = NULL;
  *f += from->sites[i].depth;
}

static size_t snap_nframes(const pm_snapshot_t *s) {
  size_t n = 0;
  for (size_t i = 0; i < s->nsites; i++) n += s->sites[i].depth;
  return n;
}

PM_EXPORT pm_snapshot_t *pm_snapshot_compare(const pm_snapshot_t *now, const pm_snapshot_t *old) {
  if (now == NULL || old == NULL) {
    errno = EINVAL;
    return NULL;
  }
  size_t n = now->nsites + old->nsites, nframes = snap_nframes(now) + snap_nframes(old);
  pm_snapshot_t *s = snap_derive(now, n, nframes);
  if (s == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  void **frames = (void **)(s->keys + n);
  size_t k = 0, f = 0;
  for (size_t i = 0; i < now->nsites; i++) {
    snap_copy_site(s, k, now, i, frames, &f);
    ptrdiff_t ob = 0, oc = 0;
    for (size_t j = 0; j < old->nsites; j++)
      if (old->keys[j] == now->keys[i]) {
        ob = (ptrdiff_t)old->sites[j].bytes;
        oc = (ptrdiff_t)old->sites[j].count;
        break;
      }
    s->sites[k].bytes_diff = (ptrdiff_t)now->sites[i].bytes - ob;
    s->sites[k].count_diff = (ptrdiff_t)now->sites[i].count - oc;
    k++;
  }
  for (size_t j = 0; j < old->nsites; j++) {   /* sites that are gone */
    bool seen = false;
    for (size_t i = 0; i < now->nsites && !seen; i++) seen = now->keys[i] == old->keys[j];
    if (seen) continue;
    snap_copy_site(s, k, old, j, frames, &f);
    s->sites[k].bytes = s->sites[k].count = s->sites[k].nsamples = 0;
    s->sites[k].bytes_diff = -(ptrdiff_t)old->sites[j].bytes;
    s->sites[k].count_diff = -(ptrdiff_t)old->sites[j].count;
    k++;
  }
  s->nsites = k;
  s->compared = 1;
  snap_sort(s);
  return s;
}

/* ---- Filters ---------------------------------------------------------------- */
/* Shell glob: '*' any run, '?' one character; the whole of s[0..n). */
static bool snap_glob(const char *pat, const char *s, size_t n) {
  const char *star = NULL, *mark = NULL, *end = s + n;
  while (s < end) {
    if (*pat == '*') {
      star = pat++;
      mark = s;
    } else if (*pat != '\0' && (*pat == '?' || *pat == *s)) {
      pat++;
      s++;
    } else if (star != NULL) {
      pat = star + 1;
      s = ++mark;
    } else {
      return false;
    }
  }
  while (*pat == '*') pat++;
  return *pat == '\0';
}

static bool snap_site_matches(const pm_snapshot_t *s, const pm_site_t *site, const char *pattern) {
  for (unsigned d = 0; d < site->depth; d++) {
    const char *path;
    size_t len;
    uintptr_t base;
    if (pmi_prof_maps_lookup(s->maps, s->maps_len, (uintptr_t)site->frames[d] - 1, &path, &len, &base) &&
        snap_glob(pattern, path, len))
      return true;
    if (site->symbols != NULL && site->symbols[d] != NULL &&
        snap_glob(pattern, site->symbols[d], strlen(site->symbols[d])))
      return true;
  }
  if (site->annotation != NULL && snap_glob(pattern, site->annotation, strlen(site->annotation))) return true;
  return false;
}

PM_EXPORT pm_snapshot_t *pm_snapshot_filter(const pm_snapshot_t *from, const char *pattern, int include) {
  if (from == NULL || pattern == NULL) {
    errno = EINVAL;
    return NULL;
  }
  pm_snapshot_t *s = snap_derive(from, from->nsites, snap_nframes(from));
  if (s == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  void **frames = (void **)(s->keys + from->nsites);
  size_t k = 0, f = 0;
  for (size_t i = 0; i < from->nsites; i++) {
    if (snap_site_matches(from, &from->sites[i], pattern) != (include != 0)) continue;
    snap_copy_site(s, k, from, i, frames, &f);
    s->sites[k].symbols = from->sites[i].symbols;   /* the strings live in `from` */
    k++;
  }
  s->nsites = k;
  s->compared = from->compared;
  return s;
}

/* ---- Symbols ---------------------------------------------------------------- */
PM_EXPORT int pm_snapshot_symbolize(pm_snapshot_t *s) {
  if (s == NULL) {
    errno = EINVAL;
    return -1;
  }
  size_t n = snap_nframes(s);
  if (n == 0) return 0;
  size_t bytes = pm_align_up(n * (sizeof(char *) + sizeof(uintptr_t)) + n * 160 + 4096, PM_PAGE_SIZE);
  char *m = pmi_os_map(bytes, PM_PAGE_SIZE);
  if (m == NULL) {
    errno = ENOMEM;
    return -1;
  }
  const char **names = (const char **)m;
  uintptr_t *pcs = (uintptr_t *)(names + n);
  pmi_prof_strpool_t sp = {(char *)(pcs + n), 0, bytes - n * (sizeof(char *) + sizeof(uintptr_t))};
  size_t f = 0;
  for (size_t i = 0; i < s->nsites; i++)
    for (unsigned d = 0; d < s->sites[i].depth; d++) pcs[f++] = (uintptr_t)s->sites[i].frames[d];
  pmi_prof_symbolize(s->maps, s->maps_len, pcs, n, names, &sp);
  f = 0;
  for (size_t i = 0; i < s->nsites; i++) {
    s->sites[i].symbols = names + f;
    f += s->sites[i].depth;
  }
  if (s->sym_map != NULL) pmi_os_unmap(s->sym_map, s->sym_bytes);
  s->sym_map = m;
  s->sym_bytes = bytes;
  return 0;
}

/* ---- Printing ---------------------------------------------------------------- */
static void snap_size(char *buf, size_t cap, double v) {
  const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double a = v < 0 ? -v : v;
  unsigned u = 0;
  while (a >= 1024 && u < 4) a /= 1024, u++;
  unsigned long long whole = (unsigned long long)a, tenths = (unsigned long long)((a - (double)whole) * 10);
  pmi_fmt_format(buf, cap, "%s%llu.%llu %s", v < 0 ? "-" : "", whole, tenths, unit[u]);
}

PM_EXPORT void pm_snapshot_print(const pm_snapshot_t *s, int fd, size_t limit) {
  if (s == NULL) return;
  size_t n = limit == 0 || limit > s->nsites ? s->nsites : limit;
  for (size_t i = 0; i < n; i++) {
    const pm_site_t *site = &s->sites[i];
    char b[32], d[32];
    snap_size(b, sizeof b, (double)site->bytes);
    if (s->compared) {
      snap_size(d, sizeof d, (double)site->bytes_diff);
      pmi_fmt_print(fd, "#%zu: %s%s (%s%zd blocks): now %zu bytes (%s) in %zu blocks (%zu samples)%s%s%s\n", i + 1,
                    site->bytes_diff >= 0 ? "+" : "", d, site->count_diff >= 0 ? "+" : "", site->count_diff,
                    site->bytes, b, site->count, site->nsamples, site->annotation ? " [" : "",
                    site->annotation ? site->annotation : "", site->annotation ? "]" : "");
    } else {
      pmi_fmt_print(fd, "#%zu: %zu bytes (%s) in %zu blocks (%zu samples)%s%s%s\n", i + 1, site->bytes, b,
                    site->count, site->nsamples, site->annotation ? " [" : "", site->annotation ? site->annotation : "",
                    site->annotation ? "]" : "");
    }
    for (unsigned f = 0; f < site->depth; f++) {
      if (site->symbols != NULL && site->symbols[f] != NULL) {
        if (f == 0 && site->annotation != NULL)
          pmi_fmt_print(fd, "    %s  [%s]\n", site->symbols[f], site->annotation);
        else
          pmi_fmt_print(fd, "    %s\n", site->symbols[f]);
      } else {
        pmi_fmt_print(fd, "    %p\n", site->frames[f]);
      }
    }
  }
}

/* ---- The leak report at exit ---------------------------------------------------- */
void pmi_prof_leak_report(void) {
  /* Frees this thread made for other heaps, and frees others made for it,
   * reach the live set only when drained: do it now. */
  pmi_heap_flush_remote();
  if (pmi_heap_tls != &pmi_heap_empty) pmi_heap_drain_remote(pmi_heap_tls);
  int fd = pmi_prof_report_fd;
  const char *path = pmi_option_path(PM_OPTION_PATH_LEAKS_FILE);
  if (path[0] != '\0' && (fd = pmi_prim_open(path, true)) < 0) {
    pmi_fmt_message("cannot write the leak report to %s", path);
    return;
  }
  pm_snapshot_t *s = pm_snapshot_take();
  if (s == NULL) {
    pmi_fmt_message("leak report: no memory for a snapshot");
  } else {
    double bytes = 0, count = 0, nsamples = 0;
    for (size_t i = 0; i < s->nsites; i++)
      bytes += (double)s->sites[i].bytes, count += (double)s->sites[i].count, nsamples += (double)s->sites[i].nsamples;
    char b[32], iv[32];
    snap_size(b, sizeof b, bytes);
    snap_size(iv, sizeof iv, s->interval);
    pmi_fmt_print(fd,
                  "poolmalloc: leak report (pid %d): %zu sites hold about %s in %llu blocks still live at exit "
                  "(estimated from %llu samples, one per %s allocated on average), largest first:\n",
                  (int)getpid(), s->nsites, b, (unsigned long long)count, (unsigned long long)nsamples, iv);
    pm_snapshot_symbolize(s);
    pm_snapshot_print(s, fd, 25);
    if (s->nsites > 25) pmi_fmt_print(fd, "... and %zu smaller sites\n", s->nsites - 25);
    pm_snapshot_free(s);
  }
  if (fd != pmi_prof_report_fd) pmi_prim_close(fd);
}
