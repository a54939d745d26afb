#!/bin/bash
# Runs each CMocka test binary, keeps going after a failure, and ends with the
# plain "N passed, N failed" line that counts tests, not binaries.
set -u
passed=0 failed=0 status=0
for bin in "$@"; do
    out=$("$bin" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -n1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ "$rc" -ne 0 ]; then
        status=1
        [ -z "$f" ] && failed=$((failed + 1)) # crashed before its summary
    fi
done
echo "unit: ${passed} passed, ${failed} failed"
exit $status
