#!/usr/bin/env bash
# Builds the smolvm guest kernel (an uncompressed ELF vmlinux) from Debian's
# linux-source-6.12 package, the config fragment kernel/smolvm.config and the
# patches in kernel/patches/. The result is cached under a key made of the
# fragment, the patches, this script and the source package version, so a
# second call with the same inputs prints the cached path at once.
#
# Usage: scripts/build-kernel.sh [--print-key]
# Prints the path of the built vmlinux on stdout; progress goes to stderr.
# Environment: SMOLVM_CACHE (default ~/.cache/smolvm), JOBS (default nproc).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
tarball=/usr/src/linux-source-6.12.tar.xz
fragment=$here/kernel/smolvm.config
cache=${SMOLVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/smolvm}

if [ ! -f "$tarball" ]; then
  echo "build-kernel: $tarball is missing; install it with: apt-get install linux-source-6.12 build-essential flex bison bc libelf-dev" >&2
  exit 1
fi
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || stat -c %s "$tarball")

key=$( { echo "$srcver"; cat "$fragment" "$0"; cat "$here"/kernel/patches/*.patch; } | sha256sum | cut -c1-16)
if [ "${1:-}" = --print-key ]; then echo "$key"; exit 0; fi

out=$cache/kernel/$key
if [ -f "$out/vmlinux" ]; then
  echo "$out/vmlinux"
  exit 0
fi

# The patched source tree is kept, keyed by source version and patches
# only, so a config change rebuilds incrementally (kbuild recompiles what
# the changed options touch: a minute or two instead of ten). Trees of
# other sources or patches, and half-made ones, are removed.
treekey=$( { echo "$srcver"; cat "$here"/kernel/patches/*.patch; } | sha256sum | cut -c1-16)
work=$cache/kernel/tree-$treekey
rm -rf "$cache"/kernel/build-* "$cache"/kernel/tmp-*
for t in "$cache"/kernel/tree-*; do
  [ "$t" = "$work" ] && [ -f "$work/.smolvm-tree-ready" ] && continue
  rm -rf "$t"
done
if [ ! -f "$work/.smolvm-tree-ready" ]; then
  mkdir -p "$work"
  echo "build-kernel: extracting $tarball (source $srcver)" >&2
  tar -xf "$tarball" -C "$work" --strip-components=1
  for p in "$here"/kernel/patches/*.patch; do
    echo "build-kernel: applying $(basename "$p")" >&2
    patch -d "$work" -p1 --forward --quiet < "$p"
  done
  touch "$work/.smolvm-tree-ready"
fi

mk() { make -C "$work" ARCH=x86_64 -j"${JOBS:-$(nproc)}" "$@"; }
mk tinyconfig >/dev/null
"$work/scripts/kconfig/merge_config.sh" -m -O "$work" "$work/.config" "$fragment" >/dev/null
mk olddefconfig >/dev/null

# A fragment line Kconfig silently dropped (unmet dependency, renamed
# symbol) would give a kernel that boots differently than documented.
missing=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*) want=$line ;;
    "# CONFIG_"*" is not set") want=$line ;;
    *) continue ;;
  esac
  sym=${want#\# }; sym=${sym%%[= ]*}
  have=$(grep -E "^(# )?$sym[= ]" "$work/.config" || echo "# $sym is not set")
  if [ "$have" != "$want" ]; then
    echo "build-kernel: config wants '$want' but got '$have'" >&2
    missing=1
  fi
done < "$fragment"
[ "$missing" = 0 ] || { echo "build-kernel: fix kernel/smolvm.config" >&2; exit 1; }

echo "build-kernel: compiling vmlinux with ${JOBS:-$(nproc)} jobs (about 5 minutes on 2 cores the first time)" >&2
mk vmlinux >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; exit 1; }

tmp=$cache/kernel/tmp-$key
rm -rf "$tmp"; mkdir -p "$tmp"
cp "$work/vmlinux" "$work/System.map" "$work/.config" "$tmp/"
strip --strip-debug "$tmp/vmlinux" 2>/dev/null || true
rm -rf "$out"; mv "$tmp" "$out"
echo "$out/vmlinux"
