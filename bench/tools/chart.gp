# req/s and p99 per target and scenario, from bench/tools/write_results.py's matrices.
# gnuplot -e "data='bench/run/chart'; out='bench/results.png'" bench/tools/chart.gp
set terminal pngcairo size 1400,520 font "DejaVu Sans,10" noenhanced
set output out
set multiplot layout 1,2 title "pcproxy vs nginx proxy_cache and Varnish (same run, server on one core)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set key top right autotitle columnhead
set grid ytics
set xtics nomirror
set title "throughput (req/s, higher is better)"
set logscale y
set yrange [100:*]
plot data.'.rps' using 2:xtic(1), '' using 3, '' using 4, '' using 5
set title "p99 latency (ms, lower is better)"
set yrange [0.01:*]
plot data.'.p99' using 2:xtic(1), '' using 3, '' using 4, '' using 5
unset multiplot
