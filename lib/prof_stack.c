/* SPDX-License-Identifier: MIT */
/* prof_stack.c — capturing the call stack of a sampled allocation.
 *
 * Owns pmi_prof_backtrace: up to PM_PROF_MAX_DEPTH return addresses of the
 * program's frames, innermost first, with the allocator's own frames left
 * out.  Never calls malloc.
 *
 * Why the DWARF unwinder and not frame pointers: Debian builds its packages
 * without frame pointers (bookworm's gcc default is -fomit-frame-pointer
 * at -O2), so a frame-pointer walk stops in the first libc or libpython
 * frame.  libgcc's _Unwind_Backtrace reads the .eh_frame CFI that every
 * Debian binary carries and finds the unwind tables through
 * dl_iterate_phdr's PT_GNU_EH_FRAME: no malloc (the registered-object path
 * that does allocate is used only by programs that call
 * __register_frame_info themselves).  We link libgcc_s directly instead of
 * going through glibc's backtrace(), which dlopens libgcc_s and allocates
 * on its first call.  pmi_prof_stack_prime runs one walk from the
 * constructor so any lazy set-up in the unwinder happens before the first
 * sample.  Debian's libunwind would do the same job with one more
 * dependency and its own caches; the libgcc unwinder is already loaded in
 * every C++ program and most C ones.
 *
 * Recursion: prof.c sets a per-thread guard around the walk; an allocation
 * made inside it (by the unwinder, or a signal handler) is never sampled.
 *
 * Leaving out our frames: when poolmalloc is a shared object, every frame
 * whose address lies in its executable segment(s) at the top of the stack
 * is dropped, found once with dl_iterate_phdr.  When it is linked
 * statically into the program that range would be the whole program, so
 * nothing is dropped and google-pprof's own list of allocator entry points
 * (malloc, calloc, ...) trims the top of the stacks instead.
 */
#define _GNU_SOURCE 1
#include "prof.h"

#include <link.h>
#include <unwind.h>

static struct {
  uintptr_t lo[4], hi[4];   /* our executable PT_LOAD segments */
  unsigned nranges;
} self;

typedef struct stack_walk_s {
  void **pcs;
  unsigned n, max;
  bool in_program;           /* past our own frames */
} stack_walk_t;

static bool stack_is_ours(uintptr_t ip) {
  for (unsigned i = 0; i < self.nranges; i++)
    if (ip >= self.lo[i] && ip < self.hi[i]) return true;
  return false;
}

static _Unwind_Reason_Code stack_step(struct _Unwind_Context *ctx, void *arg) {
  stack_walk_t *w = arg;
  uintptr_t ip = _Unwind_GetIP(ctx);
  if (ip == 0) return _URC_END_OF_STACK;
  if (!w->in_program) {
    if (stack_is_ours(ip)) return _URC_NO_REASON;
    w->in_program = true;
  }
  w->pcs[w->n++] = (void *)ip;
  return w->n == w->max ? _URC_END_OF_STACK : _URC_NO_REASON;
}

unsigned pmi_prof_backtrace(void **pcs, unsigned max) {
  stack_walk_t w = {pcs, 0, max, false};
  _Unwind_Backtrace(stack_step, &w);
  return w.n;
}

/* Finds the object that holds this very function; records its executable
 * segments unless it is the main program (a static link). */
static int stack_find_self(struct dl_phdr_info *info, size_t size, void *arg) {
  uintptr_t me = (uintptr_t)arg;
  bool holds_me = false;
  for (unsigned i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD && me >= lo && me < lo + ph->p_memsz) holds_me = true;
  }
  if (!holds_me) return 0;
  if (info->dlpi_name == NULL || info->dlpi_name[0] == '\0') return 1;   /* main program */
  for (unsigned i = 0; i < info->dlpi_phnum && self.nranges < 4; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    self.lo[self.nranges] = info->dlpi_addr + ph->p_vaddr;
    self.hi[self.nranges] = self.lo[self.nranges] + ph->p_memsz;
    self.nranges++;
  }
  return 1;
}

void pmi_prof_stack_prime(void) {
  dl_iterate_phdr(stack_find_self, (void *)(uintptr_t)&pmi_prof_backtrace);
  void *pcs[PM_PROF_MAX_DEPTH];
  pmi_prof_backtrace(pcs, PM_PROF_MAX_DEPTH);
}
