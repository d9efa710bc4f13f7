#!/usr/bin/env bash
# scripts/experiment.sh — run a reproducible fair-share (nice-level) experiment: every cell of a
# plan runs starve-work workers with the BPF programs loaded under a pin directory of its own
# (unloaded at the end, even on failure), samples them with `starve-dump --share`, and writes
# samples.csv, summary.csv, metadata.txt, plan.txt and share.png / runtime.png into one folder.
# Plan format and outputs: docs/experiments.md. All ARGS go to `starve-work experiment`, e.g.
#   scripts/experiment.sh --plan assets/experiments/example/plan.txt --out /tmp/exp
#   scripts/experiment.sh --nice '0,5;0,5,10' --cpus 1 --duration 10 --seed 42 --out /tmp/exp
# Environment: CONFIG (release|debug, default release), SCRATCH (swift --scratch-path, default
# .build), STARVE_BPF_OBJECT (BPF object; default bpf/build/starve.bpf.o).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CONFIG=${CONFIG:-release}
SCRATCH=${SCRATCH:-.build}
export PATH="/opt/swift/usr/bin:$PATH"

die() { printf 'experiment.sh: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "an experiment loads BPF programs: run as root"
if ! command -v gnuplot >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    printf '==> installing gnuplot-nox for the plots\n' >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q gnuplot-nox >/dev/null || die "could not install gnuplot-nox (or pass --no-plots)"
  else
    die "gnuplot not found: install it (Debian: apt-get install gnuplot-nox) or pass --no-plots"
  fi
fi

OBJECT=${STARVE_BPF_OBJECT:-$ROOT/bpf/build/starve.bpf.o}
[ -r "$OBJECT" ] || make -C "$ROOT/bpf" >/dev/null || die "cannot build the BPF object (make -C bpf)"

BIN=$(cd "$ROOT" && swift build -c "$CONFIG" --scratch-path "$SCRATCH" --show-bin-path)
if [ ! -x "$BIN/starve-work" ] || [ ! -x "$BIN/starve-dump" ] || [ ! -x "$BIN/starve-load" ]; then
  (cd "$ROOT" && swift build -c "$CONFIG" --scratch-path "$SCRATCH" 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\]' || true)
fi
[ -x "$BIN/starve-work" ] || die "swift build failed"

exec "$BIN/starve-work" experiment --object "$OBJECT" "$@"
