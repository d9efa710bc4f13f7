# Measured vs expected CPU share per nice level; regenerate with: gnuplot share.gp
set terminal pngcairo size 1100,650 font ',11'
set output '../share.png'
set title "example: measured vs expected CPU share per nice level"
set xlabel 'nice'
set ylabel 'share, % of one CPU'
set yrange [0:*]
set offsets 0.5, 0.5, 0, 0
set grid
set key outside right top
plot 'share.dat' index 0 using 1:2 with linespoints lt 1 dt 2 pt 6 ps 1.6 title 'nice 0,5 cpus 1: expected', \
     'share.dat' index 0 using 1:3 with points lt 1 pt 7 ps 1.2 title 'nice 0,5 cpus 1: measured', \
     'share.dat' index 0 using 1:4 with points lt 1 pt 2 ps 1.2 title 'nice 0,5 cpus 1: lottery', \
     'share.dat' index 1 using 1:2 with linespoints lt 2 dt 2 pt 6 ps 1.6 title 'nice 0,5,10 cpus 1: expected', \
     'share.dat' index 1 using 1:3 with points lt 2 pt 7 ps 1.2 title 'nice 0,5,10 cpus 1: measured', \
     'share.dat' index 1 using 1:4 with points lt 2 pt 2 ps 1.2 title 'nice 0,5,10 cpus 1: lottery', \
     'share.dat' index 2 using 1:2 with linespoints lt 3 dt 2 pt 6 ps 1.6 title 'nice 0,19 cpus 1: expected', \
     'share.dat' index 2 using 1:3 with points lt 3 pt 7 ps 1.2 title 'nice 0,19 cpus 1: measured', \
     'share.dat' index 2 using 1:4 with points lt 3 pt 2 ps 1.2 title 'nice 0,19 cpus 1: lottery'
