#!/bin/bash
# dist_runs.sh - how a run spread over agents behaves: work-stealing
# efficiency on a skewed suite, correctness while agents are killed,
# dispatch latency, and a run over 100+ single-slot agents.  A benchmark,
# not a test: it prints figures and the targets, and passes or fails
# nothing.
#
#   tools/bench/dist_runs.sh [--agents N] [--slots S] [--tests C]
#                            [--durations SPEC] [--reps R] [--fault-agents N] [--fault-tests C]
#                            [--fault-kills K] [--stall S]
#                            [--dispatch-agents N]
#                            [--dispatch-slots S] [--dispatch-tests C]
#                            [--dispatch-runs R] [--scale-agents N]
#                            [--scale-tests C] [--scale-durations SPEC]
#                            [--form-timeout S] [--only LIST]
#                            [--scratch PREFIX] [--testmesh PATH] [--keep]
#
#   --agents N        agents of the stealing run (default 20)
#   --slots S         slots per agent there (default 4)
#   --tests C         tests of the skewed suite (default 400)
#   --durations SPEC  their durations, as gen_suite.sh --durations
#                     (default lognormal:-1.6:1.1)
#   --reps R          repetitions of the stealing run; medians (default 3)
#   --fault-agents N  agents of the fault run (default 10)
#   --fault-tests C   tests of the fault run (default 10000)
#   --fault-kills K   agents SIGKILLed (and restarted) during it (default 3)
#   --stall S         give up on a fault or scale run after S s without a
#                     new result (default 60; --fault-stall is the same)
#   --dispatch-agents N  agents of the dispatch part (default 10)
#   --dispatch-slots S   slots per agent there (default 4)
#   --dispatch-tests LIST  sizes of the dispatch runs, each at most the
#                        slots (comma-separated; default "30,10": 3/4 of
#                        the slots, and one task per member)
#   --dispatch-runs R    measured dispatch runs per size (default 20),
#                        after one warm-up run
#   --scale-agents N  agents of the scale part, 1 slot each (default 120)
#   --scale-tests C   tests of the scale run (default 2000)
#   --scale-durations SPEC  their durations, as gen_suite.sh --durations
#                     (default uniform:0:0.2, a mean of 0.1 s)
#   --form-timeout S  how long the scale cluster may take to form
#                     (default 600)
#   --only LIST       comma-separated parts to run: steal, faults,
#                     dispatch, scale (default all four)
#   --scratch PREFIX  scratch directory prefix (default /tmp/testmesh-dist-;
#                     mktemp appends six characters)
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
# are counted.  A run that gives no new result for --stall s (a task the
# cluster lost) is interrupted and reported STALLED, with every agent's
# stats saved next to its log; the tests it never finished then count as
# wrong (skipped).  The same holds for the scale run.
#
# Dispatch: N agents x S slots on loopback; for each size C, one warm-up
# run, then R runs of C `sleep 0.1` tests, C at most the cluster's free
# slots, so that every holder starts every task it is given at once.  The
# holders measure (docs/scheduling.md, "Dispatch latency"): from the
# origin's decision, stamped in the assign, to the child's exec on the
# holder.  We take the samples the runs added from `testmesh stats
# --samples` of every agent but the origin (work.dispatch_ms) and pool
# them: p50, p99 and max by nearest rank.  One host, one clock: the
# figures are exact.  Two peers, measured in the same invocation: the
# origin's own share of the same runs (work.dispatch_self_ms: the same
# path with no network hop), and, after each run, `seq 100 | xargs -P 1
# -n 1 true` (fork, exec of true, its exit and wait, per process: what
# starting a process costs here).  Both sizes matter on a small machine:
# with 30 tests, 10 agents and 30 children starting at once load every
# core (the children's exec and dynamic loading included), and the
# samples show it; with one task per member, less so.
#
# Scale: N agents x 1 slot on loopback (the agents start 0.1 s apart;
# forming the cluster is CPU-bound on 2 cores and may take minutes: we
# wait until agent 1 sees N alive with their slots, and every agent's log
# has agent 1 joined or alive).  A manifest of C tests (--fail-rate 0.1,
# --scale-durations) runs from agent 1; every test must have one result,
# matching gen_suite.sh's ground truth.  Reported: wall time, agent 1's
# CPU seconds over the run (utime + stime from /proc/PID/stat), all the
# agents' CPU seconds, the CLI's (/usr/bin/time), and the same suite run
# locally with `--local -j 2` (wall time and the same checks).
#
# Targets (issue #4): stealing ratio <= 1.10; faults: 0 lost, 0
# duplicated, 0 wrong; dispatch p50 < 2 ms, p99 < 10 ms (10 agents);
# scale: completes with correct results.  Everything started is stopped
# on exit.

