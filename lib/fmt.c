/* SPDX-License-Identifier: MIT */
/* fmt.c — formatting and failing without malloc.
 *
 * A small vsnprintf (%s %c %d %i %u %x %p %% with l/ll/z and a width, '-'
 * and '0' flags, and a precision for %s: %.*s) that writes into a caller's buffer, plus the messages and
 * the fatal path built on it.  Everything goes to the fd with one write per
 * line, so concurrent diagnostics do not interleave mid-line.  Never calls
 * malloc or stdio (jemalloc's malloc_io, hardened_malloc's fatal_error).
 */
#include "internal.h"
#include "prim.h"

#include <stdlib.h>
#include <string.h>

typedef struct fmt_out_s {
  char *buf;
  size_t size, len;    /* len may exceed size: the length wanted */
} fmt_out_t;

static void fmt_putc(fmt_out_t *o, char c) {
  if (o->len + 1 < o->size) o->buf[o->len] = c;
  o->len++;
}

static void fmt_pad(fmt_out_t *o, const char *s, size_t n, int width, bool left, char pad) {
  int fill = width > (int)n ? width - (int)n : 0;
  if (!left) while (fill-- > 0) fmt_putc(o, pad);
  while (n-- > 0) fmt_putc(o, *s++);
  if (left) while (fill-- > 0) fmt_putc(o, ' ');
}

static size_t fmt_number(char *end, unsigned long long v, unsigned base) {
  char *p = end;
  do {
    *--p = "0123456789abcdef"[v % base];
    v /= base;
  } while (v != 0);
  return (size_t)(end - p);
}

size_t pmi_fmt_vformat(char *buf, size_t size, const char *fmt, va_list ap) {
  fmt_out_t o = {buf, size, 0};
  for (const char *f = fmt; *f != '\0'; f++) {
    if (*f != '%') {
      fmt_putc(&o, *f);
      continue;
    }
    f++;
    bool left = false;
    char pad = ' ';
    for (;; f++) {
      if (*f == '-') left = true;
      else if (*f == '0') pad = '0';
      else break;
    }
    int width = 0, prec = -1;
    while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
    if (*f == '.') {                        /* precision: strings only */
      f++;
      if (*f == '*') {
        prec = va_arg(ap, int);
        f++;
      } else {
        for (prec = 0; *f >= '0' && *f <= '9'; f++) prec = prec * 10 + (*f - '0');
      }
    }
    int longs = 0;
    bool is_size = false;
    for (;; f++) {
      if (*f == 'l') longs++;
      else if (*f == 'z') is_size = true;
      else break;
    }
    char num[32], *end = num + sizeof num;
    switch (*f) {
    case '%': fmt_putc(&o, '%'); break;
    case 'c': num[0] = (char)va_arg(ap, int); fmt_pad(&o, num, 1, width, left, ' '); break;
    case 's': {
      const char *s = va_arg(ap, const char *);
      if (s == NULL) s = "(null)";
      size_t n = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
      fmt_pad(&o, s, n, width, left, ' ');
      break;
    }
    case 'p': {
      uintptr_t v = (uintptr_t)va_arg(ap, void *);
      size_t n = fmt_number(end, v, 16);
      *(end - n - 1) = 'x';
      *(end - n - 2) = '0';
      fmt_pad(&o, end - n - 2, n + 2, width, left, ' ');
      break;
    }
    case 'd': case 'i': {
      long long v = is_size ? (long long)va_arg(ap, ptrdiff_t) : longs ? va_arg(ap, long long) : va_arg(ap, int);
      if (longs == 1 && !is_size) v = (long)v;
      unsigned long long mag = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
      size_t n = fmt_number(end, mag, 10);
      if (v < 0) { *(end - n - 1) = '-'; n++; }
      fmt_pad(&o, end - n, n, width, left, pad);
      break;
    }
    case 'u': case 'x': {
      unsigned long long v = is_size ? va_arg(ap, size_t) : longs ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned);
      size_t n = fmt_number(end, v, *f == 'x' ? 16 : 10);
      fmt_pad(&o, end - n, n, width, left, pad);
      break;
    }
    default:                                /* unknown: print it verbatim */
      fmt_putc(&o, '%');
      if (*f == '\0') goto done;
      fmt_putc(&o, *f);
    }
  }
done:
  if (size > 0) buf[o.len < size ? o.len : size - 1] = '\0';
  return o.len;
}

size_t pmi_fmt_format(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t n = pmi_fmt_vformat(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

static void fmt_vprint(int fd, const char *prefix, const char *fmt, va_list ap) {
  char line[512];
  size_t p = strlen(prefix);
  memcpy(line, prefix, p);
  size_t n = pmi_fmt_vformat(line + p, sizeof line - p - 1, fmt, ap);
  n = p + (n < sizeof line - p - 2 ? n : sizeof line - p - 2);
  if (prefix[0] != '\0') line[n++] = '\n';
  pmi_prim_write(fd, line, n);
}

void pmi_fmt_print(int fd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fmt_vprint(fd, "", fmt, ap);
  va_end(ap);
}

void pmi_fmt_message(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fmt_vprint(2, "poolmalloc: ", fmt, ap);
  va_end(ap);
}

void pmi_fatal(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fmt_vprint(2, "poolmalloc: ", fmt, ap);
  va_end(ap);
  abort();
}

void pmi_fmt_assert_fail(const char *cond, const char *file, int line) {
  pmi_fatal("assertion failed: %s (%s:%d)", cond, file, line);
}
