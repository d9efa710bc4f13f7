#!/usr/bin/env bash
# pairedcost.sh - in-program cost of several BPF objects on the benchmark's workloads: for A/B
# work on the hot path on a noisy machine.
#
#   sudo scripts/bench/pairedcost.sh [--rounds N] [--workloads "messaging hackbench pipe"] [--bpftrace] [--alone] A.bpf.o B.bpf.o ...
#
# By default every object is loaded at once (its own pin dir under
# /sys/fs/bpf/starve-bench-pc-<pid>-<i>; the load order rotates each round), so that every
# workload run, and whatever else the machine does meanwhile, hits all of them alike: differences
# between objects are then much steadier than between runs taken one after the other (on this VM
# a load average of 10-40 from other builds moves a lone run's figures by 20-50 %). But a program
# that runs after another on the same event finds the task's storage pointers, its sched_info and
# more warm, and reads far cheaper than alone (a starve switch program: ~225 ns per switch under
# messaging beside others, ~560 alone in the same hour). --alone loads one at a time instead, the
# order rotating each round: what each costs with nobody warming its lines (the issue's figure).
# With --bpftrace, bpftrace's runqlat (scripts/bench/runqlat.bt) is one more member, found by the
# program fds it holds. With kernel.bpf_stats_enabled=1 each workload runs once per round (and
# member, with --alone); per member and run it prints each program's ns/event x events/switch =
# ns/switch and the total ns per switch (switches: the run's /proc/stat ctxt delta). The sysctl
# is restored and everything unloaded (bpftrace stopped) on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LOAD=${STARVE_LOAD:-$ROOT/.build-bench/release/starve-load}
ROUNDS=4 WORKLOADS="messaging hackbench pipe" MSG_LOOPS=400 HB_LOOPS=250 PIPE_LOOPS=50000 BPFTRACE=0 ALONE=0
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift ;;
	--workloads) WORKLOADS=$2; shift ;;
	--bpftrace) BPFTRACE=1 ;;
	--alone) ALONE=1 ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) echo "pairedcost.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
