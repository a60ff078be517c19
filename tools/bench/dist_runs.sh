#!/bin/bash
# dist_runs.sh - how a run spread over agents behaves: work-stealing
# efficiency on a skewed suite, and correctness while agents are killed.
# A benchmark, not a test: it prints figures and the targets, and passes
# or fails nothing.
#
#   tools/bench/dist_runs.sh [--agents N] [--slots S] [--tests C]
#                            [--reps R] [--fault-agents N] [--fault-tests C]
#                            [--fault-kills K] [--only steal|faults]
#                            [--testmesh PATH] [--keep]
#
#   --agents N        agents of the stealing run (default 20)
#   --slots S         slots per agent there (default 4)
#   --tests C         tests of the skewed suite (default 400)
#   --reps R          repetitions of the stealing run; medians (default 3)
#   --fault-agents N  agents of the fault run (default 10)
#   --fault-tests C   tests of the fault run (default 10000)
#   --fault-kills K   agents SIGKILLed (and restarted) during it (default 3)
#   --only WHAT       run only one of the two parts
#   --testmesh PATH   the binary (default build/testmesh)
#   --keep            keep the scratch directory (its path is printed)
#
# Stealing: a manifest of sleep tests with log-normal durations
# (tools/gen_suite.sh --durations lognormal:-1.6:1.1, about 0.4 s mean,
# a long tail) runs on N agents x S slots on loopback (lan profile).  The
# figure is makespan / max (total work / slots, longest test): 1.00 is a
# perfect schedule.  Makespan is the report's first start to last end.
# Beside it, "static" is the same ratio for static round-robin sharding
# (test i to agent i mod N, each agent running its share in order on its
# S slots), computed exactly from the durations with zero overhead: the
# schedule a test-splitting tool without stealing would get at best.
#
# Faults: a manifest of C tests (true, or exit 1 for 10 %, from
# gen_suite.sh's ground truth) on N agents x 2 slots; once the run is
# under way K agents (not the origin) are SIGKILLed one after another and
# restarted on their data directories.  Every test must have exactly one
# result, and it must match the ground truth: lost, duplicated and wrong
# are counted.
#
# Targets (issue #4): stealing ratio <= 1.10; faults: 0 lost, 0
# duplicated, 0 wrong.  Everything started is stopped on exit.

set -u
me=dist_runs.sh
agents=20 slots=4 tests=400 reps=3
fault_agents=10 fault_tests=10000 fault_kills=3
only="" keep=0
testmesh=${TESTMESH:-build/testmesh}

fail () { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }
say () { printf '%s: %s\n' "$me" "$*" >&2; }
usage_error () { printf '%s: %s (see the header of %s)\n' "$me" "$1" "$0" >&2; exit 2; }
is_count () { case $1 in ''|*[!0-9]*) return 1 ;; esac; [ "$1" -ge 1 ]; }

while [ $# -gt 0 ]; do
    opt=$1
    case $opt in
        --keep) keep=1; shift; continue ;;
    esac
    [ $# -ge 2 ] || usage_error "$opt wants a value"
    val=$2
    case $opt in
        --agents) is_count "$val" || usage_error "--agents wants a count"; agents=$val ;;
        --slots) is_count "$val" || usage_error "--slots wants a count"; slots=$val ;;
        --tests) is_count "$val" || usage_error "--tests wants a count"; tests=$val ;;
        --reps) is_count "$val" || usage_error "--reps wants a count"; reps=$val ;;
        --fault-agents) is_count "$val" && [ "$val" -ge 2 ] || usage_error "--fault-agents wants 2 or more"; fault_agents=$val ;;
        --fault-tests) is_count "$val" || usage_error "--fault-tests wants a count"; fault_tests=$val ;;
        --fault-kills) case $val in ''|*[!0-9]*) usage_error "--fault-kills wants a count" ;; esac; fault_kills=$val ;;
        --only) case $val in steal|faults) only=$val ;; *) usage_error "--only wants steal or faults" ;; esac ;;
        --testmesh) testmesh=$val ;;
        *) usage_error "unknown option $opt" ;;
    esac
    shift 2
done
[ -x "$testmesh" ] || fail "no testmesh binary at $testmesh (make build/testmesh)"
testmesh=$(cd "$(dirname "$testmesh")" && pwd)/$(basename "$testmesh")
gen=$(cd "$(dirname "$0")/.." && pwd)/gen_suite.sh
[ -x "$gen" ] || fail "no $gen"
[ "$fault_kills" -lt "$fault_agents" ] || usage_error "--fault-kills must be below --fault-agents"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null

