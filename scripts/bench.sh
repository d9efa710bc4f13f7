#!/usr/bin/env bash
# bench.sh - starve's overhead benchmark against the empty program and its peers (issues #6, #11).
#
#   sudo scripts/bench.sh               # full run, about 8-12 min (estimate); writes assets/bench/
#   sudo scripts/bench.sh --quick       # CI-ish run, about 2 min; writes assets/bench/quick/
#   sudo scripts/bench.sh --churn-only  # phase 5 alone; writes assets/bench/churn/ (quick: quick/churn/)
#
# Workloads: messaging  perf bench sched messaging -g 4 -l L (160 processes on sockets: saturating)
#            hackbench  hackbench -p -T -g 4 -l L (160 threads on pipes: saturating)
#            pipe       taskset -c 1 perf bench sched pipe -l N (2 tasks ping-pong on one CPU)
# Phases:
#   1 end to end, interleaved so that drift cancels (each attached run paired with a
#     nothing-attached run just before it, the order of conditions rotating each round; medians
#     over rounds, with min and max): conditions none | floor (empty tp_btf program) | starve
#     (default config) | bpftrace runqlat.bt | perf sched record, on each workload.
#   2 in-program ns per switch (kernel.bpf_stats_enabled=1): for floor, storage (the floor of any
#     per-thread design: a task-storage lookup per switch and an empty sched_waking program,
#     bpf/floor_storage.bpf.c), starve and bpftrace, each alone, each workload run alone under it:
#     the run_time_ns its programs gained / the run's /proc/stat ctxt delta, STATS_ROUNDS times;
#     per program ns/event and events per switch.
#   3 starve-dump's read+analysis cost on synthetic maps of 1k/10k/100k threads, and the live
#     tasks iterator (starve-bench dump, iter).
#   4 starve-dump's CPU use at --interval 1 on a busy host.
#   5 churn: starve loaded, one busy loop per CPU, N short-lived processes (vfork'd children that
#     burn 20 µs each, from 2 forkers: starve-work churn): processes per second, map fill and the drop/eviction counters
#     of starve-load status, starve's in-program cost, and starve-dump's reader time before and after.
# docs/overhead.md explains each figure.
#
# Options: --quick, --rounds N (phase 1; default 9, quick 3), --stats-rounds N (phase 2; default
# 5, quick 3), --churn-processes N (phase 5; default 100000, quick 20000), --churn-only, --out DIR,
# --no-build, --keep-raw. Needs root, bpftool, perf, bpftrace, hackbench, gnuplot, jq, bc,
# /usr/bin/time. Pins only under /sys/fs/bpf/starve-bench-<pid>-*, removed on exit, whatever
# happens; every process it started is stopped; kernel.bpf_stats_enabled is restored.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRATCH=${STARVE_BENCH_SCRATCH:-$ROOT/.build-bench}
QUICK=0 ROUNDS="" STATS_ROUNDS="" CHURN_PROCS="" CHURN_ONLY=0 OUT="" BUILD=1 KEEP_RAW=0
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--rounds) ROUNDS=$2; shift ;;
	--stats-rounds) STATS_ROUNDS=$2; shift ;;
	--churn-processes) CHURN_PROCS=$2; shift ;;
	--churn-only) CHURN_ONLY=1 ;;
	--out) OUT=$2; shift ;;
	--no-build) BUILD=0 ;;
	--keep-raw) KEEP_RAW=1 ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
	esac
	shift
done
for v in "$ROUNDS" "$STATS_ROUNDS" "$CHURN_PROCS"; do
	case $v in ''|[1-9]|[1-9][0-9]*) ;; *) echo "bench.sh: counts must be positive integers, not '$v'" >&2; exit 2 ;; esac
done

