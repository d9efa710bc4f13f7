#!/usr/bin/env bash
# scripts/run.sh — one entry point for starve: build, load, workload, dump, unload, status,
# demo, test, experiment, bench, help. Run `scripts/run.sh help` for details.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PIN_DIR=${PIN_DIR:-/sys/fs/bpf/starve}
BTF_PATH=${BTF_PATH:-/sys/kernel/btf/vmlinux}
CONFIG=${CONFIG:-release}            # swift build configuration for the tools: release or debug
GROUP=${GROUP:-}                     # starve-load --group (readers without root)
DEMO_PIN_DIR=${DEMO_PIN_DIR:-/sys/fs/bpf/starve-demo}
export PATH="/opt/swift/usr/bin:$PATH"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'run.sh: error: %s\n' "$*" >&2; exit 1; }

usage() {
  cat <<'USAGE'
usage: scripts/run.sh COMMAND [ARGS...]

  build        install missing system packages (root, Debian/Ubuntu), build BPF objects and tools
  load         load and pin the collector at $PIN_DIR (root)
  workload     run starve-work (default: 2 workers, nice 0,5, CPU 1, 10 s); ARGS go to starve-work
  dump         run starve-dump on $PIN_DIR; ARGS go to starve-dump (e.g. --iterations 5)
  status       starve-load status for $PIN_DIR
  unload       detach and remove the pins at $PIN_DIR (root)
  demo         the main job on defaults: build, load, nice 0/5/10 workload, 5 samples as a table and
               to assets/demo-samples.csv; then a noisy neighbour and a quota-throttled cgroup:
               per-cgroup verdicts and starvation events with stacks; unload (root; pins at
               $DEMO_PIN_DIR)
  test         install what is needed (the build's packages and gnuplot-nox, util-linux,
               passwd, prometheus, python3-venv, systemd, slurm-wlm, munge, chromium;
               opentelemetry-proto from PyPI in a venv under .build), build, run all tests (root
               for the live BPF tests; STARVE_REQUIRE_BPF=1
               turns their skips into failures); a compile error fails it
  install      release build (static Swift runtime, BPF object embedded), then install the tools,
               man pages, bash/zsh/fish completions and docs under $DESTDIR$PREFIX
               (PREFIX=/usr/local)
  package      build dist/starve_VERSION_ARCH.deb (the same, under /usr; Depends from
               dpkg-shlibdeps)
  package-check  (root) install that .deb where /opt/swift is hidden (a private mount
               namespace), use the tools from /usr/bin, man, completions, then apt-get remove
               and check nothing is left; `test` runs it after the tests
  experiment   run a fair-share experiment (scripts/experiment.sh; ARGS go to it)
  bench        run the overhead benchmark (scripts/bench.sh; ARGS go to it: --quick,
               --churn-only, --churn-processes N, ...; installs perf, bpftrace, rt-tests,
               gnuplot, jq, bc, time)
  help         this text

environment: PIN_DIR (/sys/fs/bpf/starve), BTF_PATH (/sys/kernel/btf/vmlinux), GROUP (readers'
group for load), CONFIG (release|debug), DEMO_PIN_DIR (/sys/fs/bpf/starve-demo)
USAGE
}

# System packages the build needs, by Debian/Ubuntu name.
BUILD_PACKAGES=(libbpf-dev libelf-dev zlib1g-dev pkg-config make)
# What the tests run besides the build's tools, by Debian/Ubuntu name: gnuplot (starve-work
# experiment draws its plots with it: ExperimentLiveTests), setpriv (util-linux: PermissionTests
# runs starve-dump as other users), useradd/groupadd/userdel/groupdel (passwd: PermissionTests
# makes and removes its users and group), prometheus (Prometheus 2.42 and promtool: ExportLiveTests
# scrapes starve-export with a real Prometheus, RulesTests checks and unit-tests the shipped rules),
# python3-venv (the OTLP test's receiver decodes with opentelemetry-proto from PyPI, in a venv),
# systemd (systemd-analyze verify on the shipped units), slurm-wlm and munge (JobsLiveTests start a
# one-node Slurm with scripts/slurm.sh and submit jobs to it), chromium (JobsLiveTests render the
# HTML report headless and check its console), tmux (EverydayViewsTests drives starve-dump top in
# it), man-db and dpkg-dev (the package check: man, dpkg-deb, dpkg-shlibdeps).
TEST_PACKAGES=(gnuplot-nox util-linux passwd prometheus python3-venv systemd slurm-wlm munge chromium tmux man-db dpkg-dev)
# PyPI packages the tests use, in a venv under the build directory ($ROOT/.build/test-venv):
# the official OTLP protobuf bindings (ExportOTLPTests' receiver, scripts/otlp-receiver.py).
TEST_PYTHON_PACKAGES=(opentelemetry-proto==1.45.2)

