#!/bin/sh
# bench-sysnet.sh - the cost of starve-load --syscalls and --net (docs/overhead.md).
#
# For each configuration: `perf bench syscall basic` (getppid in a loop, pinned to CPU 1),
# ns per syscall end to end, and the programs' own ns per event from kernel.bpf_stats_enabled
# (starve-load status). Peers on the same load: `perf trace -s` (a syscall summary, like
# --syscalls). --net: a loopback TCP stream of 64 KiB sends (python3), MB/s with and without.
# Root. Installs linux-perf when missing. Prints a table; leaves nothing behind.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/.build/debug}
PIN=/sys/fs/bpf/starve-bench-sysnet-$$
LOOPS=${LOOPS:-5000000}
ROUNDS=${ROUNDS:-3}
command -v perf >/dev/null || { apt-get install -y -qq linux-perf >/dev/null; }
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
cleanup() { "$BIN/starve-load" unload --pin-dir "$PIN" >/dev/null 2>&1 || true; sysctl -qw kernel.bpf_stats_enabled="$old_stats"; }
trap cleanup EXIT INT TERM
sysctl -qw kernel.bpf_stats_enabled=1

syscall_ns() { # best of ROUNDS, ns per getppid
	best=
	for _ in $(seq "$ROUNDS"); do
		u=$(taskset -c 1 perf bench syscall basic -l "$LOOPS" 2>/dev/null | awk '/usecs\/op/ {print $1}')
		ns=$(awk -v u="$u" 'BEGIN { printf "%.1f", u * 1000 }')
		if [ -z "$best" ] || awk -v a="$ns" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$ns; fi
	done
	echo "$best"
}
net_mbs() { # MB/s of a 2 s loopback TCP stream
	python3 - <<'PY'
import socket, threading, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
def serve():
    c, _ = s.accept()
    while c.recv(65536): pass
t = threading.Thread(target=serve); t.start()
c = socket.create_connection(s.getsockname()); buf = b"x" * 65536; sent = 0; t0 = time.time()
while time.time() - t0 < 2: c.sendall(buf); sent += len(buf)
c.close(); t.join(); print("%.0f" % (sent / (time.time() - t0) / 1e6))
PY
}
prog_ns() { "$BIN/starve-load" status --pin-dir "$PIN" | awk -v p="$1" '$1 == p { print $NF " ns/event (" $4 " events)" }'; }

printf '%-34s %12s %s\n' "configuration" "ns/syscall" "in-program"
base=$(syscall_ns); printf '%-34s %12s\n' "nothing loaded" "$base"
net_base=$(net_mbs)
"$BIN/starve-load" --pin-dir "$PIN" >/dev/null
printf '%-34s %12s\n' "starve-load (default)" "$(syscall_ns)"
"$BIN/starve-load" unload --pin-dir "$PIN" >/dev/null
"$BIN/starve-load" --pin-dir "$PIN" --syscalls >/dev/null
printf '%-34s %12s %s\n' "starve-load --syscalls" "$(syscall_ns)" "$(prog_ns starve_syscalls_enter)"
"$BIN/starve-load" unload --pin-dir "$PIN" >/dev/null
"$BIN/starve-load" --pin-dir "$PIN" --futex >/dev/null
printf '%-34s %12s %s\n' "starve-load --futex" "$(syscall_ns)" "enter $(prog_ns starve_futex_enter); exit $(prog_ns starve_futex_exit)"
"$BIN/starve-load" unload --pin-dir "$PIN" >/dev/null
"$BIN/starve-load" --pin-dir "$PIN" --futex --syscalls >/dev/null
printf '%-34s %12s %s\n' "starve-load --futex --syscalls" "$(syscall_ns)" "enter $(prog_ns starve_syscalls_enter); exit $(prog_ns starve_futex_exit)"
"$BIN/starve-load" unload --pin-dir "$PIN" >/dev/null
# perf trace -s on the same load (fewer loops: it is two orders of magnitude slower)
log=$(mktemp)
u=$(taskset -c 1 perf trace -s -o "$log" -- perf bench syscall basic -l 200000 2>/dev/null | awk '/usecs\/op/ {print $1}')
printf '%-34s %12s %s\n' "perf trace -s (no starve)" "$(awk -v u="$u" 'BEGIN { printf "%.1f", u * 1000 }')" \
	"$(awk '$1 == "getppid" { print "getppid counted " $2 }' "$log")"
rm -f "$log"
"$BIN/starve-load" --pin-dir "$PIN" --net >/dev/null
net_on=$(net_mbs)
printf '%-34s %12s %s\n' "loopback TCP, MB/s: nothing" "$net_base" ""
printf '%-34s %12s %s\n' "loopback TCP, MB/s: --net" "$net_on" "send $(prog_ns starve_net_send); recv $(prog_ns starve_net_recv)"
