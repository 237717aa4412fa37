/* SPDX-License-Identifier: MIT */
/* prof_symbol.c — naming return addresses after the fact.
 *
 * Owns pmi_prof_symbolize: for n program counters and a copy of
 * /proc/self/maps taken with them, one string per pc,
 *   "function at file:line (object)"   or   "function (object+0xoff)"
 *   or "object+0xoff" when nothing better is known.
 * How: the pcs are grouped by the object (program or library) whose
 * mapping holds them and handed, as addresses inside that ELF file, to
 * binutils' addr2line in a child process (fork + execvp, output read from
 * a pipe), one run per object and per 256 addresses.  addr2line reads the
 * object's symbol table, its dynamic symbols when stripped, and its DWARF
 * line table when present.  Where it cannot run, dladdr (which reads
 * the loader's tables and does not allocate) names exported functions.
 * Runs only from the snapshot API and the exit report, with no lock of
 * ours held, never from inside an allocation.  Its own memory comes from
 * pmi_os_map (the caller passes a string pool).
 */
#define _GNU_SOURCE 1
#include "prof.h"
#include "prof_symbol.h"

#include <dlfcn.h>
#include <errno.h>
#include <elf.h>
#include <link.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- /proc/self/maps ------------------------------------------------------ */
static uintptr_t sym_hex(const char **p) {
  uintptr_t v = 0;
  for (;; (*p)++) {
    char c = **p;
    if (c >= '0' && c <= '9') v = v * 16 + (uintptr_t)(c - '0');
    else if (c >= 'a' && c <= 'f') v = v * 16 + (uintptr_t)(c - 'a' + 10);
    else return v;
  }
}

/* The mapping holding pc: its object path (in the maps text, up to the
 * newline; *path_len), and the load base of that object (the start of its
 * mapping at file offset 0).  False if pc is in no file mapping. */
bool pmi_prof_maps_lookup(const char *maps, size_t maps_len, uintptr_t pc, const char **path, size_t *path_len,
                          uintptr_t *base) {
  const char *p = maps, *end = maps + maps_len;
  const char *found = NULL;
  size_t found_len = 0;
  while (p < end) {
    const char *line = p, *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL) nl = end;
    p = nl + 1;
    const char *q = line;
    uintptr_t lo = sym_hex(&q);
    if (*q++ != '-') continue;
    uintptr_t hi = sym_hex(&q);
    int fields = 0;   /* perms offset dev inode, then the path */
    while (q < nl && fields < 4) {
      while (q < nl && *q == ' ') q++;
      while (q < nl && *q != ' ') q++;
      fields++;
    }
    while (q < nl && *q == ' ') q++;
    if (q >= nl || *q != '/') continue;
    if (pc >= lo && pc < hi) {
      found = q;
      found_len = (size_t)(nl - q);
      break;
    }
  }
  if (found == NULL) return false;
  /* The base: the lowest start among the object's mappings. */
  uintptr_t b = UINTPTR_MAX;
  for (p = maps; p < end;) {
    const char *line = p, *nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL) nl = end;
    p = nl + 1;
    if ((size_t)(nl - line) < found_len || memcmp(nl - found_len, found, found_len) != 0) continue;
    const char *q = line;
    uintptr_t lo = sym_hex(&q);
    if (lo < b) b = lo;
  }
  *path = found;
  *path_len = found_len;
  *base = b;
  return true;
}

/* ---- String pool -------------------------------------------------------------- */
static const char *sym_add(pmi_prof_strpool_t *sp, const char *s, size_t n) {
  if (sp->len + n + 1 > sp->cap) return NULL;
  char *d = sp->buf + sp->len;
  memcpy(d, s, n);
  d[n] = '\0';
  sp->len += n + 1;
  return d;
}

static const char *sym_addf(pmi_prof_strpool_t *sp, const char *fmt, ...) PM_PRINTF(2, 3);
static const char *sym_addf(pmi_prof_strpool_t *sp, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  size_t n = pmi_fmt_vformat(line, sizeof line, fmt, ap);
  va_end(ap);
  return sym_add(sp, line, n < sizeof line ? n : sizeof line - 1);
}

static const char *sym_basename(const char *path, size_t len, size_t *out_len) {
  const char *b = path;
  for (size_t i = 0; i < len; i++)
    if (path[i] == '/') b = path + i + 1;
  *out_len = len - (size_t)(b - path);
  return b;
}

/* Does the object carry a full symbol table (.symtab)?  Then addr2line's
 * function names are right even without line information; a stripped
 * object has only its exports (see sym_inside_export). */