work=$(mktemp -d /tmp/testmesh-dist-XXXXXX)
pids=""
cleanup () {
    for pid in $pids; do kill -KILL "$pid" 2>/dev/null; done
    wait 2>/dev/null
    if [ "$keep" -eq 1 ]; then say "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now () { date +%s.%N; }
median () { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v [NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v [(NR + 1) / 2]; else printf "%.3f\n", (v [NR / 2] + v [NR / 2 + 1]) / 2 }'; }

# start_agent DIR NAME SLOTS [TOKEN]: starts an agent, appends its pid
start_agent () {
    mkdir -p "$1"
    if [ -n "${4:-}" ]; then
        "$testmesh" agent --data "$1" --bind 127.0.0.1:0 --no-beacon --name "$2" --slots "$3" \
            --join "$4" --join-timeout 120 >> "$1.log" 2>&1 &
    else
        "$testmesh" agent --data "$1" --bind 127.0.0.1:0 --no-beacon --name "$2" --slots "$3" \
            >> "$1.log" 2>&1 &
    fi
    last_pid=$!
    pids="$pids $last_pid"
}

# cluster DIR N SLOTS: N agents, waits until the first sees N alive
cluster () {
    local d=$1 n=$2 s=$3 token i t0
    start_agent "$d/1" a1 "$s"
    for _ in $(seq 100); do
        token=$(sed -n 's/^join token: //p' "$d/1.log" 2>/dev/null)
        [ -n "$token" ] && break
        sleep 0.1
    done
    [ -n "$token" ] || fail "agent 1 printed no token"
    echo "$token" > "$d/token"
    for i in $(seq 2 "$n"); do start_agent "$d/$i" "a$i" "$s" "$token"; echo "$last_pid" > "$d/$i.pid"; done
    t0=$(date +%s)
    while :; do
        alive=$("$testmesh" members --json --data "$d/1" 2>/dev/null | grep -o '"state": *"alive"' | wc -l)
        [ "$alive" -ge "$n" ] && break
        [ $(( $(date +%s) - t0 )) -lt 120 ] || fail "the cluster of $n did not form in 120 s"
        sleep 0.5
    done
}

stop_all () {
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null; done
    wait 2>/dev/null
    pids=""
}

# makespan REPORT: first start to last end, from the JSON report
makespan () {
    python3 -c 'import json,sys
r = json.load (open (sys.argv [1]))
t = [x for x in r["tests"] if x["started"]]
print ("%.3f" % (max (x["started"] + x["duration"] for x in t) - min (x["started"] for x in t)))' "$1"
}

# --------------------------------------------------------------- stealing
steal_part () {
    local d=$work/steal
    mkdir -p "$d"
    "$gen" manifest --count "$tests" --durations lognormal:-1.6:1.1 --seed 7 \
        --truth "$d/truth" --out "$d/suite.ini" || fail "gen_suite failed"
    # The generator's passing tests are `sleep D`: the sleeps are the work
    local bound static
    bound=$(awk -v s=$((agents * slots)) '{ t += $3; if ($3 > m) m = $3 } END { w = t / s; printf "%.3f", (w > m ? w : m) }' "$d/truth")
    # Static round robin: test i -> agent i mod N; each agent greedy on S slots
    static=$(awk -v n="$agents" -v s="$slots" '
        { a = (NR - 1) % n; k = cnt [a]++; d [a, k] = $3 }
        END {
            worst = 0
            for (a = 0; a < n; a++) {
                for (j = 0; j < s; j++) free [j] = 0
                for (k = 0; k < cnt [a]; k++) {
                    b = 0; for (j = 1; j < s; j++) if (free [j] < free [b]) b = j
                    free [b] += d [a, k]
                }
                for (j = 0; j < s; j++) if (free [j] > worst) worst = free [j]
            }
            printf "%.3f", worst }' "$d/truth")
    say "stealing: $tests tests, total $(awk '{ t += $3 } END { printf "%.1f", t }' "$d/truth") s of work, longest $(sort -k3 -g "$d/truth" | tail -n 1 | awk '{ print $3 }') s, bound $bound s on $agents x $slots slots"
    say "stealing: starting $agents agents"
    cluster "$d/c" "$agents" "$slots"
    local ratios="" spans="" rep m
    for rep in $(seq "$reps"); do
        "$testmesh" run --data "$d/c/1" --progress lines --json "$d/r$rep.json" "$d/suite.ini" \
            > "$d/r$rep.out" 2>&1 || fail "run $rep failed: $(tail -n 3 "$d/r$rep.out")"
        m=$(makespan "$d/r$rep.json")
        spans="$spans $m"
        ratios="$ratios $(awk -v m="$m" -v b="$bound" 'BEGIN { printf "%.3f", m / b }')"
        say "stealing: rep $rep makespan $m s, ratio $(echo "$ratios" | awk '{ print $NF }')"
    done
    local steals=0 a
    for a in $(seq 1 "$agents"); do
        steals=$((steals + $("$testmesh" stats --data "$d/c/$a" 2>/dev/null | python3 -c 'import json,sys; print (json.load (sys.stdin)["work"]["stolen"])' 2>/dev/null || echo 0)))
    done
    stop_all
    echo
    echo "work stealing: $agents agents x $slots slots, $tests log-normal sleep tests, $reps runs"
    printf '  %-34s %s\n' "bound max(work/slots, longest)" "$bound s"
    printf '  %-34s %s s (runs:%s)\n' "makespan, median" "$(echo $spans | median)" "$spans"
    printf '  %-34s %s (target <= 1.10)\n' "ratio, median" "$(echo $ratios | median)"
    printf '  %-34s %s\n' "static round robin ratio (exact)" "$(awk -v m="$static" -v b="$bound" 'BEGIN { printf "%.3f", m / b }')"
    printf '  %-34s %s\n' "tasks stolen over all runs" "$steals"
}

# ----------------------------------------------------------------- faults
faults_part () {
    local d=$work/faults
    mkdir -p "$d"
    "$gen" manifest --count "$fault_tests" --fail-rate 0.1 --seed 11 --truth "$d/truth" \
        --out "$d/suite.ini" || fail "gen_suite failed"
    say "faults: starting $fault_agents agents"
    cluster "$d/c" "$fault_agents" 2
    "$testmesh" run --data "$d/c/1" --progress lines --json "$d/report.json" "$d/suite.ini" \
        > "$d/run.out" 2>&1 &
    local cli=$! t0 victims k v
    pids="$pids $cli"
    t0=$(now)
    # Kill K distinct agents (never the origin) while the run lasts
    victims=$(seq 2 "$fault_agents" | shuf | head -n "$fault_kills")
    for v in $victims; do
        sleep 1
        kill -0 "$cli" 2>/dev/null || { say "faults: the run ended before all kills"; break; }
        kill -KILL "$(cat "$d/c/$v.pid")" 2>/dev/null
        say "faults: killed a$v at +$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }') s"
        start_agent "$d/c/$v" "a$v" 2
        echo "$last_pid" > "$d/c/$v.pid"
    done
    wait "$cli"
    local rc=$?
    local wall
    wall=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
    python3 - "$d/truth" "$d/report.json" <<'EOF' > "$d/verdict"
import json, sys
truth = {}
for line in open (sys.argv [1]):
    i, s, _ = line.split ()
    truth [i] = s
try:
    report = json.load (open (sys.argv [2]))
    tests = report ["tests"]
except Exception as e:
    print ("no report: %s" % e); sys.exit (0)
seen = {}
for t in tests:
    seen [t ["id"]] = seen.get (t ["id"], 0) + 1
lost = sum (1 for i in truth if i not in seen)
dup = sum (n - 1 for n in seen.values () if n > 1)
wrong = sum (1 for t in tests if t ["id"] in truth and t ["status"] != truth [t ["id"]])
members = len (set (t ["member"] for t in tests))
print ("%d %d %d %d %d" % (len (tests), lost, dup, wrong, members))
EOF
    local requeued=0 a
    for a in 1; do
        requeued=$("$testmesh" stats --data "$d/c/1" 2>/dev/null | python3 -c 'import json,sys; print (json.load (sys.stdin)["work"]["requeued"])' 2>/dev/null || echo "?")
    done
    stop_all
    echo
    echo "correctness under faults: $fault_tests tests on $fault_agents agents x 2 slots, $fault_kills SIGKILLed and restarted"
    if read -r total lost dup wrong members < "$d/verdict" && [ -n "${members:-}" ]; then
        printf '  %-34s %s (exit %s, %s s)\n' "results" "$total of $fault_tests" "$rc" "$wall"
        printf '  %-34s %s / %s / %s (target 0 / 0 / 0)\n' "lost / duplicated / wrong" "$lost" "$dup" "$wrong"
        printf '  %-34s %s\n' "members that ran tests" "$members"
        printf '  %-34s %s\n' "tasks re-queued by the origin" "$requeued"
    else
        echo "  no verdict: $(cat "$d/verdict"); the run's tail:"
        tail -n 5 "$d/run.out" | sed 's/^/    /'
    fi
}

say "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$only" = faults ] || steal_part
[ "$only" = steal ] || faults_part
say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
