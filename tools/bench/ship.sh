#!/bin/bash
# ship.sh - how long shipping a big test binary to the members takes.
# A benchmark, not a test: it prints figures, and passes or fails nothing.
#
#   tools/bench/ship.sh [--members N] [--mb M] [--tests C] [--replicas R]
#                       [--join-blobs K] [--join-kb S] [--testmesh PATH] [--keep]
#
#   --members N      members besides the origin that fetch it (default 4)
#   --replicas R     the agents' --cache-replicas: a blob's owners (default 3)
#   --mb M           size of the binary in MiB (default 50)
#   --tests C        tests of the suite, each running the binary (default 2 per agent)
#   --join-blobs K   blobs placed before a member joins, in the join part
#                    (default 64; 0 skips the part)
#   --join-kb S      size of each of them in KiB (default 1024)
#   --testmesh PATH  the binary (default build/testmesh)
#   --keep           keep the scratch directory (its path is printed)
#
# A C program padded with M MiB of random bytes (so it does not compress
# and is a real ELF the loader check looks at) is the command of every
# test of a manifest; each test reads its first and last page and sleeps
# a second, so every member is still holding tests when the binary
# arrives.  1 + N agents on loopback (fast profile, 1 slot each) run it
# three ways:
#   cold     every store empty but the origin's: each member fetches it
#   warm     the same run again: every store has it, nothing moves
#   shared   --shared-fs: nothing is shipped, tests run in place
# For the cold run it prints, from the agents' debug logs, each member's
# fetch time (first chunk asked to blob verified and stored) and the
# throughput, and the run's wall time against the warm and shared ones;
# and the bytes each agent served (`testmesh stats` work.bytes_served):
# the origin sends the blob to its owners, which relay it to the others
# (docs/scheduling.md, "Placement").
#
# join: a run that only the origin may run (it is labelled pool=origin)
# declares K inputs of S KiB, so that they reach their owners only (the
# origin's "want"), not every member.  Then one more agent joins, with an
# empty store.  We poll its `testmesh stats` every 0.1 s until its
# work.store_blobs has not changed for 3 s.  Reported: the blobs and bytes
# it fetched in the background (work.handoff_fetched, handoff_bytes), the
# blobs the others offered it (the sum of their work.handoff_offered
# deltas: each blob it owns is offered by its R old owners), against the
# expectation K x R / (N + 2) (rendezvous: the newcomer owns that share,
# and nothing else should move; the binary of the parts above counts as
# one more blob); the time from
# starting it to it being seen alive, and to the last blob it stored
# (settled); and the wall time of the warm run, started with the
# newcomer, against the warm run's without a join.  docs/scheduling.md,
# "Handoff".
# Everything started is stopped on exit.

set -u
me=ship.sh
members=4 mb=50 tests="" keep=0 replicas=3 join_blobs=64 join_kb=1024
testmesh=${TESTMESH:-build/testmesh}
# Every run here must run its tests: the result cache would serve the
# repetitions (docs/caching.md); tools/bench/cache.sh measures it.
export TESTMESH_CACHE=off

fail () { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }
say () { printf '%s: %s\n' "$me" "$*" >&2; }
is_count () { case $1 in ''|*[!0-9]*) return 1 ;; esac; [ "$1" -ge 1 ]; }

while [ $# -gt 0 ]; do
    case $1 in
        --keep) keep=1; shift; continue ;;
        --members) is_count "${2-}" || fail "--members wants a count"; members=$2 ;;
        --mb) is_count "${2-}" || fail "--mb wants a count"; mb=$2 ;;
        --tests) is_count "${2-}" || fail "--tests wants a count"; tests=$2 ;;
        --replicas) is_count "${2-}" || fail "--replicas wants a count"; replicas=$2 ;;
        --join-blobs) case ${2-} in ''|*[!0-9]*) fail "--join-blobs wants a count" ;; esac
                      join_blobs=$2 ;;
        --join-kb) is_count "${2-}" || fail "--join-kb wants a count"; join_kb=$2 ;;
        --testmesh) testmesh=${2-} ;;
        *) fail "unknown option $1" ;;
    esac
    shift 2
done
[ -x "$testmesh" ] || fail "no testmesh binary at $testmesh (make build/testmesh)"
command -v cc >/dev/null || fail "needs cc"
testmesh=$(cd "$(dirname "$testmesh")" && pwd)/$(basename "$testmesh")
agents=$((members + 1))
[ -n "$tests" ] || tests=$((2 * agents))

