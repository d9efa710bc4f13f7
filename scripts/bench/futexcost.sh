#!/usr/bin/env bash
# futexcost.sh - what `starve-load --futex` costs: its two programs run on every syscall.
#
#   sudo scripts/bench/futexcost.sh [--count N] [--object OBJ]
#
# Loads the collector without and with --futex (own pin dir), runs `dd bs=1 count=N` (2N
# syscalls, none of them futex) and `starve-work scenario lock` (futex waits) with
# kernel.bpf_stats_enabled=1, and prints run_cnt and ns/event of the futex programs, and dd's
# extra ns per syscall end to end (best of 3) against the load without --futex. The sysctl is
# restored and everything unloaded on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${STARVE_BIN:-$ROOT/.build/debug}
OBJ=$ROOT/bpf/build/starve.bpf.o
COUNT=1000000
while [ $# -gt 0 ]; do
	case $1 in
	--count) COUNT=$2; shift ;;
	--object) OBJ=$2; shift ;;
	*) echo "usage: $0 [--count N] [--object OBJ]" >&2; exit 2 ;;
	esac
	shift
done
PIN=/sys/fs/bpf/starve-bench-futex-$$
SAVED=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() {
	set +e
	[ -d "$PIN" ] && "$BIN/starve-load" unload --pin-dir "$PIN" >/dev/null
	sysctl -qw kernel.bpf_stats_enabled="$SAVED"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

dd_secs() { # best of 3
	for _ in 1 2 3; do
		s=$(date +%s.%N); dd if=/dev/zero of=/dev/null bs=1 count="$COUNT" 2>/dev/null; e=$(date +%s.%N)
		echo "$e - $s" | bc -l
	done | sort -g | head -1
}
snap() { bpftool prog show -j | jq -r '.[] | select(.name | startswith("starve_futex")) | "\(.name) \(.run_cnt // 0) \(.run_time_ns // 0)"' | sort; }

sysctl -qw kernel.bpf_stats_enabled=0
"$BIN/starve-load" --pin-dir "$PIN" --object "$OBJ" >/dev/null
t0=$(dd_secs)
"$BIN/starve-load" unload --pin-dir "$PIN" >/dev/null
"$BIN/starve-load" --pin-dir "$PIN" --object "$OBJ" --futex >/dev/null
t1=$(dd_secs)
printf 'dd bs=1 count=%d: %.1f ns per syscall more with --futex (end to end, best of 3: %.3f s vs %.3f s)\n' \
	"$COUNT" "$(echo "($t1 - $t0) * 1000000000 / (2 * $COUNT)" | bc -l)" "$t1" "$t0"
sysctl -qw kernel.bpf_stats_enabled=1
s0=$(snap); dd if=/dev/zero of=/dev/null bs=1 count="$COUNT" 2>/dev/null; s1=$(snap)
"$BIN/starve-work" scenario lock --duration 3 >/dev/null; s2=$(snap)
sysctl -qw kernel.bpf_stats_enabled=0
echo "in-program, kernel.bpf_stats_enabled=1 (runs of other processes' syscalls included):"
join <(echo "$s0") <(echo "$s1") | awk '{ n = $4 - $2; printf "  dd:        %-20s %9d runs %6.1f ns/run\n", $1, n, n ? ($5 - $3) / n : 0 }'
join <(echo "$s1") <(echo "$s2") | awk '{ n = $4 - $2; printf "  lock 3 s:  %-20s %9d runs %6.1f ns/run\n", $1, n, n ? ($5 - $3) / n : 0 }'
"$BIN/starve-load" status --pin-dir "$PIN" | grep -E '^futex|^dropped: futex'
