# gnuplot compare.gp (written by tests/bench/compare.py)
set datafile missing '?'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set grid ytics
set key outside below center horizontal maxrows 2 font ',9' spacing 1.2
set xlabel 'guest RAM'
set yrange [0.1:*]
set terminal pngcairo size 1400,620 font ',10'
set output '/work/main/tests/bench/results/compare.png'
set multiplot layout 1,2 title 'hvdump vs in-guest kdump vs QEMU dump-guest-memory (lower is better, log scale)'
set ylabel 'seconds (median)'
set title 'time from panic to a complete dump on the host disk'
plot '/work/main/tests/bench/results/compare.dat' using 2:xtic(1) title 'in-guest kdump: makedumpfile -c -d 31', \
     '/work/main/tests/bench/results/compare.dat' using 4:xtic(1) title 'in-guest kdump: cp /proc/vmcore', \
     '/work/main/tests/bench/results/compare.dat' using 6:xtic(1) title 'QEMU dump-guest-memory: ELF', \
     '/work/main/tests/bench/results/compare.dat' using 8:xtic(1) title 'QEMU dump-guest-memory: kdump-zlib', \
     '/work/main/tests/bench/results/compare.dat' using 10:xtic(1) title 'hvdump: ELF -d 1 (sparse)', \
     '/work/main/tests/bench/results/compare.dat' using 12:xtic(1) title 'hvdump: kdump-zstd -d 31'
set ylabel 'MiB on disk (median)'
set title 'dump size on disk'
plot '/work/main/tests/bench/results/compare.dat' using 3:xtic(1) title 'in-guest kdump: makedumpfile -c -d 31', \
     '/work/main/tests/bench/results/compare.dat' using 5:xtic(1) title 'in-guest kdump: cp /proc/vmcore', \
     '/work/main/tests/bench/results/compare.dat' using 7:xtic(1) title 'QEMU dump-guest-memory: ELF', \
     '/work/main/tests/bench/results/compare.dat' using 9:xtic(1) title 'QEMU dump-guest-memory: kdump-zlib', \
     '/work/main/tests/bench/results/compare.dat' using 11:xtic(1) title 'hvdump: ELF -d 1 (sparse)', \
     '/work/main/tests/bench/results/compare.dat' using 13:xtic(1) title 'hvdump: kdump-zstd -d 31'
unset multiplot
set output
set terminal svg size 1400,620 dynamic font ',10'
set output '/work/main/tests/bench/results/compare.svg'
set multiplot layout 1,2 title 'hvdump vs in-guest kdump vs QEMU dump-guest-memory (lower is better, log scale)'
set ylabel 'seconds (median)'
set title 'time from panic to a complete dump on the host disk'
plot '/work/main/tests/bench/results/compare.dat' using 2:xtic(1) title 'in-guest kdump: makedumpfile -c -d 31', \
     '/work/main/tests/bench/results/compare.dat' using 4:xtic(1) title 'in-guest kdump: cp /proc/vmcore', \
     '/work/main/tests/bench/results/compare.dat' using 6:xtic(1) title 'QEMU dump-guest-memory: ELF', \
     '/work/main/tests/bench/results/compare.dat' using 8:xtic(1) title 'QEMU dump-guest-memory: kdump-zlib', \
     '/work/main/tests/bench/results/compare.dat' using 10:xtic(1) title 'hvdump: ELF -d 1 (sparse)', \
     '/work/main/tests/bench/results/compare.dat' using 12:xtic(1) title 'hvdump: kdump-zstd -d 31'
set ylabel 'MiB on disk (median)'
set title 'dump size on disk'
plot '/work/main/tests/bench/results/compare.dat' using 3:xtic(1) title 'in-guest kdump: makedumpfile -c -d 31', \
     '/work/main/tests/bench/results/compare.dat' using 5:xtic(1) title 'in-guest kdump: cp /proc/vmcore', \
     '/work/main/tests/bench/results/compare.dat' using 7:xtic(1) title 'QEMU dump-guest-memory: ELF', \
     '/work/main/tests/bench/results/compare.dat' using 9:xtic(1) title 'QEMU dump-guest-memory: kdump-zlib', \
     '/work/main/tests/bench/results/compare.dat' using 11:xtic(1) title 'hvdump: ELF -d 1 (sparse)', \
     '/work/main/tests/bench/results/compare.dat' using 13:xtic(1) title 'hvdump: kdump-zstd -d 31'
unset multiplot
set output