scratch=$(mktemp -d /tmp/testmesh-ship-XXXXXX)
pids=()
cleanup () {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    if [ $keep -eq 1 ]; then say "kept $scratch"; else rm -rf "$scratch"; fi
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# The binary: main.c plus M MiB of random bytes in .rodata
suite=$scratch/suite
mkdir -p "$suite"
head -c $((mb * 1024 * 1024)) /dev/urandom > "$suite/pad.bin"
cat > "$suite/main.c" <<'EOF'
#include <stdio.h>
#include <unistd.h>
extern const unsigned char pad [];
extern const unsigned long pad_size;
int main (void)
{
    printf ("%u %u\n", pad [0], pad [pad_size - 1]);
    sleep (1);
    return 0;
}
EOF
cat > "$suite/pad.S" <<'EOF'
    .section .rodata
    .global pad
    .global pad_size
pad:
    .incbin "pad.bin"
pad_end:
    .balign 8
pad_size:
    .quad pad_end - pad
    .section .note.GNU-stack,"",@progbits
EOF
(cd "$suite" && cc -O2 -o big main.c pad.S) || fail "cannot build the binary"
rm -f "$suite/pad.bin"
size=$(stat -c %s "$suite/big")
for i in $(seq 1 "$tests"); do
    printf '[test "big/%d"]\ncommand = ./big\ntimeout = 120\n\n' "$i"
done > "$suite/suite.ini"

# The cluster
start_agent () {    # NAME [TOKEN [OPTIONS...]]
    local name=$1 token=${2-}
    shift; [ $# -gt 0 ] && shift
    local dir=$scratch/$name
    mkdir -p "$dir"
    TESTMESH_LOG=debug "$testmesh" agent --data "$dir" --name "$name" --bind 127.0.0.1:0 \
        --no-beacon --profile fast --slots 1 --cache-replicas "$replicas" \
        ${token:+--join "$token"} "$@" > "$dir/agent.out" 2> "$dir/agent.err" &
    pids+=($!)
}
start_agent a0 "" --label pool=origin
token=""
for _ in $(seq 1 100); do
    token=$("$testmesh" token --data "$scratch/a0" 2>/dev/null) && break
    sleep 0.1
done
[ -n "$token" ] || fail "the first agent did not start"
for i in $(seq 1 "$members"); do start_agent "a$i" "$token"; done
for _ in $(seq 1 200); do
    alive=$("$testmesh" members --json --data "$scratch/a0" 2>/dev/null | grep -c '"alive"')
    [ "$alive" -eq "$agents" ] && break
    sleep 0.1
done
[ "$alive" -eq "$agents" ] || fail "only $alive of $agents agents alive"

run () {    # LABEL [OPTIONS...]
    local label=$1; shift
    local start end
    start=$(date +%s.%N)
    "$testmesh" run --data "$scratch/a0" --progress lines "$@" "$suite/suite.ini" \
        > "$scratch/$label.out" 2>&1 || { cat "$scratch/$label.out" >&2; fail "$label run failed"; }
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}

say "$agents agents, $tests tests of a $((size / 1024 / 1024)) MiB binary ($size bytes)"
cold=$(run cold)
warm=$(run warm)
shared=$(run shared --shared-fs)

counter () {    # AGENT NAME: a work.* counter of `testmesh stats`, 0 if absent
    local value
    value=$("$testmesh" stats --data "$scratch/$1" | sed -n "s/.*\"$2\": \([0-9]*\).*/\1/p" | head -n 1)
    echo "${value:-0}"
}
printf '\n%-10s %10s %10s %12s %14s\n' member fetch_s MiB/s blobs_fetched bytes_served
relayed=0
for i in $(seq 1 "$members"); do
    line=$(grep -h "fetched blob" "$scratch/a$i/agent.err" | head -n 1)
    secs=$(printf '%s' "$line" | sed -n 's/.* bytes in \([0-9.]*\) s.*/\1/p')
    fetched=$(counter "a$i" blobs_fetched)
    bytes=$(counter "a$i" bytes_served)
    relayed=$((relayed + bytes))
    if [ -n "$secs" ]; then
        rate=$(echo "scale=1; $size / 1048576 / $secs" | bc)
        printf '%-10s %10s %10s %12s %14s\n' "a$i" "$secs" "$rate" "$fetched" "$bytes"
    else
        printf '%-10s %10s %10s %12s %14s\n' "a$i" - - "$fetched" "$bytes"
    fi
done
served=$(counter a0 bytes_served)
printf '\norigin served %s bytes (%s copies); members relayed %s bytes (%s copies)\n' \
    "$served" "$(echo "scale=2; $served / $size" | bc)" \
    "$relayed" "$(echo "scale=2; $relayed / $size" | bc)"
printf 'wall time: cold %.2f s, warm %.2f s, --shared-fs %.2f s; shipping cost %.2f s\n' \
    "$cold" "$warm" "$shared" "$(echo "$cold - $warm" | bc)"

[ "$join_blobs" -gt 0 ] || exit 0

# join: K blobs on their owners, then a member joins
joined=$scratch/join
mkdir -p "$joined/data"
for i in $(seq 1 "$join_blobs"); do
    head -c $((join_kb * 1024)) /dev/urandom > "$(printf '%s/data/f%04d.bin' "$joined" "$i")"
done
printf '[test "join/placed"]\ncommand = /bin/true\ninputs = data/*.bin\nrequires = pool=origin\n\n' \
    > "$joined/suite.ini"
"$testmesh" run --data "$scratch/a0" --progress lines "$joined/suite.ini" \
    > "$scratch/join.out" 2>&1 || { cat "$scratch/join.out" >&2; fail "the join run failed"; }
# The owners fetch what the origin asked them to keep: wait until the
# cluster's blob count is still for 2 s
total_blobs () {
    local sum=0 i
    for i in $(seq 0 "$members"); do sum=$((sum + $(counter "a$i" store_blobs))); done
    echo "$sum"
}
last=-1; still=0
for _ in $(seq 1 600); do
    now=$(total_blobs)
    if [ "$now" -eq "$last" ]; then still=$((still + 1)); else still=0; last=$now; fi
    [ $still -ge 8 ] && break
    sleep 0.25
done
offered_before=0
for i in $(seq 0 "$members"); do offered_before=$((offered_before + $(counter "a$i" handoff_offered))); done
say "placed $join_blobs blobs of $join_kb KiB: $last copies in the stores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
new=a$((members + 1))
# The warm run again, while the newcomer joins and is handed its blobs:
# does the handoff slow the tests that run?
(
    start=$(date +%s.%N)
    "$testmesh" run --data "$scratch/a0" --progress lines "$suite/suite.ini" \
        > "$scratch/during.out" 2>&1 || echo failed > "$scratch/during.failed"
    echo "$(date +%s.%N) - $start" | bc > "$scratch/during.wall"
) &
during_pid=$!
t0=$(date +%s.%N)
start_agent "$new" "$token"
alive_at="" last_change=$t0 blobs=0 settled=0
for _ in $(seq 1 1200); do
    if [ -z "$alive_at" ] && [ "$("$testmesh" members --json --data "$scratch/a0" 2>/dev/null \
        | grep -c '"alive"')" -eq $((members + 2)) ]; then
        alive_at=$(date +%s.%N)
    fi
    now=$(counter "$new" store_blobs)
    if [ "$now" != "$blobs" ]; then blobs=$now; last_change=$(date +%s.%N); fi
    if [ -n "$alive_at" ] && [ "$(echo "$(date +%s.%N) - $last_change >= 3" | bc)" -eq 1 ]; then
        settled=1; break
    fi
    sleep 0.1
done
[ $settled -eq 1 ] || say "$new did not settle within 120 s"
wait "$during_pid"
[ ! -e "$scratch/during.failed" ] || { cat "$scratch/during.out" >&2; fail "the run during the join failed"; }
offered=0
for i in $(seq 0 "$members"); do offered=$((offered + $(counter "a$i" handoff_offered))); done
offered=$((offered - offered_before))
expected=$(echo "scale=1; $join_blobs * $replicas / ($members + 2)" | bc)
printf '\njoin of a member to %d (R = %d, %d blobs of %d KiB placed):\n' \
    "$((members + 1))" "$replicas" "$join_blobs" "$join_kb"
printf '  newcomer fetched %s blobs (%s bytes) in the background; holds %s; expected about %s\n' \
    "$(counter "$new" handoff_fetched)" "$(counter "$new" handoff_bytes)" "$blobs" "$expected"
printf '  offers sent to it: %s; fetched besides (tasks): %s\n' "$offered" \
    "$(( $(counter "$new" blobs_fetched) - $(counter "$new" handoff_fetched) ))"
printf '  seen alive after %.2f s; last blob stored after %.2f s (settled)\n' \
    "$(echo "${alive_at:-$t0} - $t0" | bc)" "$(echo "$last_change - $t0" | bc)"
printf '  the warm run meanwhile: %.2f s (%.2f s with no join)\n' "$(cat "$scratch/during.wall")" "$warm"
printf '  load after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
