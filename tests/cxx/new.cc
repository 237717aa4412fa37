// SPDX-License-Identifier: MIT
// tests/cxx/new.cc — C++ operator new and delete on poolmalloc, every
// replaceable form (issue 11.7).  Built twice by tests/cxx/cxx.mk:
//   tests/cxx/new_linked   linked with -lpoolmalloc (the shipped library)
//   tests/cxx/new_plain    links nothing of ours; tests/cxx/preload.sh runs
//                          it with LD_PRELOAD (and builds it with clang++)
// so it reaches poolmalloc's own functions only through dlsym.  TAP by hand
// (tests/tap.h is C).  What it proves:
//   - each of the 20 operators resolves to libpoolmalloc (dladdr);
//   - each new form returns a block poolmalloc accounts for, with the
//     requested alignment, and the matching delete form gives it back;
//   - sized delete hands the size to the sized free path, and aligned delete
//     the alignment: a wrong one aborts with poolmalloc's diagnostic (child);
//   - a failed new calls the new-handler until it succeeds or is removed,
//     then throws std::bad_alloc; nothrow new returns null instead, also when
//     the handler throws; a handler that frees memory makes new succeed.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <new>
#include <signal.h>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

// ---- A TAP line per check --------------------------------------------------
int tap_n = 0, tap_failed = 0;
void tap(bool ok, const std::string &name) {
  ++tap_n;
  if (!ok) ++tap_failed;
  std::printf("%sok %d - %s\n", ok ? "" : "not ", tap_n, name.c_str());
  std::fflush(stdout);
}

// ---- poolmalloc's functions, found at run time -----------------------------
struct Stats {  // the leading fields of pm_stats_t (include/poolmalloc.h)
  size_t arena_mapped, arena_resident, pool_in_use, small_allocated, small_free, large_allocated,
      large_cached, narenas, nlarge, nheaps, peak_mapped, npurges, narena_unmaps;
};
void (*stats_get)(Stats *) = nullptr;
int (*malloc_trim_fn)(size_t) = nullptr;

size_t in_use() {
  Stats s;
  stats_get(&s);
  return s.small_allocated + s.large_allocated;
}

// ---- Every operator, by address ---------------------------------------------
using std::align_val_t;
using std::nothrow_t;
using std::size_t;
struct Form { const char *name; void *addr; };
const std::vector<Form> &forms() {
  static const std::vector<Form> all = {
      {"new(size)", (void *)static_cast<void *(*)(size_t)>(&::operator new)},
      {"new[](size)", (void *)static_cast<void *(*)(size_t)>(&::operator new[])},
      {"new(size, nothrow)", (void *)static_cast<void *(*)(size_t, const nothrow_t &) noexcept>(&::operator new)},
      {"new[](size, nothrow)", (void *)static_cast<void *(*)(size_t, const nothrow_t &) noexcept>(&::operator new[])},
      {"new(size, align)", (void *)static_cast<void *(*)(size_t, align_val_t)>(&::operator new)},
      {"new[](size, align)", (void *)static_cast<void *(*)(size_t, align_val_t)>(&::operator new[])},
      {"new(size, align, nothrow)",
       (void *)static_cast<void *(*)(size_t, align_val_t, const nothrow_t &) noexcept>(&::operator new)},
      {"new[](size, align, nothrow)",
       (void *)static_cast<void *(*)(size_t, align_val_t, const nothrow_t &) noexcept>(&::operator new[])},
      {"delete(p)", (void *)static_cast<void (*)(void *) noexcept>(&::operator delete)},
      {"delete[](p)", (void *)static_cast<void (*)(void *) noexcept>(&::operator delete[])},
      {"delete(p, nothrow)", (void *)static_cast<void (*)(void *, const nothrow_t &) noexcept>(&::operator delete)},
      {"delete[](p, nothrow)", (void *)static_cast<void (*)(void *, const nothrow_t &) noexcept>(&::operator delete[])},
      {"delete(p, size)", (void *)static_cast<void (*)(void *, size_t) noexcept>(&::operator delete)},
      {"delete[](p, size)", (void *)static_cast<void (*)(void *, size_t) noexcept>(&::operator delete[])},
      {"delete(p, align)", (void *)static_cast<void (*)(void *, align_val_t) noexcept>(&::operator delete)},
      {"delete[](p, align)", (void *)static_cast<void (*)(void *, align_val_t) noexcept>(&::operator delete[])},
      {"delete(p, size, align)",
       (void *)static_cast<void (*)(void *, size_t, align_val_t) noexcept>(&::operator delete)},
      {"delete[](p, size, align)",
       (void *)static_cast<void (*)(void *, size_t, align_val_t) noexcept>(&::operator delete[])},
      {"delete(p, align, nothrow)",
       (void *)static_cast<void (*)(void *, align_val_t, const nothrow_t &) noexcept>(&::operator delete)},
      {"delete[](p, align, nothrow)",
       (void *)static_cast<void (*)(void *, align_val_t, const nothrow_t &) noexcept>(&::operator delete[])},
  };
  return all;
}