# What the package build needs besides: dpkg-dev (dpkg-deb, dpkg-shlibdeps) and libcurl's
# development link (Foundation's networking, which starve-export uses, links -lcurl when the
# Swift runtime is static).
PACKAGE_BUILD_PACKAGES=(dpkg-dev libcurl4-openssl-dev)

have_bpf_clang() {
  local c
  for c in /opt/swift/usr/bin/clang clang clang-16 clang-15 clang-14; do
    command -v "$c" >/dev/null 2>&1 && "$c" -print-targets 2>/dev/null | grep -qw bpf && return 0
  done
  return 1
}

# Installs missing packages with apt-get when root on Debian/Ubuntu; otherwise says what to install.
ensure_packages() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
  else
    die "missing packages: ${missing[*]} (install them: sudo apt-get install ${missing[*]})"
  fi
}

ensure_build_deps() {
  command -v dpkg >/dev/null 2>&1 || { say "not a Debian/Ubuntu system: make sure libbpf (>= 1.0), libelf, zlib, pkg-config, bpftool and clang with the BPF target are installed"; return 0; }
  local pkgs=("${BUILD_PACKAGES[@]}")
  command -v bpftool >/dev/null 2>&1 || pkgs+=(bpftool)
  have_bpf_clang || pkgs+=(clang)
  ensure_packages "${pkgs[@]}"
  command -v bpftool >/dev/null 2>&1 || die "bpftool not found (Ubuntu: sudo apt-get install linux-tools-common linux-tools-\$(uname -r))"
  command -v swift >/dev/null 2>&1 || die "swift not found: install Swift 6 (swift.org) and put it on PATH"
}

build_bpf() {
  [ -r "$BTF_PATH" ] || die "no kernel BTF at $BTF_PATH (the kernel needs CONFIG_DEBUG_INFO_BTF=y, or set BTF_PATH)"
  say "building BPF objects"
  make -s -C "$ROOT/bpf" BTF="$BTF_PATH"
}

bin_dir() { (cd "$ROOT" && swift build -c "$CONFIG" --show-bin-path); }

# `swift build ARGS` in $ROOT with its `[n/m]` progress lines left out. The status is swift
# build's own (the filter never fails), so a compile error stops the caller, and its messages
# pass the filter.
swift_build() {
  local rc=0
  (cd "$ROOT" && swift build "$@" 2>&1 | { grep -vE '^\[[0-9]+/[0-9]+\]' || true; }) || rc=$?
  return "$rc"
}

build() {
  ensure_build_deps
  build_bpf
  say "building tools ($CONFIG)"
  swift_build -c "$CONFIG" || die "swift build -c $CONFIG failed (the compiler's messages are above)"
  [ -x "$(bin_dir)/starve-load" ] || die "swift build succeeded but made no starve-load in $(bin_dir)"
}

ensure_built() {
  local bin
  bin=$(bin_dir 2>/dev/null || true)
  if [ -z "$bin" ] || [ ! -x "$bin/starve-load" ] || [ ! -x "$bin/starve-dump" ] || [ ! -x "$bin/starve-work" ] || [ ! -r "$ROOT/bpf/build/starve.bpf.o" ]; then
    build
  fi
  BIN=$(bin_dir)
}