CHURN_DIR="" MODE=full
if [ "$CHURN_ONLY" = 1 ]; then CHURN_DIR=/churn; fi
if [ "$QUICK" = 1 ]; then
	MODE=quick
	ROUNDS=${ROUNDS:-3} STATS_ROUNDS=${STATS_ROUNDS:-3} CHURN_PROCS=${CHURN_PROCS:-20000}
	PIPE_LOOPS=50000 PIPE_REPS=3 MSG_LOOPS=400 HB_LOOPS=250 DUMP_REPEAT=3 BUSY_SAMPLES=4 READER_REPEAT=3
	OUT=${OUT:-$ROOT/assets/bench/quick$CHURN_DIR}
else
	ROUNDS=${ROUNDS:-9} STATS_ROUNDS=${STATS_ROUNDS:-5} CHURN_PROCS=${CHURN_PROCS:-100000}
	PIPE_LOOPS=100000 PIPE_REPS=3 MSG_LOOPS=400 HB_LOOPS=500 DUMP_REPEAT=7 BUSY_SAMPLES=10 READER_REPEAT=5
	OUT=${OUT:-$ROOT/assets/bench$CHURN_DIR}
fi
CHURN_FORKERS=2 READER_INTERVAL=0.2
WORKLOADS=(messaging hackbench pipe) # saturated first, as the report shows them

die() { echo "bench.sh: $*" >&2; exit 1; }
say() { echo "bench.sh: $*" >&2; }
[ "$(id -u)" = 0 ] || die "must run as root (loads BPF programs, runs perf sched record)"
for tool in bpftool perf bpftrace hackbench gnuplot jq taskset bc /usr/bin/time; do
	command -v $tool >/dev/null || die "$tool not found (Debian: bpftool linux-perf bpftrace rt-tests gnuplot-nox jq bc time)"
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
# Drops a pid from BG_PIDS once it is gone (a stale pid could be reused by someone else's process).
forget_pid() {
	local kept=() p
	for p in "${BG_PIDS[@]}"; do [ "$p" != "$1" ] && kept+=("$p"); done
	BG_PIDS=("${kept[@]+"${kept[@]}"}")
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
# Release builds: what users run, and what the dump-cost figures are about. starve-work makes the
# churn phase's busy loops.
if [ "$BUILD" = 1 ]; then
	say "building (make -C bpf; swift build -c release --scratch-path $SCRATCH)"
	make -s -C "$ROOT/bpf" >&2
	for product in starve-load starve-dump starve-bench starve-work; do
		(cd "$ROOT" && swift build -c release --scratch-path "$SCRATCH" --product $product >&2)
	done
fi
BIN=$SCRATCH/release
LOAD=$BIN/starve-load DUMP=$BIN/starve-dump BENCH=$BIN/starve-bench WORK=$BIN/starve-work
STARVE_OBJ=$ROOT/bpf/build/starve.bpf.o FLOOR_OBJ=$ROOT/bpf/build/floor.bpf.o STORAGE_OBJ=$ROOT/bpf/build/floor_storage.bpf.o
for f in "$LOAD" "$DUMP" "$BENCH" "$WORK" "$STARVE_OBJ" "$FLOOR_OBJ" "$STORAGE_OBJ"; do [ -e "$f" ] || die "missing $f (drop --no-build)"; done

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
	storage) "$LOAD" --pin-dir "$PIN_BASE-storage" --object "$STORAGE_OBJ" >/dev/null ;;
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
	floor|storage|starve) "$LOAD" unload --pin-dir "$PIN_BASE-$1" >/dev/null ;;
	bpftrace|perf-sched)
		stop_pid "$COND_PID"
		forget_pid "$COND_PID"
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
	messaging) out=$(perf bench sched messaging -g 4 -l "$MSG_LOOPS" 2>&1) ;;
	hackbench) out=$(hackbench -p -T -g 4 -l "$HB_LOOPS" 2>&1) ;;
	esac
	b=$(ctxt)
	local secs
	secs=$(echo "$out" | awk '/Total time:/ { print $3 } /^Time:/ { print $2 }')
	[ -n "$secs" ] || die "$1 printed no time: $out"
	echo "$secs $((b - a))"
}

