# plot.gp - the overhead benchmark's figure: gnuplot -e "dir='assets/bench'" scripts/bench/plot.gp
# First: in-program ns per context switch by workload (bpf_stats; saturated workloads first).
# Second: extra ns per context switch on the pinned pipe, end to end (plot-e2e.dat row 3: pipe).
# Third: how much slower each workload ran than with nothing attached, percent.
# Fourth: starve-dump's cost for one sample on a full map, against the 100 ms target.
# Bars are medians over rounds, whiskers min..max (each run paired with a nothing-attached run).
if (!exists("dir")) dir = "assets/bench"
set terminal pngcairo size 2400,560 font "Sans,11"
set output dir."/overhead.png"
set multiplot layout 1,4 title "starve overhead (scripts/bench.sh; bars: median, whiskers: min..max over rounds)"

set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set key top left
set xzeroaxis lt -1

set title "in-program ns per context switch (bpf\\_stats)"
set ylabel "ns / switch"
plot dir."/plot-inprog.dat" using 2:3:4:xtic(1) title "floor (empty prog)" lc rgb "#999999", \
     "" using 5:6:7 title "storage floor (lookup + empty wakeup prog)" lc rgb "#bbbbbb", \
     "" using 8:9:10 title "starve" lc rgb "#1f77b4", \
     "" using 11:12:13 title "bpftrace runqlat" lc rgb "#ff7f0e"

set title "pinned pipe: extra ns per context switch, end to end"
set ylabel "ns / switch"
plot dir."/plot-e2e.dat" every ::2::2 using 2:3:4:xtic(1) title "floor (empty prog)" lc rgb "#999999", \
     "" every ::2::2 using 5:6:7 title "starve" lc rgb "#1f77b4", \
     "" every ::2::2 using 8:9:10 title "bpftrace runqlat" lc rgb "#ff7f0e", \
     "" every ::2::2 using 11:12:13 title "perf sched record" lc rgb "#d62728"

set title "slowdown vs nothing attached"
set ylabel "% slower"
plot dir."/plot-slow.dat" using 2:3:4:xtic(1) title "floor (empty prog)" lc rgb "#999999", \
     "" using 5:6:7 title "starve" lc rgb "#1f77b4", \
     "" using 8:9:10 title "bpftrace runqlat" lc rgb "#ff7f0e", \
     "" using 11:12:13 title "perf sched record" lc rgb "#d62728"

set title "starve-dump: one sample on a full map"
unset style
unset xzeroaxis
set style data linespoints
set logscale xy
set xrange [500:200000]
set xlabel "threads (tasks records)"
set ylabel "ms (log)"
plot dir."/plot-dump.dat" using 1:2:3:4 with yerrorlines lw 2 pt 7 title "read + analyse + table", \
     "" using 1:5 with linespoints pt 5 title "read (batched lookups)", \
     "" using 1:6 with linespoints pt 9 title "analyse (IntervalTracker + sort)", \
     100 with lines dt 2 lc rgb "red" title "target 100 ms"
unset multiplot