need_root() { [ "$(id -u)" = 0 ] || die "$1 needs root: sudo scripts/run.sh $1"; }

load() {
  need_root load
  ensure_built
  local args=(--pin-dir "$PIN_DIR" --btf "$BTF_PATH")
  [ -n "$GROUP" ] && args+=(--group "$GROUP")
  "$BIN/starve-load" "${args[@]}" "$@"
}

demo() {
  need_root demo
  ensure_built
  local csv="$ROOT/assets/demo-samples.csv"
  rm -f "$csv"
  if [ -e "$DEMO_PIN_DIR" ]; then
    say "removing a demo collection left at $DEMO_PIN_DIR"
    "$BIN/starve-load" unload --pin-dir "$DEMO_PIN_DIR" >/dev/null
  fi
  "$BIN/starve-load" --pin-dir "$DEMO_PIN_DIR" --btf "$BTF_PATH"
  DEMO_WORK_PID=""
  DEMO_QUOTA_PID=""
  demo_cleanup() {
    # starve-work removes its cgroups and workers on SIGTERM.
    for p in $DEMO_WORK_PID $DEMO_QUOTA_PID; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    "$BIN/starve-load" unload --pin-dir "$DEMO_PIN_DIR" >/dev/null 2>&1 || true
  }
  trap demo_cleanup EXIT
  trap 'exit 130' INT TERM
  say "workload: 3 busy workers at nice 0, 5 and 10, all on CPU 1 (expect ~70 / 23 / 7 % by the kernel's weights)"
  "$BIN/starve-work" --workers 3 --nice 0,5,10 --cpu 1 --duration 8 &
  DEMO_WORK_PID=$!
  sleep 0.5
  say "5 samples, 1 s apart (table below; CSV to assets/demo-samples.csv)"
  "$BIN/starve-dump" --pin-dir "$DEMO_PIN_DIR" --interval 1 --iterations 5 --top 8 --output "$csv"
  say "CSV: $csv ($(($(wc -l <"$csv") - 1)) rows); columns: docs/columns.md"
  wait "$DEMO_WORK_PID" 2>/dev/null || true
  DEMO_WORK_PID=""
  say "who starves whom: a CPU hog next to a duty-cycle task in another cgroup, and a cgroup at its CPU quota"
  "$BIN/starve-work" scenario noisy --duration 7 --cpu 0 >/dev/null &
  DEMO_WORK_PID=$!
  "$BIN/starve-work" scenario quota --duration 7 --cpu 1 >/dev/null &
  DEMO_QUOTA_PID=$!
  sleep 1
  say "per cgroup, 5 samples: latency percentiles, who preempted whom, throttling, verdicts, patterns"
  "$BIN/starve-dump" cgroups --pin-dir "$DEMO_PIN_DIR" --interval 1 --iterations 5 --top 6
  say "the starvation events they caused (first 3, with kernel stacks)"
  "$BIN/starve-dump" events --pin-dir "$DEMO_PIN_DIR" --kind starvation --count 3 --duration 2 --frames 4
  wait "$DEMO_WORK_PID" "$DEMO_QUOTA_PID" 2>/dev/null || true
  DEMO_WORK_PID=""
  DEMO_QUOTA_PID=""
  "$BIN/starve-load" status --pin-dir "$DEMO_PIN_DIR" | grep -E "sched_switch events|dropped|missed|starvations|events (written|lost)"
}

# The packages the tests run (TEST_PACKAGES): installed when root; otherwise the tests that need
# them are live tests, which skip without root anyway, so this only says what is missing.
ensure_test_deps() {
  command -v dpkg >/dev/null 2>&1 || { say "not a Debian/Ubuntu system: make sure gnuplot, setpriv (util-linux) and useradd/groupadd (shadow) are installed"; return 0; }
  if [ "$(id -u)" = 0 ]; then
    ensure_packages "${TEST_PACKAGES[@]}"
  else
    local missing=() p
    for p in "${TEST_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] || say "not root: not installing ${missing[*]} (the live tests that use them need root anyway)"
  fi
}

