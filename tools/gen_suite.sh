#!/bin/sh
# gen_suite.sh - generate synthetic test suites with chosen durations and outcomes.
#
#   tools/gen_suite.sh manifest  --count N [OPTIONS] --out FILE
#   tools/gen_suite.sh criterion --count N [OPTIONS] --out DIR
#
# manifest   writes a testmesh manifest (docs/manifest.md) of N tests
#            [test "gen/00001"] ... whose command is one of
#                true                          passes at once (overhead only)
#                sleep X                       passes after X seconds
#                sh -c 'exit 1'                fails at once
#                sh -c 'sleep X; exit 1'       fails after X seconds
# criterion  writes DIR/gen_criterion.c, a Criterion suite "gen" of N tests
#            (Test (gen, 00001) ...; an empty body when trivial), compiles
#            it into DIR/gen_criterion with
#                ${CC:-cc} -O0 ... $(pkg-config --cflags --libs criterion)
#            and writes DIR/expected.txt.
#
# Options:
#   --count N             number of tests (required)
#   --durations SPEC      const:S | uniform:A:B | lognormal:MU:SIGMA, in
#                         seconds (lognormal: exp (MU + SIGMA * Z) with Z a
#                         standard normal); rounded to milliseconds.
#                         Default const:0.
#   --fail-rate P         probability 0..1 that a test fails (default 0)
#   --seed S              0..2147483646 (default 1)
#   --suite NAME          suite name, a C identifier (default gen)
#   --truth FILE          manifest mode: also write the ground truth to FILE
#   --out PATH            manifest FILE, or criterion DIR (created)
#
# Ground truth (criterion DIR/expected.txt, manifest --truth FILE): one line
# per test, "ID STATUS SECONDS", e.g. "gen/00003 failed 0.120", with STATUS
# as testmesh reports it (passed or failed).
#
# Output is deterministic: the same arguments give byte-identical files on
# any machine, because the generator carries its own PRNG (Park-Miller
# minimal standard, exact in awk's doubles) instead of awk's rand ().  The
# fail decisions and the durations come from two streams, so changing
# --durations keeps the same tests failing for a given seed.
#
# Bad arguments: one line on stderr, exit 2.  Other errors (cannot write,
# compile fails): a message on stderr, exit 1.

# A && B || usage_error: usage_error exits, so this is if-then-else.
# shellcheck disable=SC2015
me=gen_suite.sh
short_usage="usage: $me manifest|criterion --count N [--durations SPEC] [--fail-rate P] [--seed S] [--suite NAME] [--truth FILE] --out PATH"

usage_error () {
    printf '%s: %s (%s)\n' "$me" "$1" "$short_usage" >&2
    exit 2
}

help () {
    sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
}

is_uint () {
    case $1 in ''|*[!0-9]*) return 1 ;; esac
    return 0
}

# A decimal number, unsigned: 12, 0.5, .5, 3.
is_unum () {
    case $1 in ''|.|*[!0-9.]*|*.*.*) return 1 ;; esac
    return 0
}

# A decimal number, optionally negative.
is_num () {
    is_unum "${1#-}"
}

# ---------------------------------------------------------------- arguments
[ $# -ge 1 ] || usage_error "missing mode"
case $1 in
    -h|--help) help; exit 0 ;;
    manifest|criterion) mode=$1; shift ;;
    *) usage_error "unknown mode '$1' (manifest or criterion)" ;;
esac

