// SPDX-License-Identifier: MIT
// bench/micro.cc — registers the C workloads with Google Benchmark.
//
// Owns: the only C++ in the tree and the pm-microbench main().  Every entry
// of pmb_workloads[] (bench/harness.h) becomes one benchmark per argument,
// named "<workload>/<arg>" (or just "<workload>"), timed in real time with
// KeepRunningBatch(batch) so run() always receives whole batches.  Reported
// time per iteration = ns per op as the workload defines its op.
//
// The binary links nothing of poolmalloc's: tools/bench runs it once per
// allocator under LD_PRELOAD (none for glibc), so every allocator is
// measured exactly as a user deploys it.  PM_BENCH_QUICK=1 in the
// environment selects each workload's quick_args (a smoke run for CI).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "harness.h"

namespace {

void run_workload(benchmark::State &state, const pmb_workload_t *w, long arg) {
  void *st = w->setup(arg);
  while (state.KeepRunningBatch(w->batch)) w->run(st, w->batch);
  w->teardown(st);
  state.SetItemsProcessed(state.iterations());
}

void register_all(bool quick) {
  for (const pmb_workload_t *const *wp = pmb_workloads; *wp != nullptr; wp++) {
    const pmb_workload_t *w = *wp;
    const long *args = quick && w->quick_args ? w->quick_args : w->args;
    static const long no_arg[] = {0, 0};
    bool has_arg = args != nullptr;
    if (!has_arg) args = no_arg;
    for (const long *a = args; has_arg ? *a != 0 : a == no_arg; a++) {
      std::string name = w->name;
      if (has_arg) name += "/" + std::to_string(*a);
      long arg = *a;
      benchmark::RegisterBenchmark(name.c_str(), [w, arg](benchmark::State &s) {
        run_workload(s, w, arg);
      })->UseRealTime();
    }
  }
}

}  // namespace

int main(int argc, char **argv) {
  const char *q = std::getenv("PM_BENCH_QUICK");
  register_all(q != nullptr && std::strcmp(q, "1") == 0);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
