# Sourced by the benchmark scripts (testdata/bench): the figures they print.

# load: the load average over 1, 5 and 15 minutes, to say how busy the machine was.
load() { cut -d' ' -f1-3 /proc/loadavg; }

# calc EXPR: EXPR in floating point.
calc() { awk "BEGIN {print $*}"; }

# median: the median of the numbers on stdin, one a line ("nan" when there are none).
median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