[ $# -ge 1 ] || { echo "usage: $0 [--rounds N] [--workloads LIST] OBJ.bpf.o..." >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "pairedcost.sh: must run as root" >&2; exit 1; }
[ -x "$LOAD" ] || LOAD=$ROOT/.build-bench/debug/starve-load
[ -x "$LOAD" ] || { echo "pairedcost.sh: no starve-load in .build-bench (run scripts/bench.sh once, or set STARVE_LOAD)" >&2; exit 1; }
for o in "$@"; do [ -r "$o" ] || { echo "pairedcost.sh: cannot read $o" >&2; exit 1; }; done
PIN=/sys/fs/bpf/starve-bench-pc-$$
SAVED=$(sysctl -n kernel.bpf_stats_enabled)
TMP=$(mktemp -d /tmp/starve-pairedcost.XXXXXX)
BT_PID=
[ "$BPFTRACE" = 0 ] || command -v bpftrace >/dev/null || { echo "pairedcost.sh: --bpftrace needs bpftrace (Debian: bpftrace)" >&2; exit 1; }
stop_bpftrace() {
	[ -n "$BT_PID" ] || return 0
	kill -INT "$BT_PID" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$BT_PID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$BT_PID" 2>/dev/null || true
	wait "$BT_PID" 2>/dev/null || true
	BT_PID=
}
cleanup() {
	set +e
	stop_bpftrace
	for d in "$PIN"-*; do [ -d "$d" ] && "$LOAD" unload --pin-dir "$d" >/dev/null; done
	sysctl -qw kernel.bpf_stats_enabled="$SAVED"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ctxt() { awk '/^ctxt/ { print $2 }' /proc/stat; }
run_workload() {
	case $1 in
	pipe) taskset -c 1 perf bench sched pipe -l "$PIPE_LOOPS" >/dev/null 2>&1 ;;
	messaging) perf bench sched messaging -g 4 -l "$MSG_LOOPS" >/dev/null 2>&1 ;;
	hackbench) hackbench -p -T -g 4 -l "$HB_LOOPS" >/dev/null 2>&1 ;;
	*) echo "pairedcost.sh: unknown workload $1" >&2; exit 2 ;;
	esac
}
stats_of() { # $1 ids (comma-separated), $2 bpftool json -> "id name run_cnt run_time_ns", sorted
	jq -r --arg ids "$1" '($ids | split(",") | map(tonumber)) as $w | .[] | select(.id as $x | $w | index($x))
		| "\(.id) \(.name) \(.run_cnt // 0) \(.run_time_ns // 0)"' "$2" | sort
}
sysctl -qw kernel.bpf_stats_enabled=1
objs=("$@") n=$#
# Member i of a group: an object (i < n), or bpftrace (i = n). Loads them, runs every workload,
# prints a line per member and run, unloads them.
run_group() { # $1 round, $2... members
	local r=$1 i t w
	shift
	ids=() names=()
	for i in "$@"; do
		if [ "$i" -lt "$n" ]; then
			"$LOAD" --pin-dir "$PIN-$i" --object "${objs[$i]}" >/dev/null
			ids[$i]=$(for f in "$PIN-$i"/links/*; do bpftool link show pinned "$f" -j | jq -r .prog_id; done | paste -sd,)
			names[$i]=$(basename "${objs[$i]}")
			continue
		fi
		bpftrace "$ROOT/scripts/bench/runqlat.bt" >"$TMP/bpftrace.log" 2>&1 &
		BT_PID=$!
		for t in $(seq 300); do
			grep -q "Tracing CPU scheduler" "$TMP/bpftrace.log" && break
			kill -0 "$BT_PID" 2>/dev/null || { echo "pairedcost.sh: bpftrace exited: $(tail -3 "$TMP/bpftrace.log")" >&2; exit 1; }
			[ "$t" -lt 300 ] || { echo "pairedcost.sh: bpftrace did not start" >&2; exit 1; }
			sleep 0.1
		done
		ids[$i]=$(cat /proc/"$BT_PID"/fdinfo/* 2>/dev/null | awk '/^prog_id:/ { print $2 }' | sort -u | paste -sd,)
		[ -n "${ids[$i]}" ] || { echo "pairedcost.sh: found no program of bpftrace's" >&2; exit 1; }
		names[$i]=bpftrace-runqlat
	done
	for w in $WORKLOADS; do
		bpftool prog show -j >"$TMP/before.json"
		c0=$(ctxt)
		run_workload "$w"
		c1=$(ctxt)
		bpftool prog show -j >"$TMP/after.json"
		for i in "$@"; do
			stats_of "${ids[$i]}" "$TMP/before.json" >"$TMP/a"
			stats_of "${ids[$i]}" "$TMP/after.json" >"$TMP/b"
			printf 'round %d  %-10s %-24s ' "$r" "$w" "${names[$i]}"
			join "$TMP/a" "$TMP/b" | awk -v sw=$((c1 - c0)) '{ c = $6 - $3; t = $7 - $4; total += t
				if (c) printf "%s %.0f x %.3f = %.0f  ", $2, t / c, c / sw, t / sw }
				END { printf "| total %.0f ns/switch (%d switches)\n", total / sw, sw }'
		done
	done
	for i in "$@"; do [ "$i" -lt "$n" ] && "$LOAD" unload --pin-dir "$PIN-$i" >/dev/null; done
	stop_bpftrace
}
members=$n
[ "$BPFTRACE" = 0 ] || members=$((n + 1))
for ((r = 0; r < ROUNDS; r++)); do
	order=()
	for ((k = 0; k < members; k++)); do order+=($(((k + r) % members))); done
	if [ "$ALONE" = 1 ]; then
		for i in "${order[@]}"; do run_group "$r" "$i"; done
	else
		run_group "$r" "${order[@]}"
	fi
done