static bool sym_has_symtab(const char *path) {
  int fd = pmi_prim_open(path, false);
  if (fd < 0) return false;
  Elf64_Ehdr eh;
  bool found = false;
  if (pmi_prim_read(fd, (char *)&eh, sizeof eh) == (ssize_t)sizeof eh && eh.e_shentsize == sizeof(Elf64_Shdr) &&
      pmi_prim_seek(fd, eh.e_shoff)) {
    for (unsigned i = 0; i < eh.e_shnum && !found; i++) {
      Elf64_Shdr sh;
      if (pmi_prim_read(fd, (char *)&sh, sizeof sh) != (ssize_t)sizeof sh) break;
      found = sh.sh_type == SHT_SYMTAB;
    }
  }
  pmi_prim_close(fd);
  return found;
}

/* ET_EXEC objects are linked at fixed addresses: addr2line wants the pc as
 * is.  Shared objects and PIE programs want pc - base. */
static bool sym_is_fixed(const char *path) {
  int fd = pmi_prim_open(path, false);
  if (fd < 0) return false;
  Elf64_Ehdr eh;
  ssize_t n = pmi_prim_read(fd, (char *)&eh, sizeof eh);
  pmi_prim_close(fd);
  return n == (ssize_t)sizeof eh && eh.e_type == ET_EXEC;
}

/* Without a symbol table or debug information addr2line falls back on the
 * dynamic symbols and names the nearest exported function *before* pc,
 * which for a static function is simply wrong (insertdict would read as
 * whatever PyAPI function precedes it).  True if the loader's symbol for
 * pc really contains it (its st_size covers pc). */
static bool sym_inside_export(uintptr_t pc) {
  Dl_info info;
  const ElfW(Sym) *sym = NULL;
  if (dladdr1((void *)pc, &info, (void **)&sym, RTLD_DL_SYMENT) == 0 || sym == NULL || info.dli_saddr == NULL)
    return false;
  return sym->st_size != 0 && pc >= (uintptr_t)info.dli_saddr && pc < (uintptr_t)info.dli_saddr + sym->st_size;
}

/* ---- addr2line ---------------------------------------------------------------- */
#define SYM_BATCH 256

/* Runs addr2line -C -f -e path on addrs; out gets its stdout (NUL-ended).
 * Returns the output length, or -1 if it could not run. */
static ssize_t sym_run_addr2line(const char *path, const uintptr_t *addrs, unsigned n, char *outbuf, size_t cap) {
  char argbuf[SYM_BATCH][20];
  char *argv[SYM_BATCH + 6];
  unsigned k = 0;
  argv[k++] = (char *)"addr2line";
  argv[k++] = (char *)"-C";
  argv[k++] = (char *)"-f";
  argv[k++] = (char *)"-e";
  argv[k++] = (char *)path;
  for (unsigned i = 0; i < n; i++) {
    pmi_fmt_format(argbuf[i], sizeof argbuf[i], "%p", (void *)addrs[i]);
    argv[k++] = argbuf[i];
  }
  argv[k] = NULL;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) {
    pmi_prim_close(fds[0]);
    pmi_prim_close(fds[1]);
    return -1;
  }
  if (pid == 0) {
    /* Not under us: without LD_PRELOAD and POOLMALLOC_*, addr2line cannot
     * run our exit reports (and with them, another addr2line). */
    static char *envp[256];
    unsigned ne = 0;
    for (char **e = environ; *e != NULL && ne < 255; e++)
      if (strncmp(*e, "POOLMALLOC_", 11) != 0 && strncmp(*e, "LD_PRELOAD=", 11) != 0) envp[ne++] = *e;
    envp[ne] = NULL;
    dup2(fds[1], 1);
    int devnull = pmi_prim_open("/dev/null", true);
    if (devnull >= 0) dup2(devnull, 2);
    execvpe("addr2line", argv, envp);
    _exit(127);
  }
  pmi_prim_close(fds[1]);
  size_t len = 0;
  ssize_t r;
  while ((r = pmi_prim_read(fds[0], outbuf + len, cap - 1 - len)) > 0) len += (size_t)r;
  pmi_prim_close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  outbuf[len] = '\0';
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return (ssize_t)len;
}

static const char *sym_line(const char **p) {
  const char *s = *p, *nl = strchr(s, '\n');
  if (nl == NULL) return NULL;
  *p = nl + 1;
  return s;
}

