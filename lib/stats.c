/* SPDX-License-Identifier: MIT */
/* stats.c — reports: pm_stats_get, pm_stats_print, malloc_info.
 *
 * The event counters come from counters.c; everything else is gathered on demand by walking the arenas and the large
 * cache under their locks (pools owned by other threads are read without
 * stopping them, so in-use figures are a consistent-enough snapshot, and
 * blocks freed remotely but not yet drained still count as in use).
 * Reports are formatted with fmt.c and written with write(2): no stdio,
 * except malloc_info, whose interface is a FILE (see pm_malloc_info).
 * The text report ends with what the mapped bytes hold (held by the
 * program, or kept free and why); the JSON document is stats_json.c.
 */
#include "internal.h"
#include "prim.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

PM_EXPORT void pm_stats_get(pm_stats_t *out) {
  *out = (pm_stats_t){0};
  pmi_init_ensure();
  pmi_arena_stats(out);
  pmi_large_stats(out);
  out->nheaps = pmi_heap_count();
  out->peak_mapped = pm_atomic_load_relaxed(&pmi_counters.peak_mapped);
  out->npurges = pm_atomic_load_relaxed(&pmi_counters.npurges);
  out->narena_unmaps = pm_atomic_load_relaxed(&pmi_counters.narena_unmaps);
}

#define STATS_FIELDS(X)                                                        \
  X(arena_mapped, "bytes of arenas mapped")                                    \
  X(arena_resident, "arena bytes not purged (RSS bound)")                      \
  X(pool_in_use, "bytes in pools owned by heaps")                              \
  X(small_allocated, "bytes handed out in small/medium blocks")               \
  X(small_free, "free bytes inside owned pools")                               \
  X(large_allocated, "bytes in live large mappings")                           \
  X(large_cached, "bytes in the large-mapping cache")                          \
  X(narenas, "arenas mapped")                                                  \
  X(nlarge, "live large blocks")                                               \
  X(nheaps, "thread heaps (active + abandoned)")                               \
  X(peak_mapped, "peak bytes mapped (arenas + large)")                         \
  X(npurges, "madvise purges")                                                 \
  X(narena_unmaps, "arenas returned to the OS")

/* What the mapped bytes hold, so that memory kept for reuse does not read
 * as a leak (issue 10): blocks the program still holds, and free memory we
 * keep mapped, split by why it is kept and whether it costs RSS. */
static void stats_print_kept(int fd, const pm_stats_t *s) {
  pmi_census_t c;
  pmi_census_take(&c);
  size_t held = s->small_allocated + s->large_allocated;
  size_t dirty = c.slots_free_dirty * PM_SLOT_SIZE, clean = c.slots_free_clean * PM_SLOT_SIZE;
  size_t in_pools = s->small_free, headers = c.narenas * PM_SLOT_SIZE;
  pmi_fmt_print(fd, "  %-16s %14zu  %s\n", "held_by_program", held,
                "bytes in blocks not yet freed (where from: POOLMALLOC_LEAKS=1)");
  pmi_fmt_print(fd, "  %-16s %14zu  %s\n", "kept_large_cache", s->large_cached,
                "freed large mappings kept for reuse (POOLMALLOC_LARGE_CACHE_MB; resident)");
  pmi_fmt_print(fd, "  %-16s %14zu  %s\n", "kept_free_blocks", in_pools,
                "free or never-used blocks in pools still in use (reused first)");
  pmi_fmt_print(fd, "  %-16s %14zu  %s\n", "kept_dirty_slots", dirty,
                "empty pool slots awaiting decay (POOLMALLOC_DECAY_MS; resident)");
  pmi_fmt_print(fd, "  %-16s %14zu  %s\n", "kept_clean_slots", clean,
                "empty arena slots never used or purged (mapped; no RSS unless in a huge page)");
  pmi_fmt_print(fd, "  %-16s %14zu  %s\n", "arena_headers", headers,
                "arena header slots (descriptors; about 12 KiB resident each)");
}

/* "88 KiB", "8.2 MiB": one decimal below 100 of a unit, none above. */
static const char *stats_bytes(char *buf, size_t size, size_t v) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  unsigned u = 0;
  size_t scale = 1;
  while (u < 4 && v / scale >= 1024) {
    scale *= 1024;
    u++;
  }
  size_t tenths = v / (scale / 10 > 0 ? scale / 10 : 1) % 10;
  if (u == 0 || v / scale >= 100) pmi_fmt_format(buf, size, "%zu %s", v / scale, units[u]);
  else pmi_fmt_format(buf, size, "%zu.%zu %s", v / scale, tenths, units[u]);
  return buf;
}