void check_resolution() {
  std::string bad;
  for (const Form &f : forms()) {
    Dl_info info;
    if (dladdr(f.addr, &info) == 0 || info.dli_fname == nullptr || !std::strstr(info.dli_fname, "libpoolmalloc"))
      bad += std::string(" ") + f.name + " in " + (info.dli_fname ? info.dli_fname : "?") + ";";
  }
  if (!bad.empty()) std::printf("# not poolmalloc's:%s\n", bad.c_str());
  tap(bad.empty(), "all 20 operator new/delete forms resolve to libpoolmalloc");
}

// ---- Each new form with its delete ------------------------------------------
// Allocates `size` bytes through one new form, checks alignment and that
// poolmalloc counts the bytes, frees through the given delete form and checks
// they are back.  `op` does both halves, `delta` is the bytes seen in use.
template <typename New, typename Delete>
void round_trip(const std::string &name, size_t size, size_t align, New do_new, Delete do_delete) {
  size_t before = in_use();
  void *p = do_new(size);
  size_t during = in_use();
  uintptr_t addr = reinterpret_cast<uintptr_t>(p);   // p itself is not read after the delete
  bool ok = p != nullptr && addr % align == 0 && during >= before + size;
  if (p != nullptr) std::memset(p, 0x5a, size);
  do_delete(p, size);
  size_t after = in_use();
  ok = ok && after == before;
  if (!ok)
    std::printf("# %s: p=%#lx align %zu, in use %zu -> %zu -> %zu\n", name.c_str(), static_cast<unsigned long>(addr),
                align, before, during, after);
  tap(ok, name);
}

void check_round_trips() {
  const align_val_t A = static_cast<align_val_t>(4096);
  const nothrow_t &nt = std::nothrow;
  for (size_t size : {size_t(200), size_t(300000)}) {  // a pool block and a large mapping
    std::string sz = " (" + std::to_string(size) + " B)";
    round_trip("new + delete" + sz, size, 16, [](size_t n) { return ::operator new(n); },
               [](void *p, size_t) { ::operator delete(p); });
    round_trip("new[] + delete[]" + sz, size, 16, [](size_t n) { return ::operator new[](n); },
               [](void *p, size_t) { ::operator delete[](p); });
    round_trip("new(nothrow) + delete(nothrow)" + sz, size, 16, [&](size_t n) { return ::operator new(n, nt); },
               [&](void *p, size_t) { ::operator delete(p, nt); });
    round_trip("new[](nothrow) + delete[](nothrow)" + sz, size, 16,
               [&](size_t n) { return ::operator new[](n, nt); }, [&](void *p, size_t) { ::operator delete[](p, nt); });
    round_trip("new + sized delete" + sz, size, 16, [](size_t n) { return ::operator new(n); },
               [](void *p, size_t n) { ::operator delete(p, n); });
    round_trip("new[] + sized delete[]" + sz, size, 16, [](size_t n) { return ::operator new[](n); },
               [](void *p, size_t n) { ::operator delete[](p, n); });
    round_trip("aligned new + aligned delete" + sz, size, 4096, [&](size_t n) { return ::operator new(n, A); },
               [&](void *p, size_t) { ::operator delete(p, A); });
    round_trip("aligned new[] + aligned delete[]" + sz, size, 4096, [&](size_t n) { return ::operator new[](n, A); },
               [&](void *p, size_t) { ::operator delete[](p, A); });
    round_trip("aligned new + sized aligned delete" + sz, size, 4096,
               [&](size_t n) { return ::operator new(n, A); }, [&](void *p, size_t n) { ::operator delete(p, n, A); });
    round_trip("aligned new[] + sized aligned delete[]" + sz, size, 4096,
               [&](size_t n) { return ::operator new[](n, A); },
               [&](void *p, size_t n) { ::operator delete[](p, n, A); });
    round_trip("aligned nothrow new + aligned nothrow delete" + sz, size, 4096,
               [&](size_t n) { return ::operator new(n, A, nt); }, [&](void *p, size_t) { ::operator delete(p, A, nt); });
    round_trip("aligned nothrow new[] + aligned nothrow delete[]" + sz, size, 4096,
               [&](size_t n) { return ::operator new[](n, A, nt); },
               [&](void *p, size_t) { ::operator delete[](p, A, nt); });
  }
}

