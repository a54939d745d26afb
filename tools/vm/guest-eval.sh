#!/bin/bash
# Runs inside the two-tier guest (make vm-eval): tools/vm/vm_eval.py, the
# paper's workloads under every tiering configuration and fast-node size.
#   guest-eval.sh BUILD OUT [vm_eval.py options]
# Writes OUT/vm-eval/results.json; tools/vm/vm_eval_report.py makes the tables.
set -u
build=${1:-build}
out=${2:-build/vm-out}
shift 2 2>/dev/null || shift $#
cd "$(dirname "$0")/../.."
mkdir -p "$out/vm-eval"
# Attaching uprobes live-patches __schedule unless the scheduler's perf static
# key is already on; a TCG guest once panicked on a stale int3 there (see
# perf_key_holder.py), so hold it on for the whole run.
/usr/bin/python3 tools/vm/perf_key_holder.py &
holder=$!
trap 'kill $holder 2>/dev/null' EXIT
sleep 1
echo "=== guest: $(uname -r), $(nproc) vCPUs; tiers: $(cat /sys/devices/virtual/memory_tiering/memory_tier*/nodelist 2>/dev/null | tr '\n' ' ')"
# The harness and mtp-trace keep their own memory on the slow node, so that
# the fast node's limit is the workload's alone; the workload itself resets
# its policy to the default (first touch).
numactl --membind=1 /usr/bin/python3 tools/vm/vm_eval.py --build "$build" \
    --out "$out/vm-eval/results.json" "$@"
