#!/usr/bin/env bash
# scripts/package.sh — install starve like a real tool, build its Debian package, and check that
# package on this machine as if Swift were not installed. Called by scripts/run.sh
# (install | package | package-check); see docs/install.md.
#
#   package.sh install        release build, then binaries, man pages, completions and docs
#                             under $DESTDIR$PREFIX (PREFIX=/usr/local, DESTDIR empty)
#   package.sh package        the same staged under /usr into dist/starve_VERSION_ARCH.deb
#   package.sh check [DEB]    (root) builds the package (or takes DEB), then in a private mount namespace where /opt/swift is an empty
#                             directory: apt-get install the .deb, load, top, hist, man,
#                             completions, unload, apt-get remove; nothing of it may be left
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="/opt/swift/usr/bin:$PATH"
SCRATCH=${SCRATCH:-$ROOT/.build-package}   # the package build's own folder (gitignored)
# release: what users install (and what `scripts/run.sh test` checks); PACKAGE_CONFIG=debug
# makes the same package from a debug build, quicker to compile (docs/everyday.md has both times).
CONFIG=${PACKAGE_CONFIG:-release}
DIST=${DIST:-$ROOT/dist}
# Every executable product of Package.swift (starve-bench, a benchmark helper, is not one).
mapfile -t TOOLS < <(sed -n 's/.*\.executable(name: "\([^"]*\)".*/\1/p' "$ROOT/Package.swift")

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'package.sh: error: %s\n' "$*" >&2; exit 1; }

version() {
  # Debian versions start with a digit: 0.1.0+git<commits>.<hash>
  local n h
  n=$(git -C "$ROOT" rev-list --count HEAD 2>/dev/null || echo 0)
  h=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  echo "0.1.0+git$n.$h"
}

# The release build, with the Swift runtime and Foundation linked in (--static-swift-stdlib):
# the binaries need only libc, libbpf, libelf and zlib on the target. The BPF object is built
# first so that the build embeds it.
release_build() {
  say "building the BPF object"
  make -s -C "$ROOT/bpf"
  say "$CONFIG build with the static Swift runtime (in $SCRATCH)"
  local start=$SECONDS
  local flags=(-c "$CONFIG" --static-swift-stdlib --scratch-path "$SCRATCH")
  (cd "$ROOT" && swift build "${flags[@]}" 2>&1 | { grep -vE '^\[[0-9]+/[0-9]+\]|warning: the use of .mktemp' || true; }) \
    || die "$CONFIG build failed (the compiler's messages are above)"
  # swift-argument-parser's generate-manual tool (what its GenerateManual plugin runs), built
  # with the same flags beside the tools (other flags would rebuild everything).
  (cd "$ROOT" && swift build "${flags[@]}" --product generate-manual 2>&1 | { grep -vE '^\[[0-9]+/[0-9]+\]|mktemp' || true; }) \
    || die "building generate-manual failed"
  BIN=$(cd "$ROOT" && swift build "${flags[@]}" --show-bin-path)
  say "$CONFIG build: $((SECONDS - start)) s"
  for t in "${TOOLS[@]}"; do
    [ -x "$BIN/$t" ] || die "the release build made no $t"
    if ldd "$BIN/$t" | grep -q 'libswift\|libFoundation\|/opt/swift'; then die "$t still needs the Swift runtime: $(ldd "$BIN/$t" | grep -i swift)"; fi
  done
  "$BIN/starve-load" --help >/dev/null
}