static size_t stats_minus(size_t a, size_t b) { return a > b ? a - b : 0; }

/* What the numbers mean, for a reader who sees "244 MB mapped, 61 KB
 * allocated" at exit and thinks of a leak (issue 11.2): what the program
 * still holds, and what poolmalloc keeps for reuse and when that goes back. */
static void stats_print_meaning(int fd, const pm_stats_t *s) {
  char live[32], held[32], pools[32], empty[32], purged[32], large[32];
  size_t in_use = s->small_allocated + s->large_allocated;
  size_t emptied = stats_minus(s->arena_mapped, s->pool_in_use);
  size_t kept = s->small_free + emptied + s->large_cached;
  pmi_fmt_print(fd, "  in short: %s in use by the program; %s more held by poolmalloc for reuse, not leaked:\n",
                stats_bytes(live, sizeof live, in_use), stats_bytes(held, sizeof held, kept));
  pmi_fmt_print(fd, "    %s free inside pools, %s of emptied pools and arenas (%s of it purged already),\n",
                stats_bytes(pools, sizeof pools, s->small_free), stats_bytes(empty, sizeof empty, emptied),
                stats_bytes(purged, sizeof purged, stats_minus(s->arena_mapped, s->arena_resident)));
  pmi_fmt_print(fd, "    %s of freed large mappings.  They go back to the OS POOLMALLOC_DECAY_MS (%ld ms) after\n",
                stats_bytes(large, sizeof large, s->large_cached), pmi_option(PM_OPTION_DECAY_MS));
  pmi_fmt_print(fd, "    they empty, at the allocator's next housekeeping, or at once on malloc_trim(0).\n");
}

PM_EXPORT void pm_stats_print(int fd) {
  pm_stats_t s;
  pm_stats_get(&s);
  pmi_fmt_print(fd, "poolmalloc statistics (pid %d, %s)\n", (int)getpid(), pm_version());
#define STATS_LINE(f, doc) pmi_fmt_print(fd, "  %-16s %14zu  %s\n", #f, s.f, doc);
  STATS_FIELDS(STATS_LINE)
#undef STATS_LINE
  stats_print_kept(fd, &s);
  stats_print_meaning(fd, &s);
}

/* glibc's malloc_info writes XML with stdio; we format each line ourselves
 * and hand it to the stream with fputs after the stream's own buffer is
 * flushed.  fputs may allocate the stream's buffer through malloc, which is
 * safe here: no lock of ours is held. */
PM_EXPORT int pm_malloc_info(int options, FILE *stream) {
  if (options != 0 || stream == NULL) return EINVAL;   /* as glibc */
  pm_stats_t s;
  pm_stats_get(&s);
  char line[256];
  fputs("<malloc version=\"poolmalloc-1\">\n", stream);
#define STATS_XML(f, doc)                                                       \
  pmi_fmt_format(line, sizeof line, "<total type=\"%s\" size=\"%zu\"/>\n", #f, s.f); \
  fputs(line, stream);
  STATS_FIELDS(STATS_XML)
#undef STATS_XML
  fputs("</malloc>\n", stream);
  return 0;
}

/* A private copy of stderr, taken at start-up when statistics are wanted:
 * programs such as coreutils close fd 2 in an atexit handler, before our
 * destructor runs. */
static int stats_fd = -1;

void pmi_stats_init(void) {
  if (pmi_option(PM_OPTION_SHOW_STATS)) stats_fd = pmi_prim_dup_cloexec(2);
}

void pmi_stats_at_exit(void) {
  int fd = stats_fd >= 0 ? stats_fd : 2;
  if (pmi_option(PM_OPTION_SHOW_STATS) == 2) pm_stats_json(fd);
  else if (pmi_option(PM_OPTION_SHOW_STATS)) pm_stats_print(fd);
}

PM_EXPORT const char *pm_version(void) {
  return PM_DEBUG > 0 ? "poolmalloc " PACKAGE_VERSION " (debug)" : "poolmalloc " PACKAGE_VERSION " (release)";
}