// Results go to a volatile: a compiler may drop a replaceable operator new
// whose result is unused, or a new-expression paired with its delete
// (GCC's -fallocation-dce; clang does it to new/delete expressions at -O2).
void *volatile sink;

// What the compiler itself emits: an over-aligned type and a sized class.
struct alignas(256) Over { char c[300]; };
struct Base { virtual ~Base() {} char b[24]; };
struct Derived : Base { char d[1000]; };
void check_expressions() {
  size_t before = in_use();
  Over *o = new Over;
  Over *oa = new Over[3];
  Base *b = new Derived;
  sink = o;
  sink = oa;
  sink = b;
  bool ok = reinterpret_cast<uintptr_t>(o) % 256 == 0 && reinterpret_cast<uintptr_t>(oa) % 256 == 0 &&
            in_use() >= before + sizeof(Over) * 4 + sizeof(Derived);
  delete o;
  delete[] oa;
  delete b;  // sized delete with the dynamic type's size (1032 B), through the virtual destructor
  ok = ok && in_use() == before;
  tap(ok, "new/delete expressions: over-aligned type, array of it, derived class through a base pointer");
}

// ---- Misuse the sized and aligned forms must catch ----------------------------
// Runs fn in a child; ok when it dies of SIGABRT with poolmalloc's line
// starting with `want` on stderr.
template <typename Fn>
void expect_abort(const std::string &name, const char *want, Fn fn) {
  int fds[2];
  if (pipe(fds) != 0) return tap(false, name + " (pipe)");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    fn();
    _exit(0);
  }
  close(fds[1]);
  char buf[512] = {0};
  size_t got = 0;
  ssize_t r;
  while (got < sizeof buf - 1 && (r = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0) got += size_t(r);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  bool ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && std::strncmp(buf, want, std::strlen(want)) == 0;
  if (!ok) std::printf("# %s: status %#x, stderr: %s\n", name.c_str(), status, buf);
  tap(ok, name);
}

void check_sizes_reach_free() {
  expect_abort("sized delete passes its size to the sized free path", "poolmalloc: free_sized of 0x",
               [] { ::operator delete(::operator new(100), 5000); });
  expect_abort("sized delete[] passes its size to the sized free path", "poolmalloc: free_sized of 0x",
               [] { ::operator delete[](::operator new[](100), 5000); });
  expect_abort("sized aligned delete passes its size", "poolmalloc: free_sized of 0x", [] {
    const align_val_t A = static_cast<align_val_t>(64);
    ::operator delete(::operator new(100, A), 5000, A);
  });
  expect_abort("aligned delete passes its alignment", "poolmalloc: free_aligned_sized of 0x", [] {
    void *p = ::operator new(100);
    if (reinterpret_cast<uintptr_t>(p) % (1u << 20) == 0) p = ::operator new(100);
    ::operator delete(p, static_cast<align_val_t>(1u << 20));
  });
}

// ---- Failure: the new-handler and std::bad_alloc ---------------------------------
const size_t huge = size_t(PTRDIFF_MAX) - 4096;  // always ENOMEM
int handler_calls = 0;
void counting_handler() {  // gives up after the third call
  if (++handler_calls == 3) std::set_new_handler(nullptr);
}
void throwing_handler() {
  ++handler_calls;
  throw std::bad_alloc();
}

template <typename Fn>
bool throws_bad_alloc(Fn fn) {
  try {
    fn();
  } catch (const std::bad_alloc &) {
    return true;
  } catch (...) {
  }
  return false;
}