# --- BPF program ids and their bpf_stats -------------------------------------------------------
prog_ids() { bpftool prog show -j | jq -r '.[].id' | sort; } # sorted as comm(1) wants
prog_stats() { # ids... -> "id name run_cnt run_time_ns"
	local ids
	ids=$(printf '%s,' "$@")
	bpftool prog show -j | jq -r --arg ids "${ids%,}" '($ids | split(",") | map(tonumber)) as $want
		| .[] | select(.id as $i | $want | index($i)) | "\(.id) \(.name // "?") \(.run_cnt // 0) \(.run_time_ns // 0)"'
}
# The programs behind the links pinned under a pin dir (links/* and the tasks iterator).
pinned_prog_ids() { # $1 pin dir
	local f
	for f in "$1"/links/* "$1"/tasks; do
		[ -e "$f" ] && bpftool link show pinned "$f" -j | jq -r '.prog_id'
	done
	return 0
}
# A condition's programs: other engineers' tests may load starve collections on this machine at
# any time, so only ids that appeared after the condition started and that belong to it: the
# programs of the links pinned under its pin dir (floor, starve), or those whose fds bpftrace
# holds (/proc/PID/fdinfo). Names are checked once more when the figures are taken.
condition_prog_ids() { # $1 condition, $2 the ids before it started (from prog_ids)
	local mine
	case $1 in
	floor|storage|starve) mine=$(pinned_prog_ids "$PIN_BASE-$1") ;;
	bpftrace)
		mine=$(cat /proc/"$COND_PID"/fdinfo/* 2>/dev/null | awk '/^prog_id:/ { print $2 }')
		# Attached through perf events, bpftrace may hold no program fd of its own: then the
		# programs that appeared since it started, less any of starve's or the floors'.
		if [ -z "$mine" ]; then
			mine=$(bpftool prog show -j | jq -r '.[] | select((.name // "") | test("^(starve|floor|stfloor)_") | not) | .id')
		fi ;;
	esac
	comm -12 <(echo "$mine" | sort -u) <(comm -13 <(echo "$2") <(prog_ids)) | tr '\n' ' '
}
# Stats of `ids` around a command: "id name d_run_cnt d_run_time_ns" per program, on stdout.
# kernel.bpf_stats_enabled is global: if someone turns it off meanwhile, the run is taken again.
stats_around() { # $1 ids (space-separated), $2... command
	local ids=$1 try
	shift
	for try in 1 2 3; do
		# shellcheck disable=SC2086
		prog_stats $ids | sort >"$TMP/s0"
		"$@"
		# shellcheck disable=SC2086
		prog_stats $ids | sort >"$TMP/s1"
		[ "$(sysctl -n kernel.bpf_stats_enabled)" = 1 ] && break
		say "  kernel.bpf_stats_enabled was turned off during the run (by another process): taking it again"
		sysctl -qw kernel.bpf_stats_enabled=1
		[ $try -lt 3 ] || die "kernel.bpf_stats_enabled keeps being turned off by something else"
	done
	join "$TMP/s0" "$TMP/s1" | awk '{ print $1, $2, $6 - $3, $7 - $4 }'
}

if [ "$CHURN_ONLY" = 0 ]; then
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
say "phase 1: end to end: $ROUNDS rounds x ${#PEERS[@]} conditions (each paired with a nothing-attached run) x ${#WORKLOADS[@]} workloads (messaging -g 4 -l $MSG_LOOPS, hackbench -l $HB_LOOPS, pipe -l $PIPE_LOOPS best of $PIPE_REPS)"
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

# --- phase 2: in-program ns per switch from bpf_stats -------------------------------------------
# Per round, each condition (order rotating) is started once and each workload run alone under it:
# the run_time_ns and run_cnt its programs gained, and the switches of the run (/proc/stat ctxt,
# the whole host's: the programs run on every switch of the host too).
PROGS=$TMP/progs.csv
echo "round,condition,workload,program,run_cnt,run_time_ns,switches" >"$PROGS"
STATS_CONDS=(floor storage starve bpftrace)
stats_run() { read -r _ SW < <(run_workload "$1"); } # sets SW, the run's switches
say "phase 2: in-program cost: $STATS_ROUNDS rounds x ${#STATS_CONDS[@]} conditions x ${#WORKLOADS[@]} workloads (kernel.bpf_stats_enabled=1, restored after)"
sysctl -qw kernel.bpf_stats_enabled=1
for ((r = 0; r < STATS_ROUNDS; r++)); do
	for ((k = 0; k < ${#STATS_CONDS[@]}; k++)); do
		c=${STATS_CONDS[$(((k + r) % ${#STATS_CONDS[@]}))]}
		before_ids=$(prog_ids)
		start_condition "$c"
		ids=$(condition_prog_ids "$c" "$before_ids")
		[ -n "${ids// /}" ] || die "no BPF programs of $c found"
		for w in "${WORKLOADS[@]}"; do
			SW=""
			stats_around "$ids" stats_run "$w" >"$TMP/d"
			[ -n "$SW" ] || die "$w gave no switch count"
			# Names keep out anything else once more (bpftrace names its programs by probe).
			awk -v r="$r" -v c="$c" -v w="$w" -v sw="$SW" '
				(c == "floor" && $2 !~ /^floor_/) || (c == "starve" && $2 !~ /^starve_/) { next }
				c == "storage" && $2 !~ /^stfloor_/ { next }
				c == "bpftrace" && $2 ~ /^(floor|stfloor|starve)_/ { next }
				{ print r "," c "," w "," $2 "," $3 "," $4 "," sw }' "$TMP/d" >>"$PROGS"
		done
		stop_condition "$c"
	done
	say "  round $((r + 1))/$STATS_ROUNDS done"
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
forget_pid "$BUSY"
stop_condition starve
read -r wall user sys <"$TMP/dumptime"
echo "samples,wall_s,user_s,sys_s,tracked" >"$TMP/dumpcpu.csv"
echo "$BUSY_SAMPLES,$wall,$user,$sys,${tracked:-0}" >>"$TMP/dumpcpu.csv"
fi # CHURN_ONLY

# --- phase 5: churn ------------------------------------------------------------------------------
# starve loaded with its defaults, one busy loop per CPU (every CPU saturated: a new process waits,
# preempts or is preempted), then CHURN_PROCS short-lived processes started by 2 forkers. Rows of
# churn.csv: phase (before|after|churn), kind, name, value.
CH=$TMP/churn.csv
# starve-load status, generically: every map's entries and size; the counters about pairs, drops,
# losses, evictions and folding (and exits, to check the churn against).
status_rows() { # $1 phase, $2 pin dir
	"$LOAD" status --pin-dir "$2" | awk -v ph="$1" '
		/^MAP +ENTRIES/ { sec = "map"; next }
		/^COUNTER +VALUE/ { sec = "counter"; next }
		/^ *$/ { sec = ""; next }
		sec == "map" && $2 ~ /^[0-9]+$/ { print ph ",map_entries," $1 "," $2; print ph ",map_max," $1 "," $3 }
		sec == "counter" {
			v = $NF; $NF = ""; name = $0; sub(/ +$/, "", name); gsub(/,/, ";", name)
			if (tolower(name) ~ /pairs|dropped|lost|evict|fold/ || name == "exits") print ph ",counter," name "," v
		}'
}
# One sample of starve-dump (tasks) and of starve-dump cgroups, READER_REPEAT times: wall time
# less the --interval they sleep between their two reads, and CPU time (user + sys), in ms.
reader_rows() { # $1 phase, $2 pin dir
	local k sub t
	for ((k = 0; k < READER_REPEAT; k++)); do
		for sub in tasks cgroups; do
			t=$( { TIMEFORMAT='%3R %3U %3S'; time "$DUMP" $sub --pin-dir "$2" --interval "$READER_INTERVAL" --iterations 1 >/dev/null 2>"$TMP/dumperr"; } 2>&1 ) ||
				die "starve-dump $sub failed: $(tail -2 "$TMP/dumperr")"
			echo "$t" | awk -v ph="$1" -v s="$sub" -v iv="$READER_INTERVAL" '{
				printf "%s,reader_wall_ms,%s,%.1f\n", ph, s, ($1 - iv) * 1000
				printf "%s,reader_cpu_ms,%s,%.1f\n", ph, s, ($2 + $3) * 1000 }'
		done
	done
}
say "phase 5: churn: $CHURN_PROCS short-lived processes (starve-work churn, $CHURN_FORKERS forkers) while $(nproc) busy loops saturate the CPUs, starve loaded"
echo "phase,kind,name,value" >"$CH"
start_condition starve
"$WORK" busy --workers "$(nproc)" --duration 0 >/dev/null &
CHURN_BUSY=$!
BG_PIDS+=("$CHURN_BUSY")
sleep 1
reader_rows before "$PIN_BASE-starve" >>"$CH"
status_rows before "$PIN_BASE-starve" >>"$CH"
ids=$(pinned_prog_ids "$PIN_BASE-starve" | tr '\n' ' ')
run_churn() {
	local a b
	a=$(ctxt)
	"$WORK" churn --processes "$CHURN_PROCS" --parallel "$CHURN_FORKERS" >"$TMP/churn-run.txt" &
	CHURN_PID=$!
	BG_PIDS+=("$CHURN_PID")
	wait "$CHURN_PID" || die "starve-work churn failed"
	# "churn=done processes=N seconds=S per_second=R" as the report's CSV row.
	awk -v f="$CHURN_FORKERS" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
		END { print "processes,forkers,mode,seconds,processes_per_second,failed"
		      print v["processes"] "," f ",vfork," v["seconds"] "," v["per_second"] ",0" }' "$TMP/churn-run.txt" >"$TMP/churn-run.csv"
	forget_pid "$CHURN_PID"
	b=$(ctxt)
	echo "churn,switches,ctxt,$((b - a))" >"$TMP/churn-sw"
}
sysctl -qw kernel.bpf_stats_enabled=1
stats_around "$ids" run_churn >"$TMP/d"
sysctl -qw kernel.bpf_stats_enabled="$STATS_SAVED"
awk '$2 ~ /^starve_/ { print "churn,prog_cnt," $2 "," $3; print "churn,prog_ns," $2 "," $4 }' "$TMP/d" >>"$CH"
cat "$TMP/churn-sw" >>"$CH"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i; next } { for (i = 1; i <= NF; i++) print "churn,run," h[i] "," $i }' "$TMP/churn-run.csv" >>"$CH"
echo "churn,run,background,$(nproc) busy loops (starve-work busy)" >>"$CH"
status_rows after "$PIN_BASE-starve" >>"$CH"
reader_rows after "$PIN_BASE-starve" >>"$CH"
stop_pid "$CHURN_BUSY"
forget_pid "$CHURN_BUSY"
stop_condition starve

# --- report -------------------------------------------------------------------------------------
mkdir -p "$OUT"
cp "$CH" "$OUT/churn.csv"
if [ "$CHURN_ONLY" = 0 ]; then
	cp "$RAW" "$OUT/e2e-raw.csv"
	cp "$PROGS" "$OUT/progs-raw.csv"
	cp "$TMP/dump.csv" "$OUT/dump-cost.csv"
	cp "$TMP/dumpcpu.csv" "$OUT/dump-cpu.csv"
	cp "$TMP/iter.csv" "$OUT/iter-cost.csv"
fi
if [ "$CHURN_ONLY" = 1 ]; then MODE="$MODE, churn only"; fi
"$BENCH" report --dir "$OUT" --mode "$MODE" \
	--rounds "$ROUNDS" --pipe-loops "$PIPE_LOOPS" --msg-loops "$MSG_LOOPS" --hb-loops "$HB_LOOPS"
if [ "$CHURN_ONLY" = 0 ]; then
	gnuplot -e "dir='$OUT'" "$ROOT/scripts/bench/plot.gp"
	say "wrote $OUT/{summary.csv,e2e-raw.csv,progs-raw.csv,dump-cost.csv,dump-cpu.csv,iter-cost.csv,churn.csv,results.md,overhead.png}"
else
	say "wrote $OUT/{summary.csv,churn.csv,results.md}"
fi
