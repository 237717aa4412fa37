#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/install/installcheck.sh — make installcheck (and so make distcheck):
# use the installed poolmalloc the way its README says, from a scratch
# directory, with nothing from the build tree (issue 11.3, 11.4).
#
#   headers    poolmalloc.h and poolmalloc/gc.h where #include expects them
#   pkg-config finds poolmalloc.pc under $libdir/pkgconfig
#   api        use_api.c linked shared (-lpoolmalloc from pkg-config) and
#              static (-static, pkg-config --static): malloc is poolmalloc's,
#              and the shared one runs the installed library
#   gc         README's GC example (use_gc.c), shared and static
#   c++        use_cxx.cc: operator new and sized delete are poolmalloc's,
#              shared and static
#   pmrun      the installed pmrun preloads the installed library (its
#              soname under $libdir), never the build tree's
#   man        the installed man pages open with man -l
# Environment (set by tests/install/install.mk): prefix libdir includedir
# bindir mandir srcdir builddir CC CXX PACKAGE_VERSION.  Prints TAP; exit 1 on
# any failure.
set -u
. "$srcdir/tests/tap.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/pm-installcheck.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# No ldconfig has run on this prefix: say where the library is, as README does.
run() { LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"; }
# build NAME COMPILER SOURCE [shared|static]: one binary, errors to NAME.log.
build() {
  if [ "$4" = static ]; then
    # shellcheck disable=SC2046
    $2 -o "$1" "$3" $(pkg-config --cflags poolmalloc) -static $(pkg-config --static --libs poolmalloc) >"$1.log" 2>&1
  else
    # shellcheck disable=SC2046
    $2 -o "$1" "$3" $(pkg-config --cflags --libs poolmalloc) >"$1.log" 2>&1
  fi || { tap_diag <"$1.log"; return 1; }
}
gc=0
[ -f "$includedir/poolmalloc/gc.h" ] && gc=1
tap_plan 10

ok=0
[ -f "$includedir/poolmalloc.h" ] || { echo "# no $includedir/poolmalloc.h"; ok=1; }
[ ! -e "$includedir/include" ] || { echo "# $includedir/include exists (headers one level too deep)"; ok=1; }
tap_result $ok "headers installed under $includedir"

v=$(pkg-config --modversion poolmalloc 2>&1)
[ "$v" = "$PACKAGE_VERSION" ]; rc=$?
[ $rc -eq 0 ] || echo "# pkg-config --modversion poolmalloc: $v (want $PACKAGE_VERSION)"
tap_result $rc "pkg-config finds poolmalloc $PACKAGE_VERSION in $libdir/pkgconfig"

for kind in shared static; do
  ok=1
  if build "api-$kind" "$CC" "$srcdir/tests/install/use_api.c" $kind; then
    out=$(run "./api-$kind" 2>&1) && ok=0
    echo "$out" | sed 's/^/# /'
    where=$(echo "$out" | sed -n 's/^allocator=//p')
    case $kind:$where in
      shared:"$libdir"/libpoolmalloc.so*) ;;
      static:static) ;;
      *) echo "# the allocator came from '$where'"; ok=1 ;;
    esac
  fi
  tap_result $ok "allocator API, $kind link"
done

for kind in shared static; do
  if [ $gc -eq 0 ]; then tap_skip "GC API, $kind link" "configured --disable-gc"; continue; fi
  ok=1
  build "gc-$kind" "$CC" "$srcdir/tests/install/use_gc.c" $kind && run "./gc-$kind" >"gc-$kind.out" 2>&1 && ok=0
  tap_diag <"gc-$kind.out" 2>/dev/null
  tap_result $ok "GC API (README's example), $kind link"
done

for kind in shared static; do
  ok=1
  build "cxx-$kind" "$CXX" "$srcdir/tests/install/use_cxx.cc" $kind && run "./cxx-$kind" >"cxx-$kind.out" 2>&1 && ok=0
  tap_diag <"cxx-$kind.out" 2>/dev/null
  tap_result $ok "C++ operator new/delete, $kind link"
done

ok=1
if [ -x "$bindir/pmrun" ]; then
  env -u LD_PRELOAD -u PMRUN_LIB "$bindir/pmrun" cat /proc/self/maps >maps 2>&1
  so=$(sed -n 's|.* \(/[^ ]*libpoolmalloc[^ ]*\)$|\1|p' maps | sort -u)
  case $so in
    "$libdir"/libpoolmalloc.so.*) ok=0 ;;
  esac
  [ $ok -eq 0 ] || echo "# the installed pmrun preloaded: '${so:-nothing}' (want $libdir/libpoolmalloc.so.N)"
else
  echo "# no $bindir/pmrun"
fi
tap_result $ok "installed pmrun preloads the installed library"

ok=0
for page in man3/poolmalloc.3 man3/poolmalloc_gc.3 man1/pmrun.1; do
  f=$mandir/$page
  [ -f "$f" ] || f=$f.gz    # packages compress them
  if [ ! -f "$f" ]; then
    [ "$page" = man3/poolmalloc_gc.3 ] && [ $gc -eq 0 ] && continue
    echo "# $mandir/$page not installed"; ok=1; continue
  fi
  if command -v man >/dev/null 2>&1; then
    MANWIDTH=80 man -l "$f" >page.txt 2>page.err </dev/null && [ -s page.txt ] ||
      { echo "# man -l $f failed"; tap_diag <page.err; ok=1; }
  fi
done
tap_result $ok "man pages installed under $mandir and open with man -l"
tap_done