/* One object's pcs (indexes idx[0..n)), named in place. */
static void sym_object(const char *path, size_t path_len, uintptr_t base, const uintptr_t *pcs, const unsigned *idx,
                       unsigned n, const char **names, pmi_prof_strpool_t *sp, char *scratch, size_t scratch_cap) {
  char file[1024];
  if (path_len >= sizeof file) return;
  memcpy(file, path, path_len);
  file[path_len] = '\0';
  size_t blen;
  const char *bname = sym_basename(path, path_len, &blen);
  bool fixed = sym_is_fixed(file), symtab = sym_has_symtab(file);
  for (unsigned off = 0; off < n; off += SYM_BATCH) {
    unsigned m = n - off < SYM_BATCH ? n - off : SYM_BATCH;
    uintptr_t addrs[SYM_BATCH];
    for (unsigned i = 0; i < m; i++) addrs[i] = fixed ? pcs[idx[off + i]] : pcs[idx[off + i]] - base;
    ssize_t len = sym_run_addr2line(file, addrs, m, scratch, scratch_cap);
    const char *p = scratch;
    for (unsigned i = 0; i < m; i++) {
      unsigned j = idx[off + i];
      const char *fn = len >= 0 ? sym_line(&p) : NULL, *loc = fn ? sym_line(&p) : NULL;
      if (fn == NULL || loc == NULL) {
        names[j] = sym_addf(sp, "%.*s+0x%zx", (int)blen, bname, (size_t)addrs[i]);
        continue;
      }
      size_t fn_len = (size_t)(strchr(fn, '\n') - fn), loc_len = (size_t)(strchr(loc, '\n') - loc);
      bool fn_known = !(fn_len == 2 && fn[0] == '?'), loc_known = loc[0] != '?';
      if (fn_known && loc_known)
        names[j] = sym_addf(sp, "%.*s at %.*s (%.*s)", (int)fn_len, fn, (int)loc_len, loc, (int)blen, bname);
      else if (fn_known && (symtab || sym_inside_export(pcs[j])))
        names[j] = sym_addf(sp, "%.*s (%.*s+0x%zx)", (int)fn_len, fn, (int)blen, bname, (size_t)addrs[i]);
      else if (fn_known)   /* a stripped object: addr2line named the export before it */
        names[j] = sym_addf(sp, "%.*s+0x%zx (a local function after %.*s)", (int)blen, bname, (size_t)addrs[i],
                            (int)fn_len, fn);
      else
        names[j] = sym_addf(sp, "%.*s+0x%zx", (int)blen, bname, (size_t)addrs[i]);
    }
  }
}

static void sym_dladdr(uintptr_t pc, const char **name, pmi_prof_strpool_t *sp) {
  Dl_info info;
  if (dladdr((void *)pc, &info) == 0 || info.dli_fname == NULL) {
    *name = sym_addf(sp, "%p", (void *)pc);
    return;
  }
  size_t blen;
  const char *b = sym_basename(info.dli_fname, strlen(info.dli_fname), &blen);
  if (info.dli_sname != NULL && sym_inside_export(pc))
    *name = sym_addf(sp, "%s+0x%zx (%.*s)", info.dli_sname, (size_t)(pc - (uintptr_t)info.dli_saddr), (int)blen, b);
  else
    *name = sym_addf(sp, "%.*s+0x%zx", (int)blen, b, (size_t)(pc - (uintptr_t)info.dli_fbase));
}

/* pcs are return addresses: the call is the instruction before, so each is
 * looked up at pc - 1 (pprof does the same). */
void pmi_prof_symbolize(const char *maps, size_t maps_len, const uintptr_t *pcs_in, size_t n, const char **names,
                        pmi_prof_strpool_t *sp) {
  size_t work_bytes = pm_align_up(n * (sizeof(uintptr_t) + sizeof(unsigned) + 1) + (1 << 20), PM_PAGE_SIZE);
  char *work = pmi_os_map(work_bytes, PM_PAGE_SIZE);
  if (work == NULL) {
    for (size_t i = 0; i < n; i++) sym_dladdr(pcs_in[i], &names[i], sp);
    return;
  }
  uintptr_t *pcs = (uintptr_t *)work;
  unsigned *idx = (unsigned *)(pcs + n);
  bool *done = (bool *)(idx + n);
  char *scratch = work + work_bytes - (1 << 20);
  for (size_t i = 0; i < n; i++) {
    pcs[i] = pcs_in[i] - 1;
    done[i] = false;
    names[i] = NULL;
  }
  for (size_t i = 0; i < n; i++) {
    if (done[i]) continue;
    const char *path;
    size_t path_len;
    uintptr_t base;
    if (!pmi_prof_maps_lookup(maps, maps_len, pcs[i], &path, &path_len, &base)) {
      done[i] = true;
      continue;
    }
    unsigned m = 0;   /* every pc of the same object */
    for (size_t j = i; j < n; j++) {
      if (done[j]) continue;
      const char *pj;
      size_t lj;
      uintptr_t bj;
      if (pmi_prof_maps_lookup(maps, maps_len, pcs[j], &pj, &lj, &bj) && lj == path_len &&
          memcmp(pj, path, lj) == 0) {
        idx[m++] = (unsigned)j;
        done[j] = true;
      }
    }
    sym_object(path, path_len, base, pcs, idx, m, names, sp, scratch, 1 << 20);
  }
  for (size_t i = 0; i < n; i++)
    if (names[i] == NULL || strchr(names[i], ' ') == NULL) {   /* no function name: ask the loader */
      const char *alt = NULL;
      sym_dladdr(pcs[i], &alt, sp);
      if (alt != NULL && (names[i] == NULL || strchr(alt, ' ') != NULL)) names[i] = alt;
    }
  pmi_os_unmap(work, work_bytes);
}
