#!/bin/sh
# lan_test.sh - agents on a real (virtual) LAN: discovery by beacon, a cut
# link, its repair, and a run spread over them, in network namespaces.
#
#   tests/netns/lan_test.sh [BUILD]      (BUILD defaults to build)
#
# The LAN: a namespace holding a bridge, and four namespaces (one per
# agent), each with a veth pair from its eth0 to the bridge and an
# address in 10.213.7.0/24 with a broadcast address, so zbeacon works.
# The addresses exist only inside these namespaces: nothing is sent
# outside them.  Names carry this shell's pid, so two runs do not clash.
#
#   lan_beacon_discovery_without_seed   agent 1 creates the cluster; 2..4
#                                       get a token with NO seed address
#                                       (strip_seeds.c) and must find agent
#                                       1 by UDP beacon: all see 4 alive
#   lan_cut_link_declares_node_dead     the bridge side of node 4's link
#                                       goes down: nodes 1..3 all see it dead
#   lan_restored_link_rejoins           the link comes back: all 4 views
#                                       converge to 4 alive
#   lan_run_spreads_over_namespaces     `testmesh run` inside namespace 2,
#                                       submitted to its agent: 40 tests,
#                                       each with exactly one result, all
#                                       passed, run by more than one member
#                                       (the JSON report's "member"): tasks
#                                       and results cross the bridge
#                                       between really separate addresses
#
# The namespaces share this machine's file system, so every member sees
# the manifest and the commands at the same paths, as a distributed run
# requires (docs/scheduling.md, "Limits today"); only the network is
# separate.  Every wait is a poll of `testmesh members --json` (inside the
# agent's namespace) against a deadline; the only sleep is the poll
# interval.  Agents run the fast gossip profile.  Takes about 15 s, at
# most 120.
#
# Prints PASS/FAIL per case and, last, "N passed, M failed".  Exit status:
# 0 all passed, 1 a case failed, 77 cannot run here (not root, or no
# `ip netns`); tools/run_tests.sh counts 77 as a failure, not a pass.
# Everything made here (agents, namespaces, bridge, veths, files) goes on
# exit, failed or not.

me=lan_test.sh
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
bin=$build/testmesh
nodes=4
net=10.213.7
tag=tml$$                       # namespace prefix: tml<pid>-br, tml<pid>-1 ...
POLL=0.1                        # s between polls