set -u
me=dist_runs.sh
agents=20 slots=4 tests=400 reps=3 durations=lognormal:-1.6:1.1
fault_agents=10 fault_tests=10000 fault_kills=3 stall=60
dispatch_agents=10 dispatch_slots=4 dispatch_tests="" dispatch_runs=20
scale_agents=120 scale_tests=2000 scale_durations=uniform:0:0.2 form_timeout=600
only=steal,faults,dispatch,scale keep=0 scratch=/tmp/testmesh-dist-
testmesh=${TESTMESH:-build/testmesh}
# Every run here must run its tests: the result cache would serve the
# repetitions (docs/caching.md); tools/bench/cache.sh measures it.
export TESTMESH_CACHE=off

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
        --durations) durations=$val ;;
        --reps) is_count "$val" || usage_error "--reps wants a count"; reps=$val ;;
        --fault-agents) is_count "$val" && [ "$val" -ge 2 ] || usage_error "--fault-agents wants 2 or more"; fault_agents=$val ;;
        --fault-tests) is_count "$val" || usage_error "--fault-tests wants a count"; fault_tests=$val ;;
        --stall|--fault-stall) is_count "$val" || usage_error "$opt wants seconds"; stall=$val ;;
        --fault-kills) case $val in ''|*[!0-9]*) usage_error "--fault-kills wants a count" ;; esac; fault_kills=$val ;;
        --dispatch-agents) is_count "$val" && [ "$val" -ge 2 ] || usage_error "--dispatch-agents wants 2 or more"; dispatch_agents=$val ;;
        --dispatch-slots) is_count "$val" || usage_error "--dispatch-slots wants a count"; dispatch_slots=$val ;;
        --dispatch-tests) dispatch_tests=$(echo "$val" | tr ',' ' ')
                          for c in $dispatch_tests; do is_count "$c" || usage_error "--dispatch-tests wants counts"; done ;;
        --dispatch-runs) is_count "$val" || usage_error "--dispatch-runs wants a count"; dispatch_runs=$val ;;
        --scale-agents) is_count "$val" && [ "$val" -ge 2 ] || usage_error "--scale-agents wants 2 or more"; scale_agents=$val ;;
        --scale-tests) is_count "$val" || usage_error "--scale-tests wants a count"; scale_tests=$val ;;
        --scale-durations) scale_durations=$val ;;
        --form-timeout) is_count "$val" || usage_error "--form-timeout wants seconds"; form_timeout=$val ;;
        --only) for part in $(echo "$val" | tr ',' ' '); do
                    case $part in steal|faults|dispatch|scale) ;;
                    *) usage_error "--only wants a list of steal, faults, dispatch, scale" ;; esac
                done
                only=$val ;;
        --scratch) scratch=$val ;;
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
[ -n "$dispatch_tests" ] || dispatch_tests="$((dispatch_agents * dispatch_slots * 3 / 4)) $dispatch_agents"
for c in $dispatch_tests; do
    [ "$c" -le $((dispatch_agents * dispatch_slots)) ] \
        || usage_error "--dispatch-tests must be at most the slots ($((dispatch_agents * dispatch_slots)))"
done
# Each agent holds sockets to every peer; each of our CLIs and pollers some more
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((8 * scale_agents + 64)) ] \
    || say "warning: descriptor limit $(ulimit -n) may be low for $scale_agents agents"

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
join_timeout=120
median () { tr ' ' '\n' | awk 'NF' | sort -g | awk '{ v [NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v [(NR + 1) / 2]; else printf "%.3f\n", (v [NR / 2] + v [NR / 2 + 1]) / 2 }'; }

# start_agent DIR NAME SLOTS [TOKEN]: starts an agent, appends its pid
start_agent () {
    mkdir -p "$1"
    if [ -n "${4:-}" ]; then
        "$testmesh" agent --data "$1" --bind 127.0.0.1:0 --no-beacon --name "$2" --slots "$3" \
            --join "$4" --join-timeout "$join_timeout" >> "$1.log" 2>&1 &
    else
        "$testmesh" agent --data "$1" --bind 127.0.0.1:0 --no-beacon --name "$2" --slots "$3" \
            >> "$1.log" 2>&1 &
    fi
    last_pid=$!
    pids="$pids $last_pid"
}