count=; durations=const:0; fail_rate=0; seed=1; suite=gen; truth=; out=
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) help; exit 0 ;;
        --*=*) opt=${1%%=*}; val=${1#*=}; shift ;;
        --count|--durations|--fail-rate|--seed|--suite|--truth|--out)
            [ $# -ge 2 ] || usage_error "option $1 needs a value"
            opt=$1; val=$2; shift 2 ;;
        -*) usage_error "unknown option '$1'" ;;
        *) usage_error "unknown argument '$1'" ;;
    esac
    case $opt in
        --count)
            is_uint "$val" && [ "${#val}" -le 7 ] && [ "$val" -ge 1 ] \
                || usage_error "--count wants a whole number from 1 to 9999999, not '$val'"
            count=$(awk -v c="$val" 'BEGIN { print c + 0 }') ;;
        --durations) durations=$val ;;
        --fail-rate)
            is_unum "$val" && awk -v p="$val" 'BEGIN { exit !(p + 0 <= 1) }' \
                || usage_error "--fail-rate wants a probability from 0 to 1, not '$val'"
            fail_rate=$val ;;
        --seed)
            is_uint "$val" && [ "${#val}" -le 10 ] \
                && awk -v s="$val" 'BEGIN { exit !(s + 0 <= 2147483646) }' \
                || usage_error "--seed wants a whole number from 0 to 2147483646, not '$val'"
            seed=$val ;;
        --suite)
            case $val in
                ''|[!A-Za-z_]*|*[!A-Za-z0-9_]*)
                    usage_error "--suite wants a C identifier, not '$val'" ;;
            esac
            suite=$val ;;
        --truth) [ -n "$val" ] || usage_error "--truth wants a file name"; truth=$val ;;
        --out) [ -n "$val" ] || usage_error "--out wants a path"; out=$val ;;
        *) usage_error "unknown option '$opt'" ;;
    esac
done

[ -n "$count" ] || usage_error "--count is required"
[ -n "$out" ] || usage_error "--out is required"
[ "$mode" = manifest ] || [ -z "$truth" ] \
    || usage_error "--truth is for manifest mode (criterion writes DIR/expected.txt)"

# --durations: split KIND:A[:B] and check each part.
dist=${durations%%:*}
rest=${durations#*:}
[ "$rest" != "$durations" ] || usage_error "--durations wants const:S, uniform:A:B or lognormal:MU:SIGMA, not '$durations'"
case $dist in
    const)
        is_unum "$rest" || usage_error "--durations const:S wants S >= 0 seconds, not '$durations'"
        d1=$rest; d2=0 ;;
    uniform|lognormal)
        d1=${rest%%:*}; d2=${rest#*:}
        [ "$d2" != "$rest" ] || usage_error "--durations $dist wants two numbers, not '$durations'"
        if [ "$dist" = uniform ]; then
            is_unum "$d1" && is_unum "$d2" && awk -v a="$d1" -v b="$d2" 'BEGIN { exit !(a + 0 <= b + 0) }' \
                || usage_error "--durations uniform:A:B wants 0 <= A <= B seconds, not '$durations'"
        else
            is_num "$d1" && is_unum "$d2" \
                || usage_error "--durations lognormal:MU:SIGMA wants a number MU and SIGMA >= 0, not '$durations'"
        fi ;;
    *) usage_error "--durations wants const:S, uniform:A:B or lognormal:MU:SIGMA, not '$durations'" ;;
esac

# ---------------------------------------------------------------- generation
# Prints one line per test: "INDEX STATUS SECONDS" (SECONDS with 3 decimals).
s_plan () {
    awk -v n="$count" -v dist="$dist" -v d1="$d1" -v d2="$d2" \
        -v p="$fail_rate" -v seed="$seed" '
    # Park-Miller minimal standard: x = 16807 x mod (2^31 - 1).  The
    # product stays below 2^46, so doubles compute it exactly everywhere.
    function next_fail () { sf = (16807 * sf) % 2147483647; return sf / 2147483647 }
    function next_dur ()  { sd = (16807 * sd) % 2147483647; return sd / 2147483647 }
    function normal (  u1, u2) {
        u1 = next_dur (); u2 = next_dur ()    # u1 in (0, 1): log is finite
        return sqrt (-2 * log (u1)) * cos (6.283185307179586 * u2)
    }
    BEGIN {
        sf = (seed % 2147483646) + 1
        sd = ((seed * 7919 + 104729) % 2147483646) + 1
        for (i = 0; i < 8; i++) { next_fail (); next_dur () }
        for (i = 1; i <= n; i++) {
            status = next_fail () < p ? "failed" : "passed"
            if (dist == "const")        secs = d1 + 0
            else if (dist == "uniform") secs = d1 + (d2 - d1) * next_dur ()
            else                        secs = exp (d1 + d2 * normal ())
            printf "%d %s %.3f\n", i, status, secs
        }
    }'
}

