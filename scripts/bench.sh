#!/usr/bin/env bash
# bench.sh - starve's overhead benchmark against the empty program and its peers (issue #6).
#
#   sudo scripts/bench.sh            # full run, <= 10 min; writes assets/bench/
#   sudo scripts/bench.sh --quick    # CI-ish run, < 2 min; writes assets/bench/quick/
#
# One run measures, interleaved so that drift cancels (each attached run paired with a
# nothing-attached run just before it, the order of conditions rotating each round; figures are
# medians over rounds, with min and max):
#   conditions  none | floor (empty tp_btf program) | starve (default config) |
#               bpftrace runqlat.bt | perf sched record
#   workloads   pipe       taskset -c 1 perf bench sched pipe -l N  (2 switches per loop, one CPU)
#               messaging  perf bench sched messaging (sockets, processes)
#               hackbench  hackbench -p -T (pipes, threads)
# then, apart (they would disturb the timing): per-program ns/event from kernel.bpf_stats_enabled,
# starve-dump's read+analysis cost on synthetic maps of 1k/10k/100k threads (starve-bench dump),
# and starve-dump's CPU use at --interval 1 on a busy host. docs/overhead.md explains each figure.
#
# Options: --quick, --rounds N, --out DIR, --no-build, --keep-raw. Needs root, bpftool, perf,
# bpftrace, hackbench, gnuplot, jq. Pins only under /sys/fs/bpf/starve-bench-<pid>-*, removed on
# exit, whatever happens; kernel.bpf_stats_enabled is restored.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=${STARVE_BENCH_SCRATCH:-$ROOT/.build-bench}
QUICK=0 ROUNDS="" OUT="" BUILD=1 KEEP_RAW=0
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--rounds) ROUNDS=$2; shift ;;
	--out) OUT=$2; shift ;;
	--no-build) BUILD=0 ;;
	--keep-raw) KEEP_RAW=1 ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done

if [ "$QUICK" = 1 ]; then
	ROUNDS=${ROUNDS:-3} PIPE_LOOPS=50000 PIPE_REPS=3 MSG_LOOPS=400 HB_LOOPS=250 STATS_ROUNDS=1 DUMP_REPEAT=3 BUSY_SAMPLES=4
	OUT=${OUT:-$ROOT/assets/bench/quick}
else
	ROUNDS=${ROUNDS:-9} PIPE_LOOPS=100000 PIPE_REPS=3 MSG_LOOPS=1000 HB_LOOPS=500 STATS_ROUNDS=3 DUMP_REPEAT=7 BUSY_SAMPLES=10
	OUT=${OUT:-$ROOT/assets/bench}
fi
WORKLOADS=(pipe messaging hackbench)

die() { echo "bench.sh: $*" >&2; exit 1; }
say() { echo "bench.sh: $*" >&2; }
[ "$(id -u)" = 0 ] || die "must run as root (loads BPF programs, runs perf sched record)"
for tool in bpftool perf bpftrace hackbench gnuplot jq taskset; do
	command -v $tool >/dev/null || die "$tool not found (Debian: bpftool linux-perf bpftrace rt-tests gnuplot-nox jq)"
done
[ "$(nproc)" -ge 2 ] || die "needs 2+ CPUs (pipe is pinned to CPU 1)"

