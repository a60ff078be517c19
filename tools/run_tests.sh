#!/bin/sh
# run_tests.sh BUILD TEST_BIN... - run every Criterion test binary, print
# a closing tally, and exit non-zero if any failed.
#
# Each binary runs with TM_BUILD=BUILD so integration tests find the
# testmesh binary and the fixture suites.  Criterion runs the tests of
# one binary in parallel, one per core.
build=$1; shift
export TM_BUILD="$build"
passed=0; failed=0; bad=""
for bin in "$@"; do
    name=$(basename "$bin")
    if out=$("$bin" --jobs "$(nproc)" -S 2>&1); then :; else bad="$bad $name"; fi
    printf '%s\n' "$out" | grep -v '^\[====\] Synthesis' || true
    line=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -n 1)
    p=$(printf '%s' "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
    f=$(printf '%s' "$line" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
    printf '  %-28s %s\n' "$name" "${line#*Synthesis: }"
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
    [ -n "$line" ] || { failed=$((failed + 1)); bad="$bad $name(no-synthesis)"; }
done
echo "[====] Synthesis: Tested: $((passed + failed)) | Passing: $passed | Failing: $failed | Crashing: 0"
echo "$passed passed, $failed failed"
if [ -n "$bad" ]; then echo "failed:$bad" >&2; exit 1; fi
