#!/bin/bash
# Runs each libFuzzer harness for a fixed time from its seed corpus
# (tests/fuzz/corpus/NAME/), into a scratch corpus so the seeds stay as
# committed; prints one line per harness: runs, executions per second, the
# coverage reached (libFuzzer's cov: edges, ft: features) and the corpus.
# A crash, leak or sanitizer report fails the run and leaves the input in
# OUT/NAME/ (reproduce: OUT/../NAME OUT/NAME/crash-*).
# Usage: run.sh OUT_DIR SECONDS HARNESS...
set -u
out=$(realpath -m "$1") seconds=$2
shift 2
mkdir -p "$out"
root=$(cd "$(dirname "$0")/../.." && pwd)
status=0 passed=0 failed=0
for bin in "$@"; do
    bin=$(realpath "$bin")
    name=$(basename "$bin")
    seeds=$root/tests/fuzz/corpus/$name
    work=$out/$name
    rm -rf "$work" && mkdir -p "$work/corpus"
    [ -d "$seeds" ] && cp "$seeds"/* "$work/corpus/" 2>/dev/null
    log=$work/log
    if (cd "$work" && "$bin" -max_total_time="$seconds" -print_final_stats=1 \
            -max_len=8192 -timeout=10 -rss_limit_mb=2048 corpus > "$log" 2>&1); then
        done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        cov=$(echo "$done_line" | grep -o 'cov: [0-9]*' | cut -d' ' -f2)
        ft=$(echo "$done_line" | grep -o 'ft: [0-9]*' | cut -d' ' -f2)
        corp=$(echo "$done_line" | grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' | cut -d' ' -f2)
        printf 'ok   %-14s %4ss  %9s runs  %6s/s  cov %5s  ft %5s  corpus %s (seeds %s)\n' \
            "$name" "$seconds" "$runs" "$speed" "$cov" "$ft" "$corp" \
            "$(ls "$seeds" 2>/dev/null | wc -l)"
        passed=$((passed + 1))
    else
        status=1 failed=$((failed + 1))
        echo "FAIL $name: see $log; the input is in $work"
        grep -E 'ERROR|SUMMARY|runtime error|Assertion' "$log" | head -5
    fi
done
echo "$passed passed, $failed failed"
exit $status