width=5
[ "${#count}" -le 5 ] || width=${#count}
cmdline="$me $mode --count $count --durations $durations --fail-rate $fail_rate --seed $seed --suite $suite"

s_manifest () {
    # $1 = manifest file, $2 = truth file or empty
    s_plan | awk -v width="$width" -v suite="$suite" -v cmdline="$cmdline" \
                 -v truth="$2" '
    BEGIN {
        print "# Generated by tools/" cmdline
        print "# Do not edit: regenerate it.  Expected outcomes: passed unless"
        print "# the command exits 1."
    }
    {
        id = sprintf ("%s/%0" width "d", suite, $1)
        if ($2 == "failed")
            cmd = ($3 == "0.000") ? "sh -c '\''exit 1'\''" \
                                  : "sh -c '\''sleep " $3 "; exit 1'\''"
        else
            cmd = ($3 == "0.000") ? "true" : "sleep " $3
        printf "\n[test \"%s\"]\ncommand = %s\n", id, cmd
        if (truth != "")
            printf "%s %s %s\n", id, $2, $3 > truth
    }' > "$1"
}

s_criterion () {
    # $1 = directory
    s_plan | awk -v width="$width" -v suite="$suite" -v cmdline="$cmdline" \
                 -v truth="$1/expected.txt" '
    BEGIN {
        print "/*  gen_criterion.c - generated by tools/" cmdline
        print "    Do not edit: regenerate it.  Expected outcomes: expected.txt. */"
        print "#include <criterion/criterion.h>"
        print "#include <errno.h>"
        print "#include <time.h>"
        print ""
        print "static void __attribute__ ((unused))"
        print "s_sleep (long ms)"
        print "{"
        print "    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };"
        print "    while (nanosleep (&ts, &ts) != 0 && errno == EINTR)"
        print "        ;"
        print "}"
        print ""
    }
    {
        name = sprintf ("%0" width "d", $1)
        ms = $3; sub (/\./, "", ms); ms = ms + 0
        body = ms > 0 ? " s_sleep (" ms "L);" : ""
        if ($2 == "failed")
            body = body " cr_assert_fail (\"generated failure\");"
        printf "Test (%s, %s) {%s }\n", suite, name, body
        printf "%s/%s %s %s\n", suite, name, $2, $3 > truth
    }' > "$1/gen_criterion.c"
}

s_fail () {
    printf '%s: %s\n' "$me" "$1" >&2
    exit 1
}

#  Creates or truncates FILE, or exits 1 saying why.
s_writable () {
    (: > "$1") 2> /dev/null || s_fail "cannot write $1"
}

set -e
case $mode in
    manifest)
        # Written in place, not to a temporary file then renamed: OUT may
        # be /dev/stdout or a fifo.  "-" is standard output.
        [ "$out" != - ] || out=/dev/stdout
        s_writable "$out"
        [ -z "$truth" ] || s_writable "$truth"
        s_manifest "$out" "$truth" ;;
    criterion)
        command -v pkg-config > /dev/null 2>&1 && pkg-config --exists criterion \
            || s_fail "Criterion not found by pkg-config (make deps installs libcriterion-dev)"
        mkdir -p "$out" 2> /dev/null || s_fail "cannot create directory $out"
        s_writable "$out/gen_criterion.c"
        s_writable "$out/expected.txt"
        s_criterion "$out"
        # -O0: a 10,000-test file compiles in seconds, and the bodies are
        # trivial anyway.  -w: Criterion's macros warn on some compilers.
        # shellcheck disable=SC2046
        ${CC:-cc} -O0 -w -o "$out/gen_criterion" "$out/gen_criterion.c" \
            $(pkg-config --cflags --libs criterion) \
            || s_fail "compiling $out/gen_criterion.c failed" ;;
esac
