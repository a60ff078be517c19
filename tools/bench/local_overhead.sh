#!/bin/sh
# local_overhead.sh - what testmesh costs per test on one machine, against
# xargs, GNU parallel, ctest and Criterion's own runner.
#
#   tools/bench/local_overhead.sh [--count N] [--runs R] [--jobs J]
#                                 [--criterion-count M] [--testmesh PATH]
#                                 [--only LIST]
#
#   --count N            trivial tests per run (default 10000)
#   --runs R             runs of each tool; the median is reported (default 3)
#   --jobs J             slots (default 2)
#   --criterion-count M  tests in the Criterion binary (default N / 5, so 2000)
#   --testmesh PATH      the binary (default $TESTMESH, else build/testmesh)
#   --only LIST          comma-separated subset of parallel, ctest, testmesh,
#                        criterion (default all; xargs, the base, always runs).
#                        --only testmesh checks the target in about 40 s.
#
# Every test is one exec of TRUE, the `true` found in PATH (/usr/bin/true),
# so what is measured is each tool's own overhead:
#
#   xargs -PJ            seq N | xargs -PJ -n1 TRUE       (the floor)
#   GNU parallel -jJ     seq N | parallel -jJ -N0 TRUE
#   ctest -jJ            a CMake project of N add_test (NAME tI COMMAND TRUE),
#                        configured once before timing
#   testmesh run -jJ     a manifest of N `command = true` tests
#                        (tools/gen_suite.sh), --progress lines, output to
#                        /dev/null, a fresh scratch --data dir every run
#
# The others get TRUE as an absolute path because testmesh looks a
# manifest's program up in PATH once per run: given a bare `true`, xargs
# would search PATH (one failed execve per directory before it) for every
# test, and the floor would be higher than it need be.
#
# and then a Criterion binary of M trivial tests (tools/gen_suite.sh
# criterion) run by `testmesh run -jJ` and by its own `--jobs J`.
#
# Rounds are interleaved (each round runs every tool once) so that a noisy
# neighbour slows all tools alike, and only medians and ratios are printed.
# Wall time is taken with `date +%s.%N`.  A tool that exits non-zero fails
# the benchmark: a broken run must not pass for a fast one.
#
# Prints a table and, last, "testmesh/xargs = X.XX (target <= 1.30)".
# Exit status: 0 measured (whether or not the target is met), 1 a tool is
# missing or failed, 2 bad arguments.

me=local_overhead.sh
root=$(cd "$(dirname "$0")/../.." && pwd)
TARGET_RATIO=1.30

count=10000; runs=3; jobs=2; ccount=; only=parallel,ctest,testmesh,criterion
testmesh=${TESTMESH:-$root/build/testmesh}
# Every run here must run its tests: the result cache would serve the
# repetitions (docs/caching.md); tools/bench/cache.sh measures it.
export TESTMESH_CACHE=off

usage_error () {
    printf '%s: %s (usage: %s [--count N] [--runs R] [--jobs J] [--criterion-count M] [--testmesh PATH] [--only LIST])\n' \
        "$me" "$1" "$me" >&2
    exit 2
}

fail () {
    printf '%s: %s\n' "$me" "$1" >&2
    exit 1
}

is_count () {
    case $1 in ''|*[!0-9]*|0*) return 1 ;; esac
    [ "${#1}" -le 7 ]
}

while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        --count|--runs|--jobs|--criterion-count|--testmesh|--only)
            [ $# -ge 2 ] || usage_error "option $1 needs a value"
            opt=$1; val=$2; shift 2 ;;
        --*=*) opt=${1%%=*}; val=${1#*=}; shift ;;
        *) usage_error "unknown argument '$1'" ;;
    esac
    case $opt in
        --count) is_count "$val" || usage_error "--count wants a positive whole number, not '$val'"
                 count=$val ;;
        --runs)  is_count "$val" || usage_error "--runs wants a positive whole number, not '$val'"
                 runs=$val ;;
        --jobs)  is_count "$val" || usage_error "--jobs wants a positive whole number, not '$val'"
                 jobs=$val ;;
        --criterion-count)
                 is_count "$val" || usage_error "--criterion-count wants a positive whole number, not '$val'"
                 ccount=$val ;;
        --testmesh) testmesh=$val ;;
        --only)
            for t in $(echo "$val" | tr ',' ' '); do
                case $t in
                    parallel|ctest|testmesh|criterion) ;;
                    *) usage_error "--only wants parallel, ctest, testmesh or criterion, not '$t'" ;;
                esac
            done
            [ -n "$(echo "$val" | tr -d ', ')" ] || usage_error "--only wants at least one tool"
            only=$val ;;
        *) usage_error "unknown option '$opt'" ;;
    esac
done
[ -n "$ccount" ] || ccount=$((count / 5))
[ "$ccount" -ge 1 ] || ccount=1

