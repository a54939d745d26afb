#!/bin/bash
# Everything `make test` runs, each suite to the end even when one fails, then
# one closing line that adds them up.
set -u
cd "$(dirname "$0")/.."
log=$(mktemp /tmp/mtp-tests.XXXXXX)
trap 'rm -f "$log"' EXIT
status=0

suite() {
    local name=$1
    shift
    echo "=== $name: $*"
    "$@" 2>&1 | tee -a "$log"
    local rc=${PIPESTATUS[0]}
    if [ "$rc" -ne 0 ]; then
        echo "=== $name FAILED (exit $rc)"
        status=1
    fi
    echo "--- end of $name" >>"$log"
}

suite "format (one .clang-format for every C file)" make -s format-check
suite "unit tests" make -s unit
suite "unit tests under ASan+UBSan" make -s SAN=1 unit
# libFuzzer over the parsers of what the target and the machine hand root.
suite "fuzzing (libFuzzer, ASan+UBSan, FUZZ_SECONDS each)" make -s fuzz
# Pagemap and maps parsing; the live part checks whatever this kernel offers.
suite "soft-dirty module self-test" /usr/bin/python3 tools/vm/softdirty.py
# The pure parts of make vm-eval's harness and report.
suite "vm-eval harness tests" /usr/bin/python3 tests/tools/test_vm_eval.py
suite "integration tests" make -s integration
suite "integration tests under ASan+UBSan (loader and extension)" make -s integration-san
# CPython's own tests, alone and under mtp-trace, case by case.
suite "CPython's regression tests under mtp" /usr/bin/python3 tests/integration/cpython_suite.py --build build
# A tripwire against gross regressions in what tracing costs, not a benchmark.
suite "cost tripwire (traced/untraced CPU <= 1.5x)" /usr/bin/python3 tests/integration/cost_tripwire.py --build build
if [ "${MTP_SKIP_VM:-0}" != 1 ] && make -s -n vm-test >/dev/null 2>&1; then
    suite "two-tier VM tests" make -s vm-test
    suite "the guest's access-count plugin against known writes" make -s vm-access-check
    suite "vm.sh boots again after a stale int3 at boot" /usr/bin/python3 tests/tools/test_vm_boot_again.py
fi

# Each suite ends with "N passed, N failed"; add up the last one of each.
read -r passed failed < <(awk '
    /passed, [0-9]+ failed/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed,/) p = $i; if ($(i+1) ~ /^failed/) f = $i } }
    /^--- end of/ { tp += p; tf += f; p = 0; f = 0 }
    END { print tp + 0, tf + 0 }' "$log")
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1 # a suite broke before it could count
fi
echo "${passed} passed, ${failed} failed"
exit $status
