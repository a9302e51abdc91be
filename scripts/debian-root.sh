#!/usr/bin/env bash
# Builds a Debian bookworm minbase root filesystem with python3, for the
# real-distribution boot test, into a cache directory; prints its path.
# A second call is instant. The mirror is the one this machine's apt
# uses (its sources list), so the script works wherever apt does.
#
#   scripts/debian-root.sh            -> $SMOLVM_CACHE/debian/bookworm-python3
set -euo pipefail
cache="${SMOLVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/smolvm}/debian"
suite=bookworm
name="$suite-python3"
dest="$cache/$name"
if [ -f "$dest/.complete" ]; then
	echo "$dest"
	exit 0
fi
command -v debootstrap >/dev/null || {
	echo "debian-root: debootstrap not found: apt-get install debootstrap" >&2
	exit 1
}
mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
	mirror=$(grep -hsE '^\s*URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1 || true)
fi
if [ -z "$mirror" ]; then
	mirror=$(grep -hsE '^\s*deb\s' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -1 || true)
fi
if [ -z "$mirror" ]; then
	echo "debian-root: no Debian mirror in apt's sources; set DEBIAN_MIRROR" >&2
	exit 1
fi
mkdir -p "$cache"
rm -rf "$dest.tmp"
echo "debian-root: debootstrap $suite (minbase + python3) from $mirror, a few minutes" >&2
debootstrap --variant=minbase --include=python3 "$suite" "$dest.tmp" "$mirror" >"$cache/$name.log" 2>&1 || {
	echo "debian-root: debootstrap failed; last lines of $cache/$name.log:" >&2
	tail -20 "$cache/$name.log" >&2
	exit 1
}
# What a VM does not need: package caches and documentation.
rm -rf "$dest.tmp"/var/cache/apt/archives/*.deb "$dest.tmp"/var/lib/apt/lists/* \
	"$dest.tmp"/usr/share/doc "$dest.tmp"/usr/share/man "$dest.tmp"/usr/share/locale
rm -rf "$dest"
mv "$dest.tmp" "$dest"
touch "$dest/.complete"
echo "$dest"
