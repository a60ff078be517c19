#!/bin/sh
# demo.sh BUILD - run the example suites through testmesh (what `make demo` runs).
#
# Runs examples/calc (a Criterion binary, built by `make fixtures` into
# BUILD/examples/calc_tests) and examples/tools.ini (a manifest) in one
# testmesh run, with the default progress display (a live line on a
# terminal, one line per test otherwise), writes a JUnit report to
# BUILD/demo-junit.xml, and keeps testmesh's data (the duration history)
# in BUILD/demo-data, so a second demo orders the slow tests first.
# The first run stores every pass in the result cache (--cache=write:
# it runs every test, whatever an earlier demo stored); a second run with
# nothing changed then shows that no test runs again (docs/caching.md).
#
# Exit status: testmesh's (0 all passed, 1 a test failed, 2 an error), or
# 2 if BUILD lacks what the demo needs.

me=demo.sh
if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $me BUILD   (e.g. tools/demo.sh build)" >&2
    exit 2
fi

# BUILD is relative to where we were called from; the example paths are
# relative to the repository root, where we run.
build=$(cd "$1" 2> /dev/null && pwd) \
    || { echo "$me: no build directory $1 (make build/testmesh fixtures)" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
# Under the root, name things relatively: the test ids are prefixed with the
# target as given, and "build/examples/calc_tests:eval/modulo" reads better.
case $build in "$root"/*) build=${build#"$root"/} ;; esac

testmesh=$build/testmesh
calc=$build/examples/calc_tests
tools=examples/tools.ini
junit=$build/demo-junit.xml
data=$build/demo-data

[ -x "$testmesh" ] || { echo "$me: no $testmesh (make build/testmesh)" >&2; exit 2; }
[ -x "$calc" ] || { echo "$me: no $calc (make fixtures builds it)" >&2; exit 2; }
[ -f "$tools" ] || { echo "$me: no $root/$tools" >&2; exit 2; }

echo "testmesh demo: the calculator's Criterion suite and a manifest of shell-tool"
echo "checks, in one run, one process per test:"
echo
echo "  \$ testmesh run --cache=write --junit $junit --data $data \\"
echo "        $calc $tools"
echo

rm -f "$junit"
# Options before targets: `testmesh run` stops reading options at the first target.
"$testmesh" run --cache=write --junit "$junit" --data "$data" "$calc" "$tools"
rc=$?

if [ "$rc" -ne 2 ]; then
    echo
    echo "The same run again, nothing changed: every pass comes from the result cache."
    echo
    echo "  \$ testmesh run --data $data $calc $tools"
    echo
    out=$("$testmesh" run --progress lines --data "$data" "$calc" "$tools")
    again=$?
    printf '%s\n' "$out" | tail -n 1
    [ "$rc" -ne 0 ] || rc=$again
    echo
    echo "  \$ testmesh cache explain 'eval/*' --data $data"
    "$testmesh" cache explain 'eval/*' --data "$data" | head -n 3
fi

echo
if [ -f "$junit" ]; then
    cases=$(grep -c '<testcase' "$junit")
    echo "JUnit report: $junit ($cases test cases)"
else
    echo "$me: testmesh wrote no JUnit report" >&2
    [ "$rc" -ne 0 ] || rc=2
fi
echo "Duration history: $data (run the demo again: slow tests start first)"
[ "$rc" -eq 0 ] || echo "$me: testmesh exited with status $rc" >&2
exit "$rc"