void check_failure() {
  const align_val_t A = static_cast<align_val_t>(64);
  std::set_new_handler(nullptr);
  bool ok = throws_bad_alloc([] { sink = ::operator new(huge); }) &&
            throws_bad_alloc([] { sink = ::operator new[](huge); }) &&
            throws_bad_alloc([&] { sink = ::operator new(huge, A); }) &&
            throws_bad_alloc([&] { sink = ::operator new[](huge, A); });
  tap(ok, "failed new, new[], aligned new, aligned new[] throw std::bad_alloc when there is no new-handler");

  handler_calls = 0;
  std::set_new_handler(counting_handler);
  ok = throws_bad_alloc([] { sink = ::operator new(huge); }) && handler_calls == 3;
  handler_calls = 0;
  std::set_new_handler(counting_handler);
  ok = ok && throws_bad_alloc([&] { sink = ::operator new[](huge, A); }) && handler_calls == 3;
  if (!ok) std::printf("# handler called %d times\n", handler_calls);
  tap(ok, "failed new calls the new-handler until it is removed, then throws std::bad_alloc");

  handler_calls = 0;
  std::set_new_handler(counting_handler);
  ok = ::operator new(huge, std::nothrow) == nullptr && handler_calls == 3;
  handler_calls = 0;
  std::set_new_handler(counting_handler);
  ok = ok && ::operator new[](huge, A, std::nothrow) == nullptr && handler_calls == 3;
  tap(ok, "failed nothrow new calls the new-handler, then returns null");

  handler_calls = 0;
  std::set_new_handler(throwing_handler);
  ok = ::operator new(huge, std::nothrow) == nullptr && ::operator new[](huge, std::nothrow) == nullptr &&
       ::operator new(huge, A, std::nothrow) == nullptr && handler_calls == 3;
  std::set_new_handler(nullptr);
  tap(ok, "nothrow new returns null when the new-handler throws std::bad_alloc");
}

// A handler that frees a reserve lets the retried allocation succeed: in a
// child whose address space is capped just above what it holds.  The
// reserve is over half of a 1 GiB large-block region (docs/design.md), so
// the second request cannot be served beside it from the same region.
void *reserve = nullptr;
void release_reserve() {
  ::operator delete(reserve);
  reserve = nullptr;
  if (malloc_trim_fn) malloc_trim_fn(0);  // hand the mapping back at once
  std::set_new_handler(nullptr);
}
void check_handler_recovers() {
  pid_t pid = fork();
  if (pid == 0) {
    const size_t chunk = size_t(640) << 20;
    reserve = ::operator new(chunk);
    std::memset(reserve, 1, 4096);
    struct rlimit rl;
    getrlimit(RLIMIT_AS, &rl);
    // Current address-space size from /proc, plus 128 MiB: less than chunk.
    FILE *f = std::fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f == nullptr || std::fscanf(f, "%lu", &pages) != 1) _exit(3);
    std::fclose(f);
    rl.rlim_cur = pages * size_t(sysconf(_SC_PAGESIZE)) + (size_t(128) << 20);
    if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(4);
    std::set_new_handler(release_reserve);
    void *p = ::operator new(chunk);  // fails, handler frees the reserve, retry succeeds
    _exit(p != nullptr && reserve == nullptr ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok) std::printf("# child status %#x\n", status);
  tap(ok, "a new-handler that frees memory makes the retried new succeed");
}

}  // namespace

int main() {
  stats_get = reinterpret_cast<void (*)(Stats *)>(dlsym(RTLD_DEFAULT, "pm_stats_get"));
  malloc_trim_fn = reinterpret_cast<int (*)(size_t)>(dlsym(RTLD_DEFAULT, "pm_malloc_trim"));
  if (stats_get == nullptr) {
    std::printf("1..1\nnot ok 1 - poolmalloc is not loaded (no pm_stats_get): link it or preload it\n");
    return 1;
  }
  std::printf("1..35\n");
  check_resolution();
  check_round_trips();
  check_expressions();
  check_sizes_reach_free();
  check_failure();
  check_handler_recovers();
  if (tap_n != 35) std::printf("# planned 35, ran %d\n", tap_n);
  return tap_failed == 0 && tap_n == 35 ? 0 : 1;
}
