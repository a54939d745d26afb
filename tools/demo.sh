#!/bin/bash
# The built-in demo: a Python program with a hot set and a cold set, traced
# live by mtp-trace, then checked against the program's own ground truth.
set -euo pipefail
build=${1:-build}
python=${PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

if [ "$(id -u)" -ne 0 ]; then
    echo "error: the demo attaches BPF programs: run it as root (sudo make demo)" >&2
    exit 1
fi
pydir=$(make -s pyext-dir PYTHON="$python" BUILD="$build")
tmp=$(mktemp -d /tmp/mtp-demo.XXXXXX)
workload_pid=
cleanup() {
    [ -n "$workload_pid" ] && kill "$workload_pid" 2>/dev/null || true
    [ -n "$workload_pid" ] && rm -rf "/sys/fs/bpf/mtp/$workload_pid"
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "== starting a Python program with 20000 hot and 20000 cold objects (tools/workload.py)"
PYTHONPATH="$pydir" "$python" tools/workload.py --hot 20000 --cold 20000 --seconds 12 \
    --layout "$tmp/layout.json" --ready "$tmp/ready" >"$tmp/workload.out" &
workload_pid=$!
for _ in $(seq 100); do [ -e "$tmp/ready" ] && break; sleep 0.1; done
[ -e "$tmp/ready" ] || { echo "error: the workload did not start" >&2; exit 1; }

echo "== sudo $build/mtp-trace --pid $workload_pid --duration 8 --keep-pins"
"$build/mtp-trace" --pid "$workload_pid" --duration 8 --keep-pins --top-pages 10

pin=/sys/fs/bpf/mtp/$workload_pid/pages
echo
echo "== the pinned map, as any bpftool user sees it (first entries of 'bpftool map dump pinned $pin'):"
bpftool map dump pinned "$pin" > "$tmp/dump.txt"
head -n 17 "$tmp/dump.txt"
echo
echo "== checked against the program's own ground truth:"
bpftool -j map dump pinned "$pin" > "$tmp/dump.json"
"$python" tools/ground_truth.py "$tmp/layout.json" "$tmp/dump.json"
rm -rf "/sys/fs/bpf/mtp/$workload_pid"
wait "$workload_pid" || true
workload_pid=
