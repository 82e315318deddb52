#!/usr/bin/env bash
# Plots of a simulated day (embark simulate --out=PREFIX) with gnuplot (Debian gnuplot-nox):
#   PREFIX.pacing.svg   cumulative spend as a share of budget, per campaign through the day,
#                       under the first policy, with the even-pacing line
#   PREFIX.revenue.svg  cumulative revenue per policy through the day
# Usage: bench/plot_delivery.sh PREFIX
set -euo pipefail
prefix="${1:?usage: $0 PREFIX}"
command -v gnuplot >/dev/null || { echo "plot_delivery: gnuplot is not installed (launch/setup.sh installs gnuplot-nox)" >&2; exit 1; }
first=$(awk -F, 'NR == 2 { print $1; exit }' "$prefix.hourly.csv")
# One block per campaign (blank lines between): hour, cumulative spend / budget.
awk -F, -v p="$first" 'NR > 1 && $1 == p { if ($2 != last && last != "") print ""; last = $2;
  if ($3 == 0) print 0, 0; print $3 + 1, ($8 > 0 ? $7 / $8 : 0) }' "$prefix.hourly.csv" > "$prefix.pacing.dat"
policies=$(head -1 "$prefix.revenue.csv" | tr ',' ' ' | cut -d' ' -f2-)
plot_revenue=""
col=2
for p in $policies; do
  plot_revenue+="${plot_revenue:+, }'$prefix.revenue.csv' using 1:$col with linespoints title '$p'"
  col=$((col + 1))
done
gnuplot <<GP
set datafile separator whitespace
set terminal svg size 900,500 dynamic
set output '$prefix.pacing.svg'
set title 'Spend through the day, per campaign ($first policy)'
set xlabel 'hour of day'
set ylabel 'cumulative spend / daily budget'
set xrange [0:24]
set yrange [0:1.1]
set key top left
plot '$prefix.pacing.dat' using 1:2 with lines lc rgb '#8080c0' notitle, x / 24 with lines lw 2 lc rgb 'black' title 'even pacing'
set datafile separator ','
set output '$prefix.revenue.svg'
set title 'Cumulative revenue per policy'
set ylabel 'revenue'
set autoscale y
plot $plot_revenue
GP
echo "wrote $prefix.pacing.svg and $prefix.revenue.svg"
