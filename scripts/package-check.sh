#!/usr/bin/env bash
# Runs inside `unshare --mount` (scripts/package.sh check): hides /opt/swift under an empty tmpfs
# in this mount namespace only, then installs the .deb ($1) with apt-get, uses the tools from
# /usr/bin (load with the embedded object, top without a terminal, hist, man, completions),
# and removes the package: every file it installed must be gone. Leaves nothing behind, even on
# failure (pins unloaded, package removed).
set -euo pipefail
DEB=$1
PIN=/sys/fs/bpf/starve-pkgcheck-$$
APT=(apt-get -o DPkg::Lock::Timeout=600 -y -q)
export DEBIAN_FRONTEND=noninteractive
step() { printf '==> package check: %s\n' "$*" >&2; }
fail() { printf 'package check: FAILED: %s\n' "$*" >&2; exit 1; }

# The package must not be there already (it would be replaced, then removed).
if dpkg -s starve >/dev/null 2>&1; then fail "a starve package is installed already: remove it first (apt-get remove starve)"; fi

mount -t tmpfs -o size=1m,mode=0755 starve-no-swift /opt/swift
[ -z "$(ls -A /opt/swift)" ] || fail "/opt/swift is not empty in the namespace"
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
if command -v swift >/dev/null 2>&1; then fail "a swift is still on PATH: $(command -v swift)"; fi
step "/opt/swift is an empty directory here; swift is not on PATH"

WORK=$(mktemp -d)
cleanup() {
  local rc=$?
  [ -d "$PIN" ] && /usr/bin/starve-load unload --pin-dir "$PIN" >/dev/null 2>&1 || true
  [ -d "$PIN" ] && rm -rf "$PIN" || true
  if dpkg -s starve >/dev/null 2>&1; then "${APT[@]}" remove starve >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step "apt-get install $DEB"
"${APT[@]}" install "$DEB" >"$WORK/apt-install.log" 2>&1 || { cat "$WORK/apt-install.log" >&2; fail "apt-get install"; }
dpkg -L starve >"$WORK/files"
mapfile -t TOOLS < <(grep '^/usr/bin/' "$WORK/files" | xargs -n1 basename)
[ ${#TOOLS[@]} -ge 3 ] || fail "the package has only ${TOOLS[*]} in /usr/bin"
for t in "${TOOLS[@]}"; do
  [ "$(command -v $t)" = "/usr/bin/$t" ] || fail "$t is not /usr/bin/$t"
  if ldd /usr/bin/$t | grep -E 'not found|swift|Foundation'; then fail "$t needs libraries it cannot find here"; fi
done

step "starve-load (the embedded BPF object) from /"
out=$(cd / && starve-load --pin-dir "$PIN")
echo "$out"
grep -q "loaded the embedded starve.bpf.o" <<<"$out" || fail "starve-load did not load its embedded object: $out"
starve-load status --pin-dir "$PIN" | grep -q "sched_switch" || fail "starve-load status"

step "starve-dump top without a terminal: plain frames"
out=$(starve-dump top --pin-dir "$PIN" --interval 0.5 --iterations 2 | cat)
grep -q "^run-queue wait, all tasks (ms): p50" <<<"$out" || fail "top printed no header: $out"
[ "$(grep -c '^starve top' <<<"$out")" = 2 ] || fail "top printed not two frames: $out"
if grep -q $'\e' <<<"$out"; then fail "top wrote escape sequences to a pipe"; fi
head -8 <<<"$out"

step "starve-dump hist"
out=$(starve-dump hist --pin-dir "$PIN" --interval 0.5)
grep -q "usecs" <<<"$out" && grep -q "distribution" <<<"$out" || fail "hist: $out"
json=$(starve-dump hist --pin-dir "$PIN" --since-load --format json)
grep -q '"buckets":\[' <<<"$json" || fail "hist --format json: $json"
head -6 <<<"$out"

step "man pages"
for t in "${TOOLS[@]}"; do
  page=$(MANPAGER=cat MANWIDTH=100 man "$t" 2>/dev/null) || fail "man $t"
  grep -q "$t" <<<"$page" || fail "man $t does not name it"
done
MANPAGER=cat man starve-dump 2>/dev/null | grep -q "top" || fail "man starve-dump lacks top"

step "completions"
bash -c 'source /usr/share/bash-completion/completions/starve-dump && complete -p starve-dump' >/dev/null || fail "bash completion does not load"
compgen_out=$(bash -c 'source /usr/share/bash-completion/completions/starve-dump
COMP_WORDS=(starve-dump h); COMP_CWORD=1; COMP_LINE="starve-dump h"; COMP_POINT=${#COMP_LINE}
f=$(complete -p starve-dump | sed -E "s/.*-F ([^ ]+).*/\1/"); $f starve-dump h starve-dump; printf "%s\n" "${COMPREPLY[@]}"')
grep -qx "hist" <<<"$compgen_out" || fail "bash completion of 'starve-dump h' does not offer hist: $compgen_out"
[ -s /usr/share/zsh/vendor-completions/_starve-dump ] || fail "no zsh completion"
[ -s /usr/share/fish/vendor_completions.d/starve-dump.fish ] || fail "no fish completion"
if command -v zsh >/dev/null; then zsh -n /usr/share/zsh/vendor-completions/_starve-dump || fail "zsh completion does not parse"; fi
if command -v fish >/dev/null; then fish -n /usr/share/fish/vendor_completions.d/starve-dump.fish || fail "fish completion does not parse"; fi

step "systemd units"
for unit in $(grep '^/lib/systemd/system/.*\.service$' "$WORK/files"); do
  grep -q '^ExecStart=/usr/bin/' "$unit" || fail "$unit does not start a /usr/bin tool"
  if command -v systemd-analyze >/dev/null; then
    # verify checks the unit and that its ExecStart binaries exist; PID 1 need not be systemd.
    out=$(systemd-analyze verify --man=no "$unit" 2>&1) || fail "systemd-analyze verify $unit: $out"
  fi
done

step "unload, apt-get remove"
starve-load unload --pin-dir "$PIN" >/dev/null
"${APT[@]}" remove starve >"$WORK/apt-remove.log" 2>&1 || { cat "$WORK/apt-remove.log" >&2; fail "apt-get remove"; }
if dpkg -s starve 2>/dev/null | grep -q '^Status: install'; then fail "starve still installed"; fi
left=0
while IFS= read -r f; do
  [ -d "$f" ] && continue   # directories shared with other packages stay
  if [ -e "$f" ] || [ -L "$f" ]; then echo "left behind: $f" >&2; left=1; fi
done <"$WORK/files"
[ -e /usr/share/doc/starve ] && { echo "left behind: /usr/share/doc/starve" >&2; left=1; }
[ $left = 0 ] || fail "apt-get remove left files"
step "OK: $(wc -l <"$WORK/files") paths installed and removed; swift was not needed"
