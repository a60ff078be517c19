#!/bin/sh
# run_tests.sh BUILD TEST_BIN... - run every Criterion test binary, print
# a closing tally, and exit non-zero if any failed.
#
# Each binary runs with TM_BUILD=BUILD so integration tests find the
# testmesh binary and the fixture suites.  Criterion runs the tests of
# one binary in parallel, one per core.  The closing synthesis line sums
# the binaries' own: its Crashing count is a part of Failing, as in
# Criterion's (script tests report no crashes).
#
# An argument ending in .sh is a script test (tests/netns/lan_test.sh):
# it runs as `SCRIPT BUILD` and its last "N passed, M failed" line is
# added to the tally.  Its exit status 77 ("cannot run here": not root,
# no `ip netns`) counts as one failure, never as a pass.
#
# The result cache is off (TESTMESH_CACHE=off) for every run the tests
# make: most tests check what a run does, and a hit from an earlier test
# sharing the default data directory would not run it.  The cache's own
# tests (test_cli_cache.c) turn it on with --cache, and each uses a data
# directory of its own.
build=$1; shift
export TM_BUILD="$build"
export TESTMESH_CACHE=off
passed=0; failed=0; crashing=0; bad=""
for bin in "$@"; do
    name=$(basename "$bin")
    case $bin in *.sh)
        out=$("$bin" "$build" 2>&1); rc=$?
        printf '%s\n' "$out" | grep -Ev '^[0-9]+ passed, [0-9]+ failed$'
        line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
        p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed}
        if [ $rc -eq 77 ]; then
            p=0; f=1; line="could not run (exit 77): counted as a failure"
        elif [ -z "$line" ]; then
            p=0; f=1; line="no 'N passed, M failed' line (exit $rc): counted as a failure"
        elif [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
            f=1; line="$line, but exit $rc: counted as a failure"
        fi
        [ $rc -eq 0 ] && [ "$f" -eq 0 ] || bad="$bad $name"
        printf '  %-28s %s\n' "$name" "$line"
        passed=$((passed + p)); failed=$((failed + f))
        continue ;;
    esac
    if out=$("$bin" --jobs "$(nproc)" -S 2>&1); then :; else bad="$bad $name"; fi
    printf '%s\n' "$out" | grep -v '^\[====\] Synthesis' || true
    line=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -n 1)
    p=$(printf '%s' "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
    f=$(printf '%s' "$line" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
    c=$(printf '%s' "$line" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
    printf '  %-28s %s\n' "$name" "${line#*Synthesis: }"
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
    crashing=$((crashing + ${c:-0}))
    [ -n "$line" ] || { failed=$((failed + 1)); bad="$bad $name(no-synthesis)"; }
done
echo "[====] Synthesis: Tested: $((passed + failed)) | Passing: $passed | Failing: $failed | Crashing: $crashing"
echo "$passed passed, $failed failed"
if [ -n "$bad" ]; then echo "failed:$bad" >&2; exit 1; fi
