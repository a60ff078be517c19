#!/bin/bash
# dht_get_probe.sh - five fast-profile agents on loopback (R = 3), 10,000
# signed entries put through the first, then the lookup figures the
# result cache's targets name (docs/caching.md, 4):
#   - a 10,000-key get through agent c (the CLI's batches of 4096 keys),
#     its wall time and the CPU it costs the agents and the CLI
#   - 1000 single-key gets through c: p50, p99
#   - `testmesh run` of a 2,000-test manifest, all hits, against c,
#     and the same with --no-cache
#
#   tools/bench/dht_get_probe.sh [WORKDIR]     (default /tmp/dht_get_probe)
#
# Builds build/dht_get_probe (tools/bench/dht_get_probe.c) first.  Kills
# only the agents it started.  Figures are medians of 5 rounds.
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
T=$root/build/testmesh
P=$root/build/dht_get_probe
W=${1:-/tmp/dht_get_probe}
unset TESTMESH_CACHE
cc -O2 -g -std=gnu11 -D_GNU_SOURCE -I"$root/node" -I"$root/gossip" -I"$root/dht-cache" \
   "$root/tools/bench/dht_get_probe.c" "$root/build/libtestmesh.a" -o "$P" \
   $(pkg-config --cflags --libs libczmq libzmq libsodium rocksdb inih jansson) -lpthread -lm
rm -rf "$W"; mkdir -p "$W"; cd "$W"
pids=()
cleanup () { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
mkdir a; $T agent --data a --bind 127.0.0.1:0 --no-beacon --name a --profile fast > a.log 2>&1 &
pids+=($!)
until grep -q "^join token" a.log 2>/dev/null; do sleep 0.1; done
tok=$(sed -n 's/^join token: //p' a.log)
for x in b c d e; do
    mkdir $x; $T agent --data $x --bind 127.0.0.1:0 --no-beacon --name $x --profile fast --join "$tok" > $x.log 2>&1 &
    pids+=($!)
done
until [ "$($T members --data c 2>/dev/null | grep -c alive)" -ge 5 ]; do sleep 0.2; done
sleep 1
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
# CPU of the five agents, in clock ticks: on a shared box it says more
# than wall time (the LRU work a get defers is done when idle, counted)
cpu () { local s=0; for p in "${pids[@]}"; do s=$((s + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $s; }
hz=$(getconf CLK_TCK)
$P put a 10000
sleep 2
c0=$(cpu)
/usr/bin/time -f "probe CPU (5 rounds): %U s user %S s sys" $P get c 10000 5
sleep 0.5; c1=$(cpu)
echo "agents' CPU per 10,000-key get: $(( (c1 - c0) * 1000 / hz / 5 )) ms"
$P one c 10000 1000
# The CLI path: a 2,000-test suite, run once to fill the cache, then timed
"$root/tools/gen_suite.sh" manifest --count 2000 --out suite.ini > /dev/null
$T run --data c -j 2 suite.ini > /dev/null 2>&1 || true
sleep 1
hit=(); miss=()
for r in 1 2 3 4 5; do
    s=$(date +%s.%N); $T run --data c -j 2 suite.ini > run.out 2>&1 || true; e=$(date +%s.%N)
    hit+=($(echo "$e - $s" | bc))
    s=$(date +%s.%N); $T run --data c -j 2 --no-cache suite.ini > /dev/null 2>&1 || true; e=$(date +%s.%N)
    miss+=($(echo "$e - $s" | bc))
done
tail -1 run.out
med () { printf '%s\n' "$@" | sort -n | sed -n 3p; }
h=$(med "${hit[@]}"); m=$(med "${miss[@]}")
echo "run 2000, all hits: median ${h} s; --no-cache: median ${m} s; ratio $(echo "scale=3; $h / $m" | bc)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
