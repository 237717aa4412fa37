/* SPDX-License-Identifier: MIT */
/* counters.c — process-wide event counters that the lower layers bump.
 *
 * arena.c and large.c count bytes mapped, purges and arena unmaps here, so
 * that they need nothing from stats.c above them; stats.c reads the
 * counters into its reports.  Every counter is relaxed (atomic.h): a report
 * may be a moment stale, never torn.
 */
#include "internal.h"

pm_counters_t pmi_counters;

void pmi_counters_mapped(ptrdiff_t delta) {
  size_t now = pm_atomic_add_relaxed(&pmi_counters.mapped, (size_t)delta) + (size_t)delta;
  if (delta > 0) pm_atomic_max_relaxed(&pmi_counters.peak_mapped, now);
}
