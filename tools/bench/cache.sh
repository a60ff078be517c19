#!/bin/bash
# cache.sh - the result cache (docs/caching.md) on a cluster of agents on
# loopback: hit ratio and wall time of a CI-like sequence of runs, lookup
# latency through an agent's control socket, and what a joining member
# costs (values handed over, time to settle).  A benchmark, not a test:
# it prints figures, their targets and peers measured in the same
# invocation, and passes or fails nothing.
#
#   tools/bench/cache.sh [--agents N] [--slots S] [--tests C] [--sleep S]
#                        [--runs R] [--change P] [--seed S] [--pairs K]
#                        [--replicas R] [--profile lan|fast]
#                        [--lookups N] [--population M] [--batch B]
#                        [--batch-reps K] [--joins J]
#                        [--only LIST] [--scratch PREFIX]
#                        [--testmesh PATH] [--lookup-tool PATH] [--keep]
#
#   --agents N       agents of the cluster (default 5); every part uses the
#                    same cluster, started once
#   --slots S        slots per agent (default 4)
#   --tests C        tests of the CI suite (default 2000)
#   --sleep S        what each test sleeps after reading its input
#                    (default 0.05)
#   --runs R         runs of the CI sequence (default 10)
#   --change P       percent of the input files changed before each run
#                    after the first (default 10)
#   --seed S         seed of the choice of files to change (default 5)
#   --pairs K        full-hit / uncached pairs (default 3); medians
#   --replicas R     agent --cache-replicas (default 3)
#   --profile P      agent --profile, lan (default) or fast
#   --lookups N      single-key lookups (default 2000)
#   --population M   synthetic entries put for the lookup part, and asked
#                    for in the batched lookup (default 10000)
#   --batch B        keys per cache-get request in the batched lookup
#                    (default 10000: all in one request)
#   --batch-reps K   repetitions of the batched lookup (default 5); median
#   --joins J        joins of a 6th agent in the rebalance part (default 3)
#   --only LIST      comma-separated parts: ci, lookup, rebalance (default
#                    all three, in that order)
#   --scratch PREFIX scratch directory prefix (default /tmp/testmesh-cache-;
#                    mktemp appends six characters)
#   --testmesh PATH  the binary (default $TESTMESH, else build/testmesh)
#   --lookup-tool PATH  tools/bench/cache_lookup.c's binary (default
#                    build/cache-lookup: make build/cache-lookup)
#   --keep           keep the scratch directory (its path is printed)
#
# The cluster: N agents x S slots on 127.0.0.1 (--bind 127.0.0.1:0
# --no-beacon --cache-replicas R), started as tools/bench/dist_runs.sh
# does; every run is submitted to agent 1 (`testmesh run --data A1`).
#
# ci: a manifest of C tests "ci/tNNNN", each with its own declared input
# (`inputs = in/tNNNN.txt`) and the command `cat in/tNNNN.txt >/dev/null;
# sleep S` (shell = true).  It runs R times; before each run after the
# first, P % of the input files (chosen with a fixed seed, so every
# invocation changes the same files) get a new line.  Per run: wall time
# (date around `testmesh run`), hits (tests with "cached": true in the
# JSON report), hit ratio = hits / C.  With P = 10 the ideal ratio of runs
# 2..R is 0.90 (the changed tests must run); reported: their median
# (target >= 0.89).  Then K pairs, same cluster, nothing changed: a
# full-hit run (every test cached) and a `--no-cache` run (every test
# runs); their walls, medians, and the median of the pairs' ratios
# full-hit / uncached (target <= 0.05).  Peers of the uncached run, each
# once: the suite locally (`testmesh run --local --no-cache -j 4`), and
# the same commands with `xargs -P 4` and `xargs -P N*S` (`sh -c` per
# test in the suite's directory: no testmesh at all).  A peer of the
# full-hit run: the same suite with no agent (`--local`: the CLI's
# embedded cache in its own data directory, no DHT), filled by one
# `--cache=write` run, then run again: every test a hit; what the CLI's
# side of a full hit costs (hashing inputs and traced files, the share's
# reads, the report).  Correctness, for
# every testmesh run: C results, 0 not passed; runs that miss either are
# flagged "BAD".
#
# lookup: cache-lookup (tools/bench/cache_lookup.c) puts M synthetic
# entries through agent 1's control socket ("cache-put"; each signed with
# agent 1's node key, so that every member accepts it), waits until the
# cluster holds M x R more entries (`testmesh cache stats`), then, on one
# connection to agent 1's control socket:
#   single   N cache-get requests of one existing key each, one after
#            another: p50 / p99 / max ms (nearest rank; target p99 < 1)
#   batch    all M keys in cache-get requests of B keys, K times: median
#            ms (target < 100 for 10,000 keys)
#   peers    the "ping" request (no cache work: socket, agent loop and
#            JSON both ways), p50 / p99 / max over N; the same through
#            tm_control_call (a new connection per request, as the CLI
#            does), over N/10; and N point reads of agent 1's own share
#            (tm_cachedb_get on DATADIR/cache, opened read-only beside
#            the running agent): what a lookup costs without a socket or
#            the DHT.
# Missing values (null answers for keys that were put) are counted and
# printed: they should be 0.
#
# rebalance: the cluster holds what the parts before put in it (if
# nothing, M synthetic entries are put first).  A new agent starts (a
# fresh data directory, joining with agent 1's token); we poll every
# 0.25 s until, for 3 s, no agent's cache.handoff_done (`testmesh stats`)
# has changed and the newcomer's entry and record counts (`testmesh cache
# stats`) are stable.  Reported per join: values held in the cluster
# before (entries + records, with replicas: V x R for V distinct values),
# values handed (the sum over all agents of the cache.handed delta), the
# newcomer's entries + records once settled, and the settle time (from
# starting the agent to the last change seen).  Then the newcomer stops
# (TERM: it leaves), the cluster settles again, and the next join starts
# with a fresh data directory.  Medians over J joins.
#
# The expectation: with rendezvous hashing, a key's owners are the R of
# the N+1 members with the highest weight; the newcomer is among them for
# R/(N+1) of the keys (R = 3, N+1 = 6: one half), and for each of those
# exactly one old owner drops out.  So the newcomer should end up holding
# V x R/(N+1) values, and that is the least a handoff can move.  The
# handoff sends more (dht-cache/tm_dht.c, s_handoff_one): every holder
# of a value (the R - 1 old owners that stay, and the one that drops
# out) sends it to the owners that were not owners before, the
# newcomer, since no holder can know that another did; so handed =
# V x R/(N+1) x R, 3 x the minimum for R = 3.  Both figures are printed.
#
# Load averages are printed before and after each part.  Everything
# started is stopped on exit.