TMP=$(mktemp -d /tmp/starve-bench.XXXXXX)
PIN_BASE=/sys/fs/bpf/starve-bench-$$
STATS_SAVED=$(sysctl -n kernel.bpf_stats_enabled)
BG_PIDS=()
# Stops one process we started: SIGINT (bpftrace and perf finish their output on it), then
# SIGTERM and SIGKILL if it lingers.
stop_pid() {
	local p=$1 i
	kill -INT "$p" 2>/dev/null || return 0
	for sig in TERM KILL; do
		for ((i = 0; i < 100; i++)); do kill -0 "$p" 2>/dev/null || break 2; sleep 0.1; done
		kill -$sig "$p" 2>/dev/null
	done
	wait "$p" 2>/dev/null || true
}
cleanup() {
	set +e
	for p in "${BG_PIDS[@]}"; do [ -n "$p" ] && stop_pid "$p"; done
	for d in "$PIN_BASE"-*; do
		[ -d "$d" ] && "$LOAD" unload --pin-dir "$d" >/dev/null
	done
	sysctl -qw kernel.bpf_stats_enabled="$STATS_SAVED"
	if [ "$KEEP_RAW" = 1 ]; then say "raw files kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build --------------------------------------------------------------------------------------
# Release builds: what users run, and what the dump-cost figures are about.
if [ "$BUILD" = 1 ]; then
	say "building (make -C bpf; swift build -c release --scratch-path $SCRATCH)"
	make -s -C "$ROOT/bpf" >&2
	for product in starve-load starve-dump starve-bench; do
		(cd "$ROOT" && swift build -c release --scratch-path "$SCRATCH" --product $product >&2)
	done
fi
BIN=$SCRATCH/release
LOAD=$BIN/starve-load DUMP=$BIN/starve-dump BENCH=$BIN/starve-bench
STARVE_OBJ=$ROOT/bpf/build/starve.bpf.o FLOOR_OBJ=$ROOT/bpf/build/floor.bpf.o
for f in "$LOAD" "$DUMP" "$BENCH" "$STARVE_OBJ" "$FLOOR_OBJ"; do [ -e "$f" ] || die "missing $f (drop --no-build)"; done

mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
ulimit -l unlimited 2>/dev/null || true   # bpftrace on old kernels; memcg accounting makes it moot on 5.11+

# --- conditions ---------------------------------------------------------------------------------
COND_PID=""
start_condition() { # $1 condition
	local c=$1
	COND_PID=""
	case $c in
	none) ;;
	floor) "$LOAD" --pin-dir "$PIN_BASE-floor" --object "$FLOOR_OBJ" >/dev/null ;;
	starve) "$LOAD" --pin-dir "$PIN_BASE-starve" --object "$STARVE_OBJ" >/dev/null ;;
	bpftrace)
		bpftrace "$ROOT/scripts/bench/runqlat.bt" >"$TMP/bpftrace.log" 2>&1 &
		COND_PID=$!
		BG_PIDS+=("$COND_PID")
		local i=0
		until grep -q "Tracing CPU scheduler" "$TMP/bpftrace.log"; do
			i=$((i + 1)); [ $i -lt 300 ] || die "bpftrace did not start: $(tail -3 "$TMP/bpftrace.log")"
			kill -0 "$COND_PID" 2>/dev/null || die "bpftrace exited: $(tail -3 "$TMP/bpftrace.log")"
			sleep 0.1
		done ;;
	perf-sched)
		perf sched record -o "$TMP/perf.data" >"$TMP/perf.log" 2>&1 &
		COND_PID=$!
		BG_PIDS+=("$COND_PID")
		local i=0
		until [ -s "$TMP/perf.data" ]; do
			i=$((i + 1)); [ $i -lt 300 ] || die "perf sched record did not start: $(tail -3 "$TMP/perf.log")"
			kill -0 "$COND_PID" 2>/dev/null || die "perf sched record exited: $(tail -3 "$TMP/perf.log")"
			sleep 0.1
		done
		sleep 0.3 ;; # the file appears before every CPU's buffer is mmapped
	esac
	sleep 0.2
}
stop_condition() { # $1 condition
	case $1 in
	floor|starve) "$LOAD" unload --pin-dir "$PIN_BASE-$1" >/dev/null ;;
	bpftrace|perf-sched)
		stop_pid "$COND_PID"
		local kept=()
		for p in "${BG_PIDS[@]}"; do [ "$p" != "$COND_PID" ] && kept+=("$p"); done
		BG_PIDS=("${kept[@]+"${kept[@]}"}")
		rm -f "$TMP/perf.data" "$TMP/perf.data.old" ;;
	esac
}