# selected TOOL: true if --only (or the default) names it.
selected () {
    case ",$only," in *",$1,"*) return 0 ;; esac
    return 1
}

# ---------------------------------------------------------------- tools
# testmesh lists the suites for the sanity checks, so it is always needed.
[ -x "$testmesh" ] || fail "no testmesh binary at $testmesh (build it: make build/testmesh)"
needed="xargs seq"
! selected ctest || needed="$needed cmake ctest"
! selected criterion || needed="$needed pkg-config ${CC:-cc}"
for tool in $needed; do
    command -v "$tool" > /dev/null 2>&1 \
        || fail "$tool not found (make deps installs what the benchmark needs)"
done
# `command -v true` names the shell builtin: walk PATH for the program.
truebin=
for dir in $(echo "$PATH" | tr ':' ' '); do
    if [ -f "$dir/true" ] && [ -x "$dir/true" ]; then truebin=$dir/true; break; fi
done
[ -n "$truebin" ] || fail "no true program in PATH"
case $truebin in /*) ;; *) truebin=$(pwd)/$truebin ;; esac
# moreutils also ships a `parallel`, with other options: insist on GNU's.
if selected parallel; then
    parallel --version 2> /dev/null | head -n 1 | grep -q 'GNU parallel' \
        || fail "GNU parallel not found (make deps installs the 'parallel' package)"
fi
if selected criterion; then
    pkg-config --exists criterion \
        || fail "Criterion not found by pkg-config (make deps installs libcriterion-dev)"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tm-bench.XXXXXX") || fail "cannot create a temporary directory"
tmp=$(cd "$tmp" && pwd)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
log=$tmp/setup.log

# ---------------------------------------------------------------- suites
say () { printf '%s: %s\n' "$me" "$*" >&2; }

say "generating the suites: $count trivial tests$(selected criterion && echo ", a $ccount-test Criterion binary")"
if selected testmesh; then
    "$root/tools/gen_suite.sh" manifest --count "$count" --out "$tmp/trivial.ini" \
        || fail "tools/gen_suite.sh manifest failed"
    # Sanity: each runner sees exactly the tests it should, before any timing.
    n=$("$testmesh" run --list "$tmp/trivial.ini" 2> "$log" | wc -l)
    [ "$n" -eq "$count" ] || { cat "$log" >&2; fail "testmesh lists $n tests in the manifest, not $count"; }
fi
if selected criterion; then
    "$root/tools/gen_suite.sh" criterion --count "$ccount" --out "$tmp/crit" \
        || fail "tools/gen_suite.sh criterion failed"
    n=$("$testmesh" run --list "$tmp/crit/gen_criterion" 2> "$log" | wc -l)
    [ "$n" -eq "$ccount" ] || { cat "$log" >&2; fail "testmesh lists $n tests in the Criterion binary, not $ccount"; }
fi
if selected ctest; then
    mkdir -p "$tmp/ctest-src"
    {
        echo 'cmake_minimum_required (VERSION 3.13)'
        echo 'project (local_overhead NONE)'
        echo 'enable_testing ()'
        awk -v n="$count" -v t="$truebin" 'BEGIN { for (i = 1; i <= n; i++) printf "add_test (NAME t%d COMMAND %s)\n", i, t }'
    } > "$tmp/ctest-src/CMakeLists.txt"
    cmake -S "$tmp/ctest-src" -B "$tmp/ctest-build" > "$log" 2>&1 \
        || { cat "$log" >&2; fail "configuring the ctest project failed"; }
    n=$(cd "$tmp/ctest-build" && ctest -N | sed -n 's/^Total Tests: //p')
    [ "$n" = "$count" ] || fail "ctest lists '$n' tests, not $count"
fi

# ---------------------------------------------------------------- runners
# Stdout goes to /dev/null, stderr to a file shown if the run fails; the
# exit status says whether every test passed.
run_xargs ()    { seq "$count" | xargs -P "$jobs" -n 1 "$truebin"; }
run_parallel () { seq "$count" | parallel --will-cite -j "$jobs" -N0 "$truebin"; }
run_ctest ()    { cd "$tmp/ctest-build" && ctest -j "$jobs"; }
run_testmesh () {
    rm -rf "$tmp/data"
    "$testmesh" run -j "$jobs" --progress lines --data "$tmp/data" "$tmp/trivial.ini"
}
run_crit_native ()   { "$tmp/crit/gen_criterion" --jobs "$jobs"; }
run_crit_testmesh () {
    rm -rf "$tmp/data"
    "$testmesh" run -j "$jobs" --progress lines --data "$tmp/data" "$tmp/crit/gen_criterion"
}

# time_one NAME: runs run_NAME once, appends its wall seconds to $tmp/NAME.times
time_one () {
    t0=$(date +%s.%N)
    ( "run_$1" ) > /dev/null 2> "$tmp/$1.err"
    rc=$?
    t1=$(date +%s.%N)
    if [ "$rc" -ne 0 ]; then
        tail -n 20 "$tmp/$1.err" >&2
        fail "$1 exited with status $rc (the end of its stderr is above)"
    fi
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    echo "$secs" >> "$tmp/$1.times"
    printf ' %s %ss' "$1" "$secs" >&2
}

# median_of: the median of the numbers on standard input, 3 decimals.
median_of () {
    sort -n | awk '{ v [NR] = $1 }
        END { if (NR % 2) printf "%.3f", v [(NR + 1) / 2]
              else        printf "%.3f", (v [NR / 2] + v [NR / 2 + 1]) / 2 }'
}

# median TOOL: its median wall time.
median () {
    median_of < "$tmp/$1.times"
}

# paired TOOL BASE: the median over rounds of TOOL's time / BASE's time in
# the same round.  Rounds are interleaved, so this cancels slow drift in
# the machine's load better than the ratio of the two medians does.
paired () {
    paste "$tmp/$1.times" "$tmp/$2.times" | awk '{ printf "%.6f\n", $1 / $2 }' | median_of
}

# spread TOOL: slowest run / fastest run, as a measure of the noise.
spread () {
    sort -n "$tmp/$1.times" | awk 'NR == 1 { lo = $1 } { hi = $1 }
        END { printf "%.2f", (lo > 0 ? hi / lo : 0) }'
}

load_before=$(cut -d" " -f1-3 /proc/loadavg)
tools="xargs"
for t in parallel ctest testmesh; do ! selected "$t" || tools="$tools $t"; done
! selected criterion || tools="$tools crit_native crit_testmesh"
round=1
while [ "$round" -le "$runs" ]; do
    printf '%s: round %d/%d:' "$me" "$round" "$runs" >&2
    for tool in $tools; do time_one "$tool"; done
    printf '\n' >&2
    round=$((round + 1))
done

load_after=$(cut -d" " -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- report
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)

# row LABEL TESTS TOOL BASE
row () {
    awk -v l="$1" -v n="$2" -v m="$(median "$3")" -v b="$(median "$4")" \
        -v p="$(paired "$3" "$4")" -v s="$(spread "$3")" \
        'BEGIN { printf "%-26s %6d %9.3f %8.3f %7.2f %7.2f %7.2f\n",
                 l, n, m, m * 1000 / n, m / b, p, s }'
}

echo "testmesh local overhead: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, ${cpu:-unknown CPU}"
echo "$runs interleaved rounds, $jobs slots; load average before $load_before, after $load_after"
echo "median s: median wall time; ms/test: median / tests; ratio: median / base median;"
echo "paired: median over rounds of tool / base in the same round; spread: slowest / fastest run"
echo
printf '%-26s %6s %9s %8s %7s %7s %7s\n' "trivial tests (true)" tests "median s" ms/test ratio paired spread
row "xargs -P$jobs (base)"  "$count" xargs    xargs
! selected parallel || row "GNU parallel -j$jobs" "$count" parallel xargs
! selected ctest    || row "ctest -j$jobs"        "$count" ctest    xargs
! selected testmesh || row "testmesh run -j$jobs" "$count" testmesh xargs
if selected criterion; then
    echo
    printf '%-26s %6s %9s %8s %7s %7s %7s\n' "Criterion binary" tests "median s" ms/test ratio paired spread
    row "--jobs $jobs (base)"   "$ccount" crit_native   crit_native
    row "testmesh run -j$jobs"  "$ccount" crit_testmesh crit_native
fi
echo
spreads=$(spread xargs); ! selected testmesh || spreads="$spreads $(spread testmesh)"
if [ -n "$(echo "$spreads" | awk '{ for (i = 1; i <= NF; i++) if ($i > 1.15) print "busy" }')" ]; then
    echo "warning: runs of xargs or testmesh differ by more than 15%: the machine was busy;"
    echo "warning: trust the paired ratios over the medians, or run again when it is quiet"
fi
if selected criterion; then
    awk -v t="$(median crit_testmesh)" -v c="$(median crit_native)" -v p="$(paired crit_testmesh crit_native)" \
        'BEGIN { printf "testmesh/criterion-native = %.2f (paired %.2f)\n", t / c, p }'
fi
if selected testmesh; then
    awk -v p="$(paired testmesh xargs)" 'BEGIN { printf "testmesh/xargs paired = %.2f\n", p }'
    awk -v t="$(median testmesh)" -v x="$(median xargs)" -v target="$TARGET_RATIO" \
        'BEGIN { printf "testmesh/xargs = %.2f (target <= %s)\n", t / x, target }'
fi