set -u
me=cache.sh
agents=5 slots=4 tests=2000 sleep_s=0.05 runs=10 change=10 seed=5 pairs=3
replicas=3 profile=lan lookups=2000 population=10000 batch=0 batch_reps=5 joins=3
only=ci,lookup,rebalance keep=0 scratch=/tmp/testmesh-cache-
testmesh=${TESTMESH:-build/testmesh}
tool=build/cache-lookup

fail () { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }
say () { printf '%s: %s\n' "$me" "$*" >&2; }
usage_error () { printf '%s: %s (see the header of %s)\n' "$me" "$1" "$0" >&2; exit 2; }
is_count () { case $1 in ''|*[!0-9]*) return 1 ;; esac; [ "$1" -ge 1 ]; }
is_unum () { case $1 in ''|.|*[!0-9.]*|*.*.*) return 1 ;; esac; return 0; }

while [ $# -gt 0 ]; do
    opt=$1
    case $opt in
        --keep) keep=1; shift; continue ;;
    esac
    [ $# -ge 2 ] || usage_error "$opt wants a value"
    val=$2
    case $opt in
        --agents) is_count "$val" && [ "$val" -ge 2 ] || usage_error "--agents wants 2 or more"; agents=$val ;;
        --slots) is_count "$val" || usage_error "--slots wants a count"; slots=$val ;;
        --tests) is_count "$val" && [ "$val" -le 9999 ] || usage_error "--tests wants 1 to 9999"; tests=$val ;;
        --sleep) is_unum "$val" || usage_error "--sleep wants seconds"; sleep_s=$val ;;
        --runs) is_count "$val" && [ "$val" -ge 2 ] || usage_error "--runs wants 2 or more"; runs=$val ;;
        --change) is_count "$val" && [ "$val" -le 100 ] || usage_error "--change wants 1 to 100"; change=$val ;;
        --seed) case $val in ''|*[!0-9]*) usage_error "--seed wants a number" ;; esac; seed=$val ;;
        --pairs) is_count "$val" || usage_error "--pairs wants a count"; pairs=$val ;;
        --replicas) is_count "$val" && [ "$val" -le 16 ] || usage_error "--replicas wants 1 to 16"; replicas=$val ;;
        --profile) case $val in lan|fast) ;; *) usage_error "--profile wants lan or fast" ;; esac; profile=$val ;;
        --lookups) is_count "$val" || usage_error "--lookups wants a count"; lookups=$val ;;
        --population) is_count "$val" || usage_error "--population wants a count"; population=$val ;;
        --batch) is_count "$val" || usage_error "--batch wants a count"; batch=$val ;;
        --batch-reps) is_count "$val" || usage_error "--batch-reps wants a count"; batch_reps=$val ;;
        --joins) is_count "$val" || usage_error "--joins wants a count"; joins=$val ;;
        --only) for part in $(echo "$val" | tr ',' ' '); do
                    case $part in ci|lookup|rebalance) ;;
                    *) usage_error "--only wants a list of ci, lookup, rebalance" ;; esac
                done
                only=$val ;;
        --scratch) scratch=$val ;;
        --testmesh) testmesh=$val ;;
        --lookup-tool) tool=$val ;;
        *) usage_error "unknown option $opt" ;;
    esac
    shift 2