# alive_with_slots DIR: how many members agent DIR sees alive with slots
alive_with_slots () {
    "$testmesh" members --json --data "$1" 2>/dev/null | python3 -c 'import json,sys
try: m = json.load (sys.stdin)
except Exception: m = []
print (sum (1 for x in m if x.get ("state") == "alive" and (x.get ("slots") or 0) > 0))' 2>/dev/null || echo 0
}

# not_seeing_a1 DIR N: the agents 2..N whose log does not (yet) end with
# agent 1 joined or alive: they could not send it results
not_seeing_a1 () {
    # shellcheck disable=SC2046  # the log names: digits and .log
    (cd "$1" && awk '
        / gossip: member \047a1\047 / { st [FILENAME] = $NF }
        END { for (f in st) if (st [f] == "joined" || st [f] == "alive" || st [f] == "updated") print f }' \
        $(seq 2 "$2" | sed 's/$/.log/') | sort > seeing)
    seq 2 "$2" | sed 's/$/.log/' | sort | comm -23 - "$1/seeing" | wc -l
}

# cluster DIR N SLOTS [TIMEOUT [STAGGER]]: N agents (started STAGGER s
# apart); waits until the first sees N alive with their slots and every
# other has logged the first as joined or alive.  Sets formed (seconds).
cluster () {
    local d=$1 n=$2 s=$3 timeout=${4:-120} stagger=${5:-0} token i t0 alive pending
    join_timeout=$timeout
    t0=$(date +%s)
    start_agent "$d/1" a1 "$s"
    agent1_pid=$last_pid
    for _ in $(seq 100); do
        token=$(sed -n 's/^join token: //p' "$d/1.log" 2>/dev/null)
        [ -n "$token" ] && break
        sleep 0.1
    done
    [ -n "$token" ] || fail "agent 1 printed no token"
    echo "$token" > "$d/token"
    for i in $(seq 2 "$n"); do
        start_agent "$d/$i" "a$i" "$s" "$token"
        echo "$last_pid" > "$d/$i.pid"
        [ "$stagger" = 0 ] || sleep "$stagger"
    done
    while :; do
        alive=$(alive_with_slots "$d/1")
        pending="?"
        if [ "$alive" -ge "$n" ]; then
            pending=$(not_seeing_a1 "$d" "$n")
            [ "$pending" -eq 0 ] && break
        fi
        [ $(( $(date +%s) - t0 )) -lt "$timeout" ] \
            || fail "the cluster of $n did not form in $timeout s (a1 sees $alive alive with slots; $pending agents have not logged a1 alive)"
        if [ "$n" -le 20 ]; then sleep 0.5; else sleep 2; fi
    done
    formed=$(( $(date +%s) - t0 ))
}

# stop_all: TERM to everything we started, KILL to what still runs 20 s
# later (counted: an agent that ignores TERM is a bug worth a look)
stop_all () {
    local pid t=0 left
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null; done
    while [ $t -lt 200 ]; do
        left=""
        for pid in $pids; do kill -0 "$pid" 2>/dev/null && left="$left $pid"; done
        [ -z "$left" ] && break
        sleep 0.1; t=$((t + 1))
    done
    if [ -n "$left" ]; then
        say "warning: $(echo "$left" | wc -w) process(es) still ran 20 s after TERM; killed"
        for pid in $left; do kill -KILL "$pid" 2>/dev/null; done
    fi
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

# verdict TRUTH REPORT: "results lost duplicated wrong members" of a JSON
# report against gen_suite.sh's ground truth (or a line saying why not)
verdict () {
    python3 - "$1" "$2" <<'EOF'
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
}

# cpu_of PID: CPU seconds (utime + stime) of a running process, or 0
cpu_of () {
    awk -v hz="$(getconf CLK_TCK)" '{ sub (/^.*\) /, ""); printf "%.2f\n", ($12 + $13) / hz }' \
        "/proc/$1/stat" 2>/dev/null || echo 0
}

# all_cpu: CPU seconds of every process we started that still runs
all_cpu () {
    local p
    for p in $pids; do cpu_of "$p"; done | awk '{ t += $1 } END { printf "%.2f\n", t }'
}

# await_run CLI DIR N PART: waits for the CLI (pid CLI, output DIR/run.out)
# to exit.  A task the cluster lost would make the run wait for ever: after
# --stall s without a new result, it saves the N agents' stats as
# DIR/c/I.stats and interrupts the CLI (it cancels the run and reports what
# never finished as skipped: counted wrong).  Sets stalled (a reason, or "").
# CLI may be /usr/bin/time: then the CLI is its child.
await_run () {
    local cli=$1 d=$2 n=$3 part=$4 results=-1 last_change a target
    stalled=""
    last_change=$(date +%s)
    while kill -0 "$cli" 2>/dev/null; do
        if [ "$(grep -c ' gen/' "$d/run.out")" -ne "$results" ]; then
            results=$(grep -c ' gen/' "$d/run.out")
            last_change=$(date +%s)
        elif [ $(( $(date +%s) - last_change )) -ge "$stall" ]; then
            stalled="$results results, then none for $stall s"
            say "$part: stalled ($stalled); saving every agent's stats as c/N.stats, interrupting the run"
            for a in $(seq 1 "$n"); do
                "$testmesh" stats --data "$d/c/$a" > "$d/c/$a.stats" 2>&1
            done
            target=$(pgrep -P "$cli" -f "testmesh run" || echo "$cli")
            kill -INT "$target" 2>/dev/null
            sleep 10
            kill -KILL "$target" 2>/dev/null
            break
        fi
        sleep 1
    done
}

# --------------------------------------------------------------- stealing
steal_part () {
    local d=$work/steal
    mkdir -p "$d"
    "$gen" manifest --count "$tests" --durations "$durations" --seed 7 \
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
    echo "work stealing: $agents agents x $slots slots, $tests sleep tests ($durations s), $reps runs"
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
    local cli=$! t0 victims v stalled
    pids="$pids $cli"
    t0=$(now)
    # Kill K distinct agents (never the origin) while the run lasts
    victims=$(seq 2 "$fault_agents" | shuf | head -n "$fault_kills")
    for v in $victims; do
        sleep 1
        kill -0 "$cli" 2>/dev/null || { say "faults: the run ended before all kills"; break; }
        kill -KILL "$(cat "$d/c/$v.pid")" 2>/dev/null
        wait "$(cat "$d/c/$v.pid")" 2>/dev/null     # (no "Killed" line from bash)
        say "faults: killed a$v at +$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }') s"
        start_agent "$d/c/$v" "a$v" 2
        echo "$last_pid" > "$d/c/$v.pid"
    done
    await_run "$cli" "$d" "$fault_agents" faults
    wait "$cli"
    local rc=$?
    local wall
    wall=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
    verdict "$d/truth" "$d/report.json" > "$d/verdict"
    local requeued
    requeued=$("$testmesh" stats --data "$d/c/1" 2>/dev/null | python3 -c 'import json,sys; print (json.load (sys.stdin)["work"]["requeued"])' 2>/dev/null || echo "?")
    stop_all
    echo
    echo "correctness under faults: $fault_tests tests on $fault_agents agents x 2 slots, $fault_kills SIGKILLed and restarted"
    [ -z "$stalled" ] || printf '  %-34s %s\n' "STALLED" "$stalled"
    if read -r total lost dup wrong members < "$d/verdict" && is_count "${members:-x}"; then
        printf '  %-34s %s (exit %s, %s s)\n' "results" "$total of $fault_tests" "$rc" "$wall"
        printf '  %-34s %s / %s / %s (target 0 / 0 / 0)\n' "lost / duplicated / wrong" "$lost" "$dup" "$wrong"
        printf '  %-34s %s\n' "members that ran tests" "$members"
        printf '  %-34s %s\n' "tasks re-queued by the origin" "$requeued"
    else
        echo "  no verdict: $(cat "$d/verdict"); the run's tail:"
        tail -n 5 "$d/run.out" | sed 's/^/    /'
    fi
}

# --------------------------------------------------------------- dispatch
# ring_counts DIR: "remote self" sample counts in agent DIR's rings
ring_counts () {
    "$testmesh" stats --data "$1" 2>/dev/null | python3 -c 'import json,sys
w = json.load (sys.stdin) ["work"]
print (w ["dispatch_ms"] ["samples"], w ["dispatch_self_ms"] ["samples"])' 2>/dev/null || echo "0 0"
}

# ring_since DIR RING SKIP: the samples of RING (dispatch_ms or
# dispatch_self_ms) after the first SKIP, one per line
ring_since () {
    "$testmesh" stats --samples --data "$1" 2>/dev/null | python3 -c 'import json,sys
r = json.load (sys.stdin) ["work"] [sys.argv [1]]
for v in r.get ("recent", []) [int (sys.argv [2]):]: print ("%.3f" % v)' "$2" "$3"
}

# quantiles FILE: "count p50 p99 max" of the numbers in FILE, nearest rank
quantiles () {
    sort -g "$1" | awk '{ v [NR] = $1 }
        function rank (q,   k) { k = int (q * NR); if (k < q * NR) k++; if (k < 1) k = 1; return v [k] }
        END { if (NR == 0) print "0 - - -"; else printf "%d %.3f %.3f %.3f\n", NR, rank (0.5), rank (0.99), v [NR] }'
}

dispatch_part () {
    local d=$work/dispatch n=$dispatch_agents a c rep t0 t1 before truebin
    mkdir -p "$d"
    truebin=$(command -v true)
    say "dispatch: starting $n agents x $dispatch_slots slots"
    cluster "$d/c" "$n" "$dispatch_slots"
    say "dispatch: formed in $formed s"
    : > "$d/xargs"
    for c in $dispatch_tests; do
        "$gen" manifest --count "$c" --durations const:0.1 --out "$d/suite$c.ini" \
            || fail "gen_suite failed"
        "$testmesh" run --data "$d/c/1" --progress lines "$d/suite$c.ini" > "$d/warm$c.out" 2>&1 \
            || fail "the warm-up run of $c tests failed: $(tail -n 3 "$d/warm$c.out")"
        for a in $(seq 1 "$n"); do echo "$a $(ring_counts "$d/c/$a")"; done > "$d/before$c"
        for rep in $(seq "$dispatch_runs"); do
            "$testmesh" run --data "$d/c/1" --progress lines "$d/suite$c.ini" > "$d/r$c-$rep.out" 2>&1 \
                || fail "dispatch run $rep of $c tests failed: $(tail -n 3 "$d/r$c-$rep.out")"
            # The peer, in the same conditions: 100 processes one after another
            t0=$(now)
            seq 100 | xargs -P 1 -n 1 "$truebin"
            t1=$(now)
            awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) * 1000 / 100 }' >> "$d/xargs"
        done
        : > "$d/remote$c"
        for a in $(seq 2 "$n"); do
            before=$(awk -v a="$a" '$1 == a { print $2 }' "$d/before$c")
            ring_since "$d/c/$a" dispatch_ms "$before" >> "$d/remote$c"
        done
        before=$(awk '$1 == 1 { print $3 }' "$d/before$c")
        ring_since "$d/c/1" dispatch_self_ms "$before" > "$d/self$c"
    done
    stop_all
    local rn rp50 rp99 rmax sn sp50 sp99 smax xm
    xm=$(median < "$d/xargs")
    echo
    echo "dispatch latency: $n agents x $dispatch_slots slots, $dispatch_runs runs per size of 'sleep 0.1' tests (fewer than the slots)"
    printf '  %-44s %s ms (median over all runs)\n' "peer: xargs -P1 fork+exec+wait of true" "$xm"
    for c in $dispatch_tests; do
        read -r rn rp50 rp99 rmax < <(quantiles "$d/remote$c")
        read -r sn sp50 sp99 smax < <(quantiles "$d/self$c")
        echo "  $c tests at once ($dispatch_runs runs):"
        printf '    %-42s %s of %s tasks (the rest ran on the origin)\n' "holders' samples (agents 2..$n)" "$rn" "$((dispatch_runs * c))"
        printf '    %-42s p50 %s ms, p99 %s ms, max %s ms (target p50 < 2, p99 < 10)\n' "origin's decision -> exec on a holder" "$rp50" "$rp99" "$rmax"
        printf '    %-42s p50 %s ms, p99 %s ms, max %s ms (%s samples)\n' "peer: the origin's own share" "$sp50" "$sp99" "$smax" "$sn"
        printf '    %-42s p50 %s, p99 %s\n' "ratio holder / origin's own share" \
            "$(awk -v a="$rp50" -v b="$sp50" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')" \
            "$(awk -v a="$rp99" -v b="$sp99" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
        printf '    %-42s %s\n' "ratio holder p50 / xargs per process" \
            "$(awk -v a="$rp50" -v b="$xm" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
    done
}

