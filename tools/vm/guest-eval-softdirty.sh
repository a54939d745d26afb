#!/bin/bash
# Runs inside the two-tier guest (make vm-eval-softdirty): a subset of make
# eval with --softdirty, scored also against the pages the guest kernel saw
# written (tools/vm/softdirty.py; this host's kernel has no soft-dirty), then
# the read runs again without it, as a control: does soft-dirty disturb mtp's
# written-page scan (both write-protect page table entries)?
#   guest-eval-softdirty.sh BUILD OUT [run.py options, e.g. --scale 0.5]
# Writes OUT/eval-softdirty/{results,table}{,-control}.{json,md}.
set -u
build=${1:-build}
out=${2:-build/vm-out}
shift 2 2>/dev/null || shift $#
cd "$(dirname "$0")/../.."
dir="$out/eval-softdirty"
mkdir -p "$dir"
# rc = --no-written-scan: the same workloads with and without the scan.
only="uniform/read/rc+written uniform/read/rc uniform/store/rc+written
      zipf/read/rc+written zipf/read/rc phase/read/rc+written"
control="uniform/read/rc+written zipf/read/rc+written"
echo "=== guest: $(uname -r), $(nproc) vCPUs, THP $(cat /sys/kernel/mm/transparent_hugepage/enabled)"
# mtp-trace runs with --no-migrate; keep the kernel from moving pages too.
echo 0 >/proc/sys/kernel/numa_balancing
status=0
# shellcheck disable=SC2086
/usr/bin/python3 tools/eval/run.py --build "$build" --softdirty --only $only \
    --results "$dir/results.json" --table "$dir/table.md" "$@" || status=1
echo "=== control: without --softdirty"
# shellcheck disable=SC2086
/usr/bin/python3 tools/eval/run.py --build "$build" --only $control \
    --results "$dir/results-control.json" --table "$dir/table-control.md" "$@" || status=1
exit $status
