# Cumulative on-CPU time of each worker over the cell, with the CFS expectation dashed.
set terminal pngcairo size 1100,990 font ',11'
set output '../runtime.png'
set multiplot layout 3,1
set xlabel 'seconds since sampling started'
set ylabel 'on-CPU time, s'
set grid
set key left top
set title 'cell 1: nice 0,5 cpus 1 (dashed: expected)'
plot 'runtime.dat' index 0 using 1:2 with linespoints lt 1 pt 7 ps 0.6 title 'worker 0 nice 0', \
     'runtime.dat' index 0 using 1:3 with lines lt 1 dt 2 notitle, \
     'runtime.dat' index 1 using 1:2 with linespoints lt 2 pt 7 ps 0.6 title 'worker 1 nice 5', \
     'runtime.dat' index 1 using 1:3 with lines lt 2 dt 2 notitle
set title 'cell 2: nice 0,5,10 cpus 1 (dashed: expected)'
plot 'runtime.dat' index 2 using 1:2 with linespoints lt 1 pt 7 ps 0.6 title 'worker 0 nice 0', \
     'runtime.dat' index 2 using 1:3 with lines lt 1 dt 2 notitle, \
     'runtime.dat' index 3 using 1:2 with linespoints lt 2 pt 7 ps 0.6 title 'worker 1 nice 5', \
     'runtime.dat' index 3 using 1:3 with lines lt 2 dt 2 notitle, \
     'runtime.dat' index 4 using 1:2 with linespoints lt 3 pt 7 ps 0.6 title 'worker 2 nice 10', \
     'runtime.dat' index 4 using 1:3 with lines lt 3 dt 2 notitle
set title 'cell 3: nice 0,19 cpus 1 (dashed: expected)'
plot 'runtime.dat' index 5 using 1:2 with linespoints lt 1 pt 7 ps 0.6 title 'worker 0 nice 0', \
     'runtime.dat' index 5 using 1:3 with lines lt 1 dt 2 notitle, \
     'runtime.dat' index 6 using 1:2 with linespoints lt 2 pt 7 ps 0.6 title 'worker 1 nice 19', \
     'runtime.dat' index 6 using 1:3 with lines lt 2 dt 2 notitle
unset multiplot