# ------------------------------------------------------------------ scale
scale_part () {
    local d=$work/scale n=$scale_agents t0 t1 cpu0 cpu1 all0 all1 pid rc wall local_wall
    mkdir -p "$d"
    "$gen" manifest --count "$scale_tests" --fail-rate 0.1 --durations "$scale_durations" --seed 13 \
        --truth "$d/truth" --out "$d/suite.ini" || fail "gen_suite failed"
    say "scale: $scale_tests tests, $(awk '{ t += $3 } END { printf "%.1f", t }' "$d/truth") s of work; starting $n agents x 1 slot (forming can take minutes)"
    cluster "$d/c" "$n" 1 "$form_timeout" 0.1
    say "scale: formed in $formed s (load average $(cut -d' ' -f1-3 /proc/loadavg)); running"
    cpu0=$(cpu_of "$agent1_pid")
    all0=$(all_cpu)
    t0=$(now)
    /usr/bin/time -f "%U %S" -o "$d/cli.time" \
        "$testmesh" run --data "$d/c/1" --progress lines --json "$d/report.json" "$d/suite.ini" \
        > "$d/run.out" 2>&1 &
    local cli=$! stalled
    pids="$pids $cli"
    await_run "$cli" "$d" "$n" scale
    wait "$cli"
    rc=$?
    t1=$(now)
    cpu1=$(cpu_of "$agent1_pid")
    all1=$(all_cpu)
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    verdict "$d/truth" "$d/report.json" > "$d/verdict"
    stop_all
    say "scale: the same suite locally, -j 2"
    t0=$(now)
    "$testmesh" run --local -j 2 --data "$d/local" --progress lines --json "$d/local.json" \
        "$d/suite.ini" > "$d/local.out" 2>&1
    local lrc=$?
    t1=$(now)
    local_wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    verdict "$d/truth" "$d/local.json" > "$d/local.verdict"
    echo
    echo "scale: $scale_tests tests ($scale_durations s, 10 % failing) on $n agents x 1 slot"
    printf '  %-38s %s s\n' "cluster formed in" "$formed"
    [ -z "$stalled" ] || printf '  %-38s %s\n' "STALLED" "$stalled"
    if read -r total lost dup wrong members < "$d/verdict" && is_count "${members:-x}"; then
        printf '  %-38s %s of %s (exit %s: 1 = some failed, as they should)\n' "results" "$total" "$scale_tests" "$rc"
        printf '  %-38s %s / %s / %s (target 0 / 0 / 0)\n' "lost / duplicated / wrong" "$lost" "$dup" "$wrong"
        printf '  %-38s %s\n' "members that ran tests" "$members"
    else
        echo "  no verdict: $(cat "$d/verdict"); the run's tail:"
        tail -n 5 "$d/run.out" | sed 's/^/    /'
    fi
    printf '  %-38s %s s\n' "wall time" "$wall"
    printf '  %-38s %s s\n' "origin (agent 1) CPU during the run" "$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')"
    printf '  %-38s %s s\n' "all $n agents' CPU during the run" "$(awk -v a="$all0" -v b="$all1" 'BEGIN { printf "%.2f", b - a }')"
    # (time -o writes "Command exited with non-zero status 1" first)
    printf '  %-38s %s s user + sys\n' "the CLI's CPU" "$(tail -n 1 "$d/cli.time" | awk '{ printf "%.2f", $1 + $2 }')"
    if read -r total lost dup wrong members < "$d/local.verdict" && is_count "${members:-x}"; then
        printf '  %-38s %s s (exit %s; %s results, %s lost, %s wrong)\n' "local run, --local -j 2" "$local_wall" "$lrc" "$total" "$lost" "$wrong"
    else
        printf '  %-38s %s s, no verdict: %s\n' "local run, --local -j 2" "$local_wall" "$(cat "$d/local.verdict")"
    fi
    printf '  %-38s %s\n' "ratio wall distributed / local" "$(awk -v a="$wall" -v b="$local_wall" 'BEGIN { printf "%.2f", a / b }')"
}

wants () { case ",$only," in *",$1,"*) return 0 ;; esac; return 1; }

say "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
! wants steal || steal_part
! wants faults || faults_part
! wants dispatch || dispatch_part
! wants scale || scale_part
say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
