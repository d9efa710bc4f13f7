#!/usr/bin/env bash
# progcost.sh - in-program cost of BPF objects, interleaved: for working the hot path down.
#
#   sudo scripts/bench/progcost.sh [--rounds N] [--loops L] OBJ.bpf.o [OBJ2.bpf.o ...]
#
# Each round loads every object in turn with starve-load (its own pin dir), runs
# `taskset -c 1 perf bench sched pipe -l L` with kernel.bpf_stats_enabled=1, and prints per program
# run_cnt and ns/event, plus the pipe's extra ns/switch against a nothing-attached run taken just
# before (pipe times are best of 3). The sysctl is restored and everything unloaded on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LOAD=${STARVE_LOAD:-$ROOT/.build-bench/release/starve-load}
ROUNDS=3 LOOPS=200000
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift ;;
	--loops) LOOPS=$2; shift ;;
	*) break ;;
	esac
	shift
done
[ $# -ge 1 ] || { echo "usage: $0 [--rounds N] [--loops L] OBJ..." >&2; exit 2; }
[ -x "$LOAD" ] || LOAD=$ROOT/.build-bench/debug/starve-load
PIN=/sys/fs/bpf/starve-bench-pc-$$
SAVED=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
	set +e
	[ -d "$PIN" ] && "$LOAD" unload --pin-dir "$PIN" >/dev/null
	sysctl -qw kernel.bpf_stats_enabled="$SAVED"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Best of 3: whatever else runs on CPU 1 only ever adds time.
pipe_secs() {
	for _ in 1 2 3; do taskset -c 1 perf bench sched pipe -l "$LOOPS" | awk '/Total time:/ { print $3 }'; done | sort -g | head -1
}
for ((r = 0; r < ROUNDS; r++)); do
	sysctl -qw kernel.bpf_stats_enabled=0
	for obj in "$@"; do
		t0=$(pipe_secs) # paired: nothing attached, just before
		before=$(bpftool prog show -j | jq -r '.[].id' | sort)
		"$LOAD" --pin-dir "$PIN" --object "$obj" >/dev/null
		ids=$(comm -13 <(echo "$before") <(bpftool prog show -j | jq -r '.[].id' | sort) | paste -sd,)
		t1=$(pipe_secs) # stats off: end to end
		sysctl -qw kernel.bpf_stats_enabled=1
		snap() { bpftool prog show -j | jq -r --arg ids "$ids" '($ids | split(",") | map(tonumber)) as $w
			| .[] | select(.id as $i | $w | index($i)) | "\(.id) \(.name) \(.run_cnt // 0) \(.run_time_ns // 0)"' | sort; }
		s0=$(snap)
		pipe_secs >/dev/null
		s1=$(snap)
		sysctl -qw kernel.bpf_stats_enabled=0
		"$LOAD" unload --pin-dir "$PIN" >/dev/null
		extra=$(echo "($t1 - $t0) * 1000000000 / (2 * $LOOPS)" | bc -l)
		printf 'round %d %-28s e2e +%6.1f ns/switch  ' "$r" "$(basename "$obj")" "$extra"
		join <(echo "$s0") <(echo "$s1") | awk '{ n = $6 - $3; printf "%s %d@%.1fns  ", $2, n, n ? ($7 - $4) / n : 0 } END { print "" }'
	done
done