# --- workloads: print "<seconds> <switches>" ----------------------------------------------------
ctxt() { awk '/^ctxt/ { print $2 }' /proc/stat; }
run_workload() { # $1 workload
	local out a b
	a=$(ctxt)
	case $1 in
	pipe) out=$(taskset -c 1 perf bench sched pipe -l "$PIPE_LOOPS" 2>&1) ;;
	messaging) out=$(perf bench sched messaging -g 2 -l "$MSG_LOOPS" 2>&1) ;;
	hackbench) out=$(hackbench -p -T -g 4 -l "$HB_LOOPS" 2>&1) ;;
	esac
	b=$(ctxt)
	local secs
	secs=$(echo "$out" | awk '/Total time:/ { print $3 } /^Time:/ { print $2 }')
	[ -n "$secs" ] || die "$1 printed no time: $out"
	echo "$secs $((b - a))"
}

# --- phase 1: end-to-end, interleaved -----------------------------------------------------------
# This VM drifts by tens of percent over seconds (steal time, neighbours), so every attached run is
# paired with a nothing-attached run taken just before it, and the order of conditions rotates
# each round. pipe is best of PIPE_REPS (interference only ever adds time).
RAW=$TMP/e2e.csv
echo "round,position,condition,pair,workload,seconds,switches" >"$RAW"
measure() { # $1 round, $2 position, $3 condition, $4 pair
	local w secs sw best bsw k
	for w in "${WORKLOADS[@]}"; do
		best="" bsw=""
		for ((k = 0; k < $([ "$w" = pipe ] && echo "$PIPE_REPS" || echo 1); k++)); do
			read -r secs sw < <(run_workload "$w")
			if [ -z "$best" ] || [ "$(echo "$secs < $best" | bc -l)" = 1 ]; then best=$secs bsw=$sw; fi
		done
		echo "$1,$2,$3,$4,$w,$best,$bsw" >>"$RAW"
	done
}
PEERS=(floor starve bpftrace perf-sched)
say "phase 1: $ROUNDS rounds x ${#PEERS[@]} conditions (each paired with a nothing-attached run) x ${#WORKLOADS[@]} workloads (pipe -l $PIPE_LOOPS, best of $PIPE_REPS)"
for ((r = 0; r < ROUNDS; r++)); do
	n=${#PEERS[@]}
	for ((k = 0; k < n; k++)); do
		c=${PEERS[$(((k + r) % n))]}
		measure "$r" "$k" none "$c"
		start_condition "$c"
		measure "$r" "$k" "$c" "$c"
		stop_condition "$c"
	done
	say "  round $((r + 1))/$ROUNDS done"
done

# --- phase 2: per-program cost from bpf_stats ---------------------------------------------------
# Programs a condition added are the ids that appear after it starts; their run_cnt/run_time_ns
# are read before and after one pipe and one hackbench run.
PROGS=$TMP/progs.csv
echo "round,condition,program,run_cnt,run_time_ns" >"$PROGS"
prog_ids() { bpftool prog show -j | jq -r '.[].id' | sort; } # sorted as comm(1) wants
prog_stats() { # ids... -> "id name run_cnt run_time_ns"
	local ids
	ids=$(printf '%s,' "$@")
	bpftool prog show -j | jq -r --arg ids "${ids%,}" '($ids | split(",") | map(tonumber)) as $want
		| .[] | select(.id as $i | $want | index($i)) | "\(.id) \(.name // "?") \(.run_cnt // 0) \(.run_time_ns // 0)"'
}
say "phase 2: per-program ns/event (kernel.bpf_stats_enabled=1, restored after)"
sysctl -qw kernel.bpf_stats_enabled=1
for ((r = 0; r < STATS_ROUNDS; r++)); do
	for c in floor starve bpftrace; do
		before_ids=$(prog_ids)
		start_condition "$c"
		new_ids=$(comm -13 <(echo "$before_ids") <(prog_ids) | tr '\n' ' ')
		[ -n "$new_ids" ] || die "no new BPF programs seen for $c"
		# shellcheck disable=SC2086
		prog_stats $new_ids | sort >"$TMP/s0"
		run_workload pipe >/dev/null
		run_workload hackbench >/dev/null
		# shellcheck disable=SC2086
		prog_stats $new_ids | sort >"$TMP/s1"
		# Names keep out programs someone else loaded meanwhile (bpftrace names its by probe).
		join "$TMP/s0" "$TMP/s1" | awk -v r="$r" -v c="$c" '
			(c == "floor" && $2 !~ /^floor_/) || (c == "starve" && $2 !~ /^starve_/) { next }
			c == "bpftrace" && $2 ~ /^(floor|starve)_/ { next }
			{ print r "," c "," $2 "," ($6 - $3) "," ($7 - $4) }' >>"$PROGS"
		stop_condition "$c"
	done
done
sysctl -qw kernel.bpf_stats_enabled="$STATS_SAVED"

# --- phase 3: starve-dump's read + analysis cost on synthetic maps ------------------------------
say "phase 3: starve-dump read+analysis at 1k/10k/100k entries"
"$BENCH" dump --entries 1000,10000,100000 --repeat "$DUMP_REPEAT" --pin-dir "$PIN_BASE-dump" >"$TMP/dump.csv"
# The kernel's side of a real read: the tasks iterator walking live threads (10k parked).
"$BENCH" iter --threads 0,10000 --repeat "$DUMP_REPEAT" --pin-dir "$PIN_BASE-iter" --object "$STARVE_OBJ" >"$TMP/iter.csv"

# --- phase 4: starve-dump CPU at --interval 1 on a busy host -----------------------------------
say "phase 4: starve-dump --interval 1 for $BUSY_SAMPLES samples on a busy host"
start_condition starve
(while [ ! -e "$TMP/stop-busy" ]; do hackbench -p -T -g 4 -l 300 >/dev/null 2>&1; done) &
BUSY=$!
BG_PIDS+=("$BUSY")
TIMEFMT="%e %U %S"
/usr/bin/time -f "$TIMEFMT" -o "$TMP/dumptime" "$DUMP" --pin-dir "$PIN_BASE-starve" --interval 1 \
	--iterations "$BUSY_SAMPLES" --format table >"$TMP/dumpout"
tracked=$(awk '/tasks tracked/ { for (i = 1; i <= NF; i++) if ($(i + 1) == "tasks" && $(i + 2) == "tracked,") n = $i } END { print n }' "$TMP/dumpout")
touch "$TMP/stop-busy"   # the loop ends after its current hackbench: nothing left behind
wait "$BUSY" 2>/dev/null || true
BG_PIDS=("${BG_PIDS[@]/$BUSY}")
stop_condition starve
read -r wall user sys <"$TMP/dumptime"
echo "samples,wall_s,user_s,sys_s,tracked" >"$TMP/dumpcpu.csv"
echo "$BUSY_SAMPLES,$wall,$user,$sys,${tracked:-0}" >>"$TMP/dumpcpu.csv"

# --- report -------------------------------------------------------------------------------------
mkdir -p "$OUT"
cp "$RAW" "$OUT/e2e-raw.csv"
cp "$PROGS" "$OUT/progs-raw.csv"
cp "$TMP/dump.csv" "$OUT/dump-cost.csv"
cp "$TMP/dumpcpu.csv" "$OUT/dump-cpu.csv"
cp "$TMP/iter.csv" "$OUT/iter-cost.csv"
"$BENCH" report --dir "$OUT" --mode "$([ "$QUICK" = 1 ] && echo quick || echo full)" \
	--rounds "$ROUNDS" --pipe-loops "$PIPE_LOOPS" --msg-loops "$MSG_LOOPS" --hb-loops "$HB_LOOPS"
gnuplot -e "dir='$OUT'" "$ROOT/scripts/bench/plot.gp"
say "wrote $OUT/{summary.csv,e2e-raw.csv,progs-raw.csv,dump-cost.csv,dump-cpu.csv,iter-cost.csv,results.md,overhead.png}"