# Stages everything under $1 (a DESTDIR) for prefix $2; $3: where zsh completions go.
stage() {
  local dest=$1 prefix=$2 zshdir=$3 t
  local bindir=$dest$prefix/bin mandir=$dest$prefix/share/man/man1 docdir=$dest$prefix/share/doc/starve
  install -d "$bindir" "$mandir" "$docdir/docs" "$dest$prefix/share/bash-completion/completions" \
    "$dest$prefix/$zshdir" "$dest$prefix/share/fish/vendor_completions.d"
  local man
  man=$(mktemp -d)
  for t in "${TOOLS[@]}"; do
    install -m 0755 "$BIN/$t" "$bindir/$t"
    strip --strip-unneeded "$bindir/$t"
    # Man pages from the argument parser itself (its commands, options, help and discussion).
    "$BIN/generate-manual" "$BIN/$t" --output-directory "$man" --authors "the starve authors" \
      --section 1 >/dev/null
    # Completions from the argument parser: every subcommand, option and value list.
    "$BIN/$t" --generate-completion-script bash >"$dest$prefix/share/bash-completion/completions/$t"
    "$BIN/$t" --generate-completion-script zsh >"$dest$prefix/$zshdir/_$t"
    "$BIN/$t" --generate-completion-script fish >"$dest$prefix/share/fish/vendor_completions.d/$t.fish"
  done
  local page
  for page in "$man"/*.1; do gzip -9n <"$page" >"$mandir/$(basename "$page").gz"; done
  rm -rf "$man"
  install -m 0644 "$ROOT/README.md" "$docdir/README.md"
  install -m 0644 "$ROOT"/docs/*.md "$docdir/docs/"
  if compgen -G "$ROOT/policies/*.yaml" >/dev/null; then
    install -d "$docdir/policies"
    install -m 0644 "$ROOT"/policies/*.yaml "$docdir/policies/"   # starve-tune's example policies
  fi
  # The systemd units of deploy/systemd, with the binaries where this install puts them (the
  # units say /usr/local/bin). Installed, not enabled: which of them to run is the admin's call.
  if compgen -G "$ROOT/deploy/systemd/*.service" >/dev/null; then
    local unitdir=$dest$prefix/lib/systemd/system unit
    [ "$prefix" = /usr ] && unitdir=$dest/lib/systemd/system
    install -d "$unitdir"
    for unit in "$ROOT"/deploy/systemd/*.service; do
      sed "s|/usr/local/bin/|$prefix/bin/|g" "$unit" >"$unitdir/$(basename "$unit")"
      chmod 0644 "$unitdir/$(basename "$unit")"
    done
  fi
  chmod -R u=rwX,go=rX "$dest$prefix/share"
}

do_install() {
  local prefix=${PREFIX:-/usr/local} destdir=${DESTDIR:-}
  [ -n "$destdir" ] || [ -w "$prefix" ] || [ "$(id -u)" = 0 ] || die "cannot write to $prefix: run as root, or set PREFIX or DESTDIR"
  release_build
  stage "$destdir" "$prefix" share/zsh/site-functions
  say "installed under ${destdir}${prefix}: bin/{${TOOLS[*]// /,}}, share/man/man1, completions (bash, zsh, fish), share/doc/starve"
}

do_package() {
  command -v dpkg-deb >/dev/null || die "dpkg-deb not found (Debian/Ubuntu: apt-get install dpkg-dev)"
  command -v dpkg-shlibdeps >/dev/null || die "dpkg-shlibdeps not found (apt-get install dpkg-dev)"
  release_build
  local arch ver work deps
  arch=$(dpkg --print-architecture)
  ver=$(version)
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  stage "$work/root" /usr share/zsh/vendor-completions
  install -d "$work/root/usr/share/doc/starve" "$work/root/DEBIAN"
  cat >"$work/root/usr/share/doc/starve/copyright" <<COPY
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: starve
Comment: Built from $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo "a source tree"). The binaries contain
 the Swift runtime and Foundation (Apache-2.0 with Runtime Library Exception) and
 swift-argument-parser (Apache-2.0), linked statically.
COPY
  # Depends as Debian computes them: from the libraries the binaries link (libbpf, libelf,
  # zlib, libc), with the versions their symbols need.
  mkdir -p "$work/shlibs/debian"
  printf 'Source: starve\n\nPackage: starve\nArchitecture: any\n' >"$work/shlibs/debian/control"
  deps=$(cd "$work/shlibs" && dpkg-shlibdeps -O "${TOOLS[@]/#/$work/root/usr/bin/}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
  [ -n "$deps" ] || die "dpkg-shlibdeps found no dependencies"
  # dpkg-shlibdeps names the packages whose symbols the binaries call (libbpf1, with the
  # version they need); the libraries libbpf itself is built on (libelf, zlib: what the CLibbpf
  # module's pkg-config brings) get their packages named too: the package says all it needs.
  has_dep() { tr ',' '\n' <<<"$deps" | awk '{ print $1 }' | grep -qxF "$1"; }
  local libbpf path pkg
  libbpf=$(ldd "$work/root/usr/bin/starve-load" | awk '$1 ~ /^libbpf\.so/ { print $3; exit }')
  [ -n "$libbpf" ] || die "starve-load does not load libbpf"
  for path in $(ldd "$libbpf" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do
    pkg=$( { dpkg -S "$path" 2>/dev/null || dpkg -S "$(readlink -f "$path")" 2>/dev/null; } | head -1 | cut -d: -f1)
    [ -n "$pkg" ] || die "no package owns $path"
    has_dep "$pkg" || deps="$deps, $pkg"
  done
  for lib in libbpf libelf zlib1g; do
    grep -q "$lib" <<<"$deps" || die "Depends lacks $lib: $deps"
  done
  local size
  size=$(du -sk --exclude=DEBIAN "$work/root" | cut -f1)
  cat >"$work/root/DEBIAN/control" <<CONTROL
Package: starve
Version: $ver
Architecture: $arch
Maintainer: starve developers <starve@localhost>
Installed-Size: $size
Depends: $deps
Recommends: man-db, bash-completion
Section: admin
Priority: optional
Homepage: https://github.com/starve/starve
Description: who is starved of CPU on this Linux host, by whom, and why
 An eBPF toolkit: starve-load puts scheduler probes into the kernel (the
 BPF object is embedded in it) and pins their maps; starve-dump reads them
 as tables, CSV, JSON, a live full-screen view (top) and runqlat-style
 histograms (hist), per thread, process, cgroup and workload; starve-work
 makes controlled CPU pressure. Needs a kernel with BTF (5.8+).
CONTROL
  (cd "$work/root" && find usr lib -type f -print0 2>/dev/null | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
  mkdir -p "$DIST"
  rm -f "$DIST"/starve_*.deb
  local deb="$DIST/starve_${ver}_${arch}.deb"
  dpkg-deb --root-owner-group -Zxz -z1 --build "$work/root" "$deb" >/dev/null
  say "built $deb ($(du -h "$deb" | cut -f1)); Depends: $deps"
  echo "$deb"
}

# The check, as root, in a private mount namespace in which /opt/swift is an empty tmpfs: the
# machine's own Swift stays where it is for everyone else.
do_check() {
  [ "$(id -u)" = 0 ] || die "check needs root (apt-get install, BPF)"
  command -v unshare >/dev/null || die "unshare not found (util-linux)"
  local deb=${1:-}
  # Without an argument: a package of this tree, built now (never one left in dist/ earlier).
  [ -n "$deb" ] || deb=$(do_package | tail -1)
  [ -r "$deb" ] || die "no package at $deb"
  deb=$(readlink -f "$deb")
  say "checking $deb with /opt/swift hidden"
  unshare --mount --propagation private -- bash "$ROOT/scripts/package-check.sh" "$deb"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  install) do_install ;;
  package) do_package ;;
  check) do_check "$@" ;;
  *) die "usage: package.sh install | package | check [DEB]" ;;
esac