# The tests' Python venv (TEST_PYTHON_PACKAGES), made once under .build.
ensure_test_python() {
  local venv="$ROOT/.build/test-venv" py=python3
  [ -x /usr/bin/python3 ] && py=/usr/bin/python3
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import opentelemetry.proto.collector.metrics.v1.metrics_service_pb2' 2>/dev/null; then
    return 0
  fi
  say "making the tests' Python venv ($venv: ${TEST_PYTHON_PACKAGES[*]})"
  mkdir -p "$ROOT/.build"
  "$py" -m venv "$venv" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
  "$venv/bin/pip" install -q "${TEST_PYTHON_PACKAGES[@]}" || die "pip install ${TEST_PYTHON_PACKAGES[*]} failed"
}

run_tests() {
  ensure_build_deps
  ensure_test_deps
  ensure_test_python
  build_bpf
  say "building the tools and the tests"
  # A build that fails ends here: `swift test --skip-build` below must never run what an
  # earlier build left behind.
  swift_build --build-tests || die "building the tests failed (the compiler's messages are above)"
  if [ "$(id -u)" != 0 ]; then say "not root: the live BPF tests will skip (run as root to include them)"; fi
  say "running the tests"
  cd "$ROOT"
  local rc=0
  swift test --skip-build || rc=$?
  # The install as a user gets it: the .deb on this machine with /opt/swift hidden.
  if [ "$(id -u)" = 0 ]; then
    local start=$SECONDS
    say "package check: build the .deb (${PACKAGE_CONFIG:-release}, static Swift runtime) and install it without Swift"
    ensure_packages "${PACKAGE_BUILD_PACKAGES[@]}"
    bash "$ROOT/scripts/package.sh" check || rc=1
    say "package check took $((SECONDS - start)) s"
  elif [ "${STARVE_REQUIRE_BPF:-}" = 1 ]; then
    say "package check needs root (STARVE_REQUIRE_BPF=1)"; rc=1
  else
    say "not root: skipping the package check"
  fi
  return "$rc"
}

cmd=${1:-help}
[ $# -gt 0 ] && shift
case "$cmd" in
  build) build ;;
  load) load "$@" ;;
  workload) ensure_built; if [ $# -eq 0 ]; then set -- --workers 2 --nice 0,5 --cpu 1 --duration 10; fi; "$BIN/starve-work" "$@" ;;
  dump) ensure_built; "$BIN/starve-dump" --pin-dir "$PIN_DIR" "$@" ;;
  status) ensure_built; "$BIN/starve-load" status --pin-dir "$PIN_DIR" "$@" ;;
  unload) need_root unload; ensure_built; "$BIN/starve-load" unload --pin-dir "$PIN_DIR" "$@" ;;
  demo) demo ;;
  test) run_tests ;;
  install) ensure_build_deps; ensure_packages libcurl4-openssl-dev; build_bpf; exec bash "$ROOT/scripts/package.sh" install ;;
  package) ensure_build_deps; ensure_packages "${PACKAGE_BUILD_PACKAGES[@]}"; build_bpf; exec bash "$ROOT/scripts/package.sh" package ;;
  package-check) need_root package-check; ensure_build_deps; ensure_packages "${PACKAGE_BUILD_PACKAGES[@]}" man-db; exec bash "$ROOT/scripts/package.sh" check "$@" ;;
  experiment) ensure_built; exec "$ROOT/scripts/experiment.sh" "$@" ;;
  bench)
    need_root bench
    # The peers and the plotting: perf, bpftrace, hackbench, gnuplot, jq; bc and /usr/bin/time,
    # which bench.sh's arithmetic and its starve-dump CPU figure use.
    command -v dpkg >/dev/null 2>&1 && ensure_packages linux-perf bpftrace rt-tests gnuplot-nox jq bc time
    ensure_built; exec "$ROOT/scripts/bench.sh" "$@" ;;
  help|-h|--help) usage ;;
  *) usage >&2; die "unknown command: $cmd" ;;
esac