say () { printf '%s: %s\n' "$me" "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    say "needs root to create network namespaces (run as root, as CI does); not run"
    exit 77
fi
if ! command -v ip >/dev/null 2>&1 || ! ip netns list >/dev/null 2>&1; then
    say "needs 'ip netns' (Debian package iproute2); not run"
    exit 77
fi
if [ ! -x "$bin" ] || [ ! -f "$build/libtestmesh.a" ]; then
    say "no $bin or $build/libtestmesh.a: build first (make)"
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/tm-lan.XXXXXX") || exit 1
pids=""
cleanup () {
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null; done
    # Give them a moment to leave, then make sure
    t=0
    while [ $t -lt 20 ]; do
        alive=""
        for pid in $pids; do kill -0 "$pid" 2>/dev/null && alive="$alive $pid"; done
        [ -z "$alive" ] && break
        sleep 0.1; t=$((t + 1))
    done
    for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
    for pid in $pids; do wait "$pid" 2>/dev/null; done
    i=1
    while [ $i -le $nodes ]; do
        ip netns del "$tag-$i" 2>/dev/null          # takes its end of the veth
        i=$((i + 1))
    done
    ip netns del "$tag-br" 2>/dev/null              # takes the bridge and the rest
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# ------------------------------------------------------------ the LAN
ip netns add "$tag-br" || { say "cannot create a network namespace"; exit 77; }
ip -n "$tag-br" link add br0 type bridge || exit 1
ip -n "$tag-br" link set br0 up || exit 1
ip -n "$tag-br" link set lo up
i=1
while [ $i -le $nodes ]; do
    ns=$tag-$i
    ip netns add "$ns" || exit 1
    ip -n "$tag-br" link add "v$i" type veth peer name eth0 netns "$ns" || exit 1
    ip -n "$tag-br" link set "v$i" master br0 up || exit 1
    ip -n "$ns" link set lo up || exit 1
    ip -n "$ns" addr add "$net.$i/24" brd + dev eth0 || exit 1
    ip -n "$ns" link set eth0 up || exit 1
    i=$((i + 1))
done

# The helper that makes a seedless token, against the library under test
helper=$work/strip_seeds
pkgs="libczmq libzmq libsodium rocksdb inih jansson"
if ! ${CC:-cc} -std=gnu11 -D_GNU_SOURCE -O1 -I"$root/node" -I"$root/gossip" \
        $(pkg-config --cflags $pkgs) "$root/tests/netns/strip_seeds.c" \
        "$build/libtestmesh.a" $(pkg-config --libs $pkgs) -lpthread -lm -o "$helper"; then
    say "cannot build strip_seeds.c"
    exit 1
fi

# ------------------------------------------------------------ helpers
# start_agent I [ARGS...]: agent I in namespace I, bound to its address
start_agent () {
    n=$1; shift
    mkdir -p "$work/d$n"
    ip netns exec "$tag-$n" env ZSYS_INTERFACE=eth0 "$bin" agent --data "$work/d$n" \
        --bind "$net.$n:9950" --name "n$n" --profile fast --join-timeout 50 "$@" \
        >"$work/agent$n.log" 2>&1 &
    pids="$pids $!"
    eval "pid$n=$!"
}

# view I: "name state" lines of agent I's member table (empty if no answer)
view () {
    ip netns exec "$tag-$1" "$bin" members --json --data "$work/d$1" 2>/dev/null |
        awk '/^    "name": / { sub (/^    "name": "/, ""); sub (/",?$/, ""); name = $0 }
             /^    "state": / { sub (/^    "state": "/, ""); sub (/",?$/, ""); print name, $0 }'
}

# state_of I NAME: the state agent I gives NAME ("absent" if none)
state_of () {
    s=$(view "$1" | awk -v n="$2" '$1 == n { print $2 }')
    echo "${s:-absent}"
}

now () { date +%s.%N; }
elapsed () { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
past () { awk -v d="$1" -v t="$(now)" 'BEGIN { exit !(t >= d) }'; }
deadline () { awk -v s="$1" -v t="$(now)" 'BEGIN { printf "%.3f", t + s }'; }

# all_alive: every agent sees all $nodes alive
all_alive () {
    i=1
    while [ $i -le $nodes ]; do
        [ "$(view $i | awk '$2 == "alive"' | wc -l)" -eq $nodes ] || return 1
        i=$((i + 1))
    done
}

# views: one line per agent, for failure messages
views () {
    i=1
    while [ $i -le $nodes ]; do
        printf '    n%s sees: %s\n' $i "$(view $i | tr '\n' ' ')"
        i=$((i + 1))
    done
}

passed=0; failed=0
pass () { say "PASS $1 ($2)"; passed=$((passed + 1)); }
fail () {
    say "FAIL $1: $2"
    views
    for f in "$work"/agent*.log; do
        printf '    --- %s (last lines)\n' "$(basename "$f")"
        tail -n 8 "$f" | sed 's/^/    /'
    done
    failed=$((failed + 1))
}
finish () {
    echo "$passed passed, $failed failed"
    [ $failed -eq 0 ]
    exit $?
}

# ------------------------------------------------------------ a. discovery
case=lan_beacon_discovery_without_seed
start_agent 1
token=""
until=$(deadline 5)
while [ -z "$token" ] && ! past "$until" && kill -0 "$pid1" 2>/dev/null; do
    token=$(sed -n 's/^join token: //p' "$work/agent1.log")
    [ -n "$token" ] || sleep $POLL
done
seedless=""
if [ -n "$token" ]; then
    seedless=$(printf '%s' "$token" | "$helper")
fi
if [ -z "$seedless" ]; then
    fail $case "agent 1 printed no usable join token"
    failed=$((failed + 3))              # the other cases cannot run
    say "FAIL lan_cut_link_declares_node_dead: not run"
    say "FAIL lan_restored_link_rejoins: not run"
    say "FAIL lan_run_spreads_over_namespaces: not run"
    finish
fi
start=$(now)
i=2
while [ $i -le $nodes ]; do
    start_agent $i --join "$seedless"
    i=$((i + 1))
done
until=$(deadline 15)
ok=false
while ! past "$until"; do
    if all_alive; then ok=true; break; fi
    sleep $POLL
done
# The joiners had no seed: each must say it was let in by n1's address,
# which only n1's beacon could have told it
i=2; through=true
while [ $i -le $nodes ]; do
    grep -q "joined the cluster through $net.1:9950" "$work/agent$i.log" || through=false
    i=$((i + 1))
done
if $ok && $through; then
    pass $case "4 alive in every view $(elapsed "$start") s after the joiners started"
elif $ok; then
    fail $case "4 alive, but not every joiner says it joined through $net.1:9950"
else
    fail $case "not every agent saw $nodes alive within 15 s"
fi

# ------------------------------------------------------------ b. cut a link
case=lan_cut_link_declares_node_dead
cut=$nodes
ip -n "$tag-br" link set "v$cut" down
start=$(now)
until=$(deadline 10)
ok=false
while ! past "$until"; do
    agree=true
    i=1
    while [ $i -lt $cut ]; do
        [ "$(state_of $i "n$cut")" = dead ] || { agree=false; break; }
        i=$((i + 1))
    done
    if $agree; then ok=true; break; fi
    sleep $POLL
done
if $ok; then
    pass $case "n$cut dead in the views of n1..n$((cut - 1)) $(elapsed "$start") s after the cut"
else
    fail $case "n1..n$((cut - 1)) did not all see n$cut dead within 10 s"
fi

# ------------------------------------------------------------ c. restore it
case=lan_restored_link_rejoins
ip -n "$tag-br" link set "v$cut" up
start=$(now)
until=$(deadline 20)
ok=false
while ! past "$until"; do
    if all_alive; then ok=true; break; fi
    sleep $POLL
done
if $ok; then
    pass $case "4 alive in every view $(elapsed "$start") s after the link came back"
else
    fail $case "the views did not converge to $nodes alive within 20 s"
fi

# ------------------------------------------------------------ d. a run
case=lan_run_spreads_over_namespaces
origin=2                                # not the first agent: no node is special
manifest=$work/suite.ini
{
    printf '[defaults]\ntimeout = 30\n\n'
    i=1
    while [ $i -le 40 ]; do
        printf '[test "lan/%02d"]\ncommand = sleep 0.2\n\n' $i
        i=$((i + 1))
    done
} > "$manifest"
start=$(now)
ip netns exec "$tag-$origin" timeout 60 "$bin" run --data "$work/d$origin" --progress lines \
    --json "$work/run.json" "$manifest" > "$work/run.out" 2>&1
rc=$?
# The report has one test per line: "results distinct passed members"
# shellcheck disable=SC2046  # four numbers, split on purpose
set -- $(awk '
    /^    \{"id": "/ {
        n++
        id = $0; sub (/^    \{"id": "/, "", id); sub (/".*$/, "", id); seen [id]++
        if ($0 ~ /"status": "passed"/) passed++
        m = $0; if (sub (/^.*"member": "/, "", m)) { sub (/".*$/, "", m); members [m] = 1 }
    }
    END { d = 0; for (i in seen) d++; k = 0; for (i in members) k++
          printf "%d %d %d %d\n", n, d, passed, k }' "$work/run.json" 2>/dev/null)
results=${1:-0} distinct=${2:-0} passed_tests=${3:-0} members=${4:-0}
if [ "$rc" -eq 0 ] && [ "$results" -eq 40 ] && [ "$distinct" -eq 40 ] \
   && [ "$passed_tests" -eq 40 ] && [ "$members" -gt 1 ]; then
    pass $case "40 results, all passed, run by $members members, $(elapsed "$start") s"
else
    fail $case "exit $rc; $results results for $distinct distinct tests, $passed_tests passed, $members member(s) ran tests (want 40, 40, 40, > 1)"
    printf '    --- the run (last lines)\n'
    tail -n 8 "$work/run.out" | sed 's/^/    /'
fi

finish