done
[ "$batch" -gt 0 ] || batch=$population
[ -x "$testmesh" ] || fail "no testmesh binary at $testmesh (make build/testmesh)"
testmesh=$(cd "$(dirname "$testmesh")" && pwd)/$(basename "$testmesh")
wants () { case ",$only," in *",$1,"*) return 0 ;; esac; return 1; }
if wants lookup || wants rebalance; then
    [ -x "$tool" ] || fail "no cache-lookup at $tool (make build/cache-lookup)"
    tool=$(cd "$(dirname "$tool")" && pwd)/$(basename "$tool")
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
# The runs here decide themselves whether to use the cache
unset TESTMESH_CACHE

work=$(mktemp -d "${scratch}XXXXXX") || fail "cannot create a scratch directory from $scratch"
pids=""
cleanup () {
    for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
    wait 2>/dev/null
    if [ "$keep" -eq 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now () { date +%s.%N; }
since () { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.3f", a - b }'; }
median () { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v [NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v [(NR + 1) / 2]; else printf "%.4f\n", (v [NR / 2] + v [NR / 2 + 1]) / 2 }'; }
ratio () { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.4f", a / b; else print "-" }'; }
loadavg () { cut -d' ' -f1-3 /proc/loadavg; }

# start_agent DIR NAME [TOKEN]: starts an agent, appends its pid, sets last_pid
start_agent () {
    mkdir -p "$1"
    set -- "$1" "$2" "${3:-}"
    if [ -n "$3" ]; then
        "$testmesh" agent --data "$1" --bind 127.0.0.1:0 --no-beacon --name "$2" --slots "$slots" \
            --profile "$profile" --cache-replicas "$replicas" --join "$3" --join-timeout 120 \
            >> "$1.log" 2>&1 &
    else
        "$testmesh" agent --data "$1" --bind 127.0.0.1:0 --no-beacon --name "$2" --slots "$slots" \
            --profile "$profile" --cache-replicas "$replicas" >> "$1.log" 2>&1 &
    fi
    last_pid=$!
    pids="$pids $last_pid"
}

# alive DIR: how many members agent DIR sees alive with slots
alive () {
    "$testmesh" members --json --data "$1" 2>/dev/null | python3 -c 'import json,sys
try: m = json.load (sys.stdin)
except Exception: m = []
print (sum (1 for x in m if x.get ("state") == "alive" and (x.get ("slots") or 0) > 0))' 2>/dev/null || echo 0
}

# cluster: starts the N agents in $work/c/1..N; waits until every one
# sees N alive (the cache's placement needs all to agree)
cluster () {
    local d=$work/c i t0 ok
    mkdir -p "$d"
    t0=$(date +%s)
    start_agent "$d/1" a1
    for _ in $(seq 100); do
        token=$(sed -n 's/^join token: //p' "$d/1.log" 2>/dev/null)
        [ -n "$token" ] && break
        sleep 0.1
    done
    [ -n "$token" ] || fail "agent 1 printed no token"
    for i in $(seq 2 "$agents"); do start_agent "$d/$i" "a$i" "$token"; done
    while :; do
        ok=0
        for i in $(seq 1 "$agents"); do [ "$(alive "$d/$i")" -ge "$agents" ] && ok=$((ok + 1)); done
        [ "$ok" -eq "$agents" ] && break
        [ $(( $(date +%s) - t0 )) -lt 120 ] || fail "the cluster of $agents did not form in 120 s"
        sleep 0.5
    done
    say "cluster of $agents x $slots slots formed in $(( $(date +%s) - t0 )) s"
}

# held DIR: "entries records" summed over every member's share, as
# agent DIR's `cache stats` sees them
held () {
    "$testmesh" cache stats --json --data "$1" 2>/dev/null | python3 -c 'import json,sys
try: m = json.load (sys.stdin) ["members"]
except Exception: m = []
print (sum (x ["entries"] for x in m), sum (x ["records"] for x in m), len (m))' 2>/dev/null || echo "0 0 0"
}

# own DIR NAME: "entries records" of member NAME's share
own () {
    "$testmesh" cache stats --json --data "$1" 2>/dev/null | python3 -c 'import json,sys
try: m = json.load (sys.stdin) ["members"]
except Exception: m = []
print (" ".join ("%d %d" % (x ["entries"], x ["records"]) for x in m if x ["name"] == sys.argv [1]) or "- -")' "$2" 2>/dev/null || echo "- -"
}

# counter DIR NAME: agent DIR's cache counter NAME (`testmesh stats`)
counter () {
    "$testmesh" stats --data "$1" 2>/dev/null | python3 -c 'import json,sys
print (json.load (sys.stdin) ["cache"] [sys.argv [1]])' "$2" 2>/dev/null || echo 0
}

# ---------------------------------------------------------------------- ci
# make_suite DIR: the manifest and its inputs
make_suite () {
    local d=$1
    mkdir -p "$d/in"
    python3 - "$d" "$tests" "$sleep_s" <<'EOF'
import sys
d, n, s = sys.argv [1], int (sys.argv [2]), sys.argv [3]
with open (d + "/suite.ini", "w") as f:
    f.write ("[defaults]\nshell = true\n\n")
    for i in range (1, n + 1):
        open ("%s/in/t%04d.txt" % (d, i), "w").write ("input %d\n" % i)
        f.write ('[test "ci/t%04d"]\ncommand = cat in/t%04d.txt >/dev/null; sleep %s\ninputs = in/t%04d.txt\n\n'
                 % (i, i, s, i))
EOF
}

# change_inputs DIR RUN: appends a line to P % of the inputs (fixed seed per run)
change_inputs () {
    python3 - "$1" "$tests" "$change" "$seed" "$2" <<'EOF'
import random, sys
d, n, p, seed, run = sys.argv [1], int (sys.argv [2]), int (sys.argv [3]), int (sys.argv [4]), int (sys.argv [5])
rng = random.Random (seed * 1000 + run)
for i in rng.sample (range (1, n + 1), n * p // 100):
    open ("%s/in/t%04d.txt" % (d, i), "a").write ("changed before run %d\n" % run)
EOF
}

# tally REPORT: "results hits not_passed" of a JSON report
tally () {
    python3 -c 'import json,sys
try: t = json.load (open (sys.argv [1])) ["tests"]
except Exception: t = None
if t is None: print ("0 0 0")
else: print (len (t), sum (1 for x in t if x.get ("cached") is True), sum (1 for x in t if x ["status"] != "passed"))' "$1"
}

# timed_run NAME ARGS...: one run from agent 1 into $d/NAME.{json,out};
# sets wall and results hits bad (bad: "" or " BAD (why)")
timed_run () {
    local name=$1 t0 rc
    shift
    t0=$(now)
    "$testmesh" run --data "$work/c/1" --progress lines --json "$d/$name.json" "$@" \
        "$d/suite/suite.ini" > "$d/$name.out" 2>&1
    rc=$?
    wall=$(since "$t0")
    read -r results hits notpassed < <(tally "$d/$name.json")
    bad=""
    [ "$rc" -eq 0 ] && [ "$results" -eq "$tests" ] && [ "$notpassed" -eq 0 ] \
        || bad=" BAD (exit $rc, $results results, $notpassed not passed)"
}

ci_part () {
    local d=$work/ci run ratios="" line full unc fulls="" uncs="" pratios="" k
    mkdir -p "$d"
    make_suite "$d/suite"
    say "ci: load average $(loadavg); $runs runs of $tests tests, $change % of the inputs changed before each run after the first"
    : > "$d/runs"
    for run in $(seq 1 "$runs"); do
        [ "$run" -eq 1 ] || change_inputs "$d/suite" "$run"
        timed_run "run$run"
        line=$(printf '  %4d %9s %7d %8s%s' "$run" "$wall" "$hits" "$(ratio "$hits" "$tests")" "$bad")
        echo "$line" >> "$d/runs"
        say "ci: run $run:$line"
        [ "$run" -eq 1 ] || ratios="$ratios $(ratio "$hits" "$tests")"
    done
    for k in $(seq 1 "$pairs"); do
        timed_run "full$k"
        full=$wall
        echo "  full-hit $k: $wall s, $hits hits$bad" >> "$d/pairs"
        timed_run "uncached$k" --no-cache
        unc=$wall
        echo "  uncached $k: $wall s, $hits hits$bad" >> "$d/pairs"
        fulls="$fulls $full" uncs="$uncs $unc" pratios="$pratios $(ratio "$full" "$unc")"
        say "ci: pair $k: full-hit $full s, uncached $unc s"
    done
    say "ci: peers: --local --no-cache -j 4, an embedded full hit, xargs -P 4, xargs -P $((agents * slots))"
    local t0 lwall lrc lres lbad x4 xn
    t0=$(now)
    "$testmesh" run --local --no-cache -j 4 --data "$d/local" --progress lines --json "$d/local.json" \
        "$d/suite/suite.ini" > "$d/local.out" 2>&1
    lrc=$?
    lwall=$(since "$t0")
    read -r lres _ lbad < <(tally "$d/local.json")
    # The CLI's own share of a full hit: an embedded cache (no agent, no
    # DHT) filled by one --cache=write run, then a full-hit run
    "$testmesh" run --local --cache=write -j 4 --data "$d/embedded" --progress lines \
        "$d/suite/suite.ini" > "$d/embedded-fill.out" 2>&1
    local ewall eres ehits ebad
    t0=$(now)
    "$testmesh" run --local -j 4 --data "$d/embedded" --progress lines --json "$d/embedded.json" \
        "$d/suite/suite.ini" > "$d/embedded.out" 2>&1
    ewall=$(since "$t0")
    read -r eres ehits ebad < <(tally "$d/embedded.json")
    # The same commands with no testmesh: sh -c per test, in the suite's directory
    seq -f '%04g' 1 "$tests" > "$d/ids"
    t0=$(now)
    (cd "$d/suite" && xargs -P 4 -I{} sh -c "cat in/t{}.txt >/dev/null; sleep $sleep_s" < "$d/ids")
    x4=$(since "$t0")
    t0=$(now)
    (cd "$d/suite" && xargs -P $((agents * slots)) -I{} sh -c "cat in/t{}.txt >/dev/null; sleep $sleep_s" < "$d/ids")
    xn=$(since "$t0")
    local fm um
    fm=$(echo "$fulls" | median) um=$(echo "$uncs" | median)
    echo
    echo "ci: $tests tests (cat own input; sleep $sleep_s) on $agents agents x $slots slots, R = $replicas, $change % of inputs changed before runs 2..$runs"
    echo "   run    wall s    hits    ratio"
    cat "$d/runs"
    printf '  %-44s %s (target >= 0.89, ideal %s)\n' "median hit ratio, runs 2..$runs" \
        "$(echo "$ratios" | median)" "$(awk -v p="$change" 'BEGIN { printf "%.2f", 1 - p / 100 }')"
    cat "$d/pairs"
    printf '  %-44s %s s (runs:%s)\n' "full-hit wall, median" "$fm" "$fulls"
    printf '  %-44s %s s (runs:%s)\n' "uncached (--no-cache) wall, median" "$um" "$uncs"
    printf '  %-44s %s (target <= 0.05; pairs:%s)\n' "full-hit / uncached, median of pairs" "$(echo "$pratios" | median)" "$pratios"
    printf '  %-44s %s s (exit %s, %s results, %s not passed); uncached / it %s\n' "peer: --local --no-cache -j 4" \
        "$lwall" "$lrc" "$lres" "$lbad" "$(ratio "$um" "$lwall")"
    printf '  %-44s %s s (%s results, %s hits); cluster full-hit / it %s\n' "peer: full hit, --local (embedded cache)" \
        "$ewall" "$eres" "$ehits" "$(ratio "$fm" "$ewall")"
    [ "$eres" -eq "$tests" ] && [ "$ebad" -eq 0 ] || echo "    BAD: the embedded full hit had $eres results, $ebad not passed"
    printf '  %-44s %s s; uncached / it %s\n' "peer: xargs -P 4 sh -c" "$x4" "$(ratio "$um" "$x4")"
    printf '  %-44s %s s; uncached / it %s\n' "peer: xargs -P $((agents * slots)) sh -c" "$xn" "$(ratio "$um" "$xn")"
    printf '  %-44s %s s (the work at %d at once, no overhead)\n' "bound: tests x sleep / slots" \
        "$(awk -v n="$tests" -v s="$sleep_s" -v k=$((agents * slots)) 'BEGIN { printf "%.2f", n * s / k }')" $((agents * slots))
}

# ------------------------------------------------------------------ lookup
# populate M: puts M synthetic entries through agent 1, keys to $work/keys;
# waits until the cluster holds M x R more entries
populate () {
    local m=$1 before target t0 e
    read -r before _ _ < <(held "$work/c/1")
    "$tool" populate "$work/c/1" "$m" > "$work/keys" || fail "cache-lookup populate failed"
    target=$((before + m * (replicas < agents ? replicas : agents)))
    t0=$(date +%s)
    while :; do
        read -r e _ _ < <(held "$work/c/1")
        [ "$e" -ge "$target" ] && break
        [ $(( $(date +%s) - t0 )) -lt 120 ] \
            || { say "lookup: the cluster holds $e entries, not $target, after 120 s; going on"; break; }
        sleep 0.5
    done
}

lookup_part () {
    local d=$work/lookup n p50 p99 max reps
    mkdir -p "$d"
    say "lookup: load average $(loadavg); putting $population synthetic entries"
    populate "$population"
    say "lookup: single, batch, peers"
    "$tool" single "$work/c/1" "$lookups" < "$work/keys" > "$d/single" || fail "cache-lookup single failed"
    "$tool" batch "$work/c/1" "$batch_reps" "$batch" < "$work/keys" > "$d/batch" || fail "cache-lookup batch failed"
    "$tool" ping "$work/c/1" "$lookups" > "$d/ping" || fail "cache-lookup ping failed"
    "$tool" keys "$work/c/1" > "$d/ownkeys" || fail "cache-lookup keys failed"
    "$tool" local "$work/c/1" "$lookups" < "$d/ownkeys" > "$d/local" || fail "cache-lookup local failed"
    echo
    echo "lookup: through agent 1's control socket, $agents agents, R = $replicas, $population synthetic entries"
    read -r n p50 p99 max < "$d/single"
    printf '  %-44s p50 %s ms, p99 %s ms, max %s ms (target p99 < 1; %s)\n' \
        "single-key cache-get, $n" "$p50" "$p99" "$max" "$(sed -n 's/^missing/missing/p' "$d/single")"
    reps=$(grep -v missing "$d/batch" | tr '\n' ' ')
    printf '  %-44s median %s ms (target < 100; reps: %s; %s)\n' \
        "$population keys, $batch per request" "$(echo "$reps" | median)" "$reps" "$(grep missing "$d/batch")"
    read -r n p50 p99 max < <(head -n 1 "$d/ping")
    printf '  %-44s p50 %s ms, p99 %s ms, max %s ms\n' "peer: ping, same connection, $n" "$p50" "$p99" "$max"
    read -r _ n p50 p99 max < <(grep '^call' "$d/ping")
    printf '  %-44s p50 %s ms, p99 %s ms, max %s ms\n' "peer: ping, tm_control_call (new conn.), $n" "$p50" "$p99" "$max"
    read -r n p50 p99 max < "$d/local"
    printf '  %-44s p50 %s ms, p99 %s ms, max %s ms (of %s keys in the share; %s)\n' \
        "peer: tm_cachedb_get on agent 1's share, $n" "$p50" "$p99" "$max" "$(wc -l < "$d/ownkeys")" "$(grep missing "$d/local")"
}

# --------------------------------------------------------------- rebalance
# handed_sum: "handed handoff_runs", each summed over agents 1..N (and the
# newcomer if it runs: $newdir)
handed_sum () {
    local i t=0 h=0 dirs=""
    for i in $(seq 1 "$agents"); do dirs="$dirs $work/c/$i"; done
    [ -z "${newdir:-}" ] || dirs="$dirs $newdir"
    for i in $dirs; do
        t=$((t + $(counter "$i" handed)))
        h=$((h + $(counter "$i" handoff_runs)))
    done
    echo "$t $h"
}

# done_marks: every agent's handoff_done, one string
done_marks () {
    local i dirs=""
    for i in $(seq 1 "$agents"); do dirs="$dirs $work/c/$i"; done
    [ -z "${newdir:-}" ] || dirs="$dirs $newdir"
    for i in $dirs; do printf '%s ' "$(counter "$i" handoff_done)"; done
}

# settle T0 NAME: polls until, for 3 s, no agent's handoff_done and NAME's
# share (if NAME) have changed; sets settled (seconds from T0 to the last
# change) and newheld ("entries records" of NAME)
settle () {
    local t0=$1 name=${2:-} marks last="" lastheld="" changed quiet
    changed=$(now)
    newheld="- -"
    while :; do
        marks=$(done_marks)
        [ -z "$name" ] || newheld=$(own "$work/c/1" "$name")
        if [ "$marks|$newheld" != "$last|$lastheld" ]; then
            last=$marks lastheld=$newheld changed=$(now)
        fi
        quiet=$(since "$changed")
        awk -v q="$quiet" 'BEGIN { exit !(q >= 3) }' && break
        awk -v a="$(now)" -v b="$t0" 'BEGIN { exit !(a - b < 300) }' \
            || { say "rebalance: not settled after 300 s"; break; }
        sleep 0.25
    done
    settled=$(awk -v a="$changed" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
}

rebalance_part () {
    local d=$work/rebalance j e r m before after hbefore hafter t0 handed_list="" times="" newe newr
    local held_list="" expect minimum
    mkdir -p "$d"
    read -r e r m < <(held "$work/c/1")
    if [ "$e" -eq 0 ]; then
        say "rebalance: the cluster is empty; putting $population synthetic entries"
        populate "$population"
        read -r e r m < <(held "$work/c/1")
    fi
    say "rebalance: load average $(loadavg); the cluster holds $e entries and $r records (with replicas)"
    : > "$d/joins"
    newdir=""
    for j in $(seq 1 "$joins"); do
        read -r e r m < <(held "$work/c/1")
        read -r before hbefore <<< "$(handed_sum)"
        newdir=$d/new$j
        t0=$(now)
        start_agent "$newdir" "n$j" "$token"
        local newpid=$last_pid
        settle "$t0" "n$j"
        read -r after hafter <<< "$(handed_sum)"
        read -r newe newr <<< "$newheld"
        expect=$(awk -v v=$((e + r)) -v R="$replicas" -v n=$((agents + 1)) 'BEGIN { printf "%.0f", v / R * R / n }')
        printf '  %4d %12d %12d %9d %10s %14s %9s\n' "$j" $((e + r)) $((after - before)) \
            $((hafter - hbefore)) "$((newe + newr))" "$expect" "$settled" >> "$d/joins"
        say "rebalance: join $j: handed $((after - before)), newcomer holds $newe + $newr, settled in $settled s"
        handed_list="$handed_list $((after - before))" times="$times $settled" held_list="$held_list $((newe + newr))"
        # It leaves; the others settle before the next join
        kill -TERM "$newpid" 2>/dev/null
        wait "$newpid" 2>/dev/null
        newdir=""
        settle "$(now)"
        say "rebalance: n$j left; settled again"
    done
    read -r e r m < <(held "$work/c/1")
    expect=$(awk -v v=$((e + r)) -v R="$replicas" -v n=$((agents + 1)) 'BEGIN { printf "%.0f", v / R * R / n }')
    minimum=$expect
    echo
    echo "rebalance: a 6th agent joins $agents holding $((e + r)) values (entries + records, with R = $replicas replicas: $(( (e + r) / replicas )) distinct), $joins joins"
    echo "  join  values held       handed  handoffs   newcomer  expect V*R/(N+1)  settle s"
    cat "$d/joins"
    printf '  %-44s %s (minimum %s = V x R/(N+1); with the handoff as built, expect %s = minimum x R)\n' \
        "values handed, median" "$(echo "$handed_list" | median)" "$minimum" "$((minimum * replicas))"
    printf '  %-44s %s (expect %s)\n' "newcomer's values once settled, median" "$(echo "$held_list" | median)" "$minimum"
    printf '  %-44s %s s (runs:%s)\n' "start to settled, median" "$(echo "$times" | median)" "$times"
}

say "load average before: $(loadavg)"
cluster
! wants ci || ci_part
say "load average: $(loadavg)"
! wants lookup || lookup_part
say "load average: $(loadavg)"
! wants rebalance || rebalance_part
say "load average after: $(loadavg)"
