#!/bin/bash
# Regenerates docs/mtp-top.png, the README's picture of `mtp-trace --top`:
# tests/integration/top_program.py (a known hot and a known cold Python type)
# traced for a few intervals in an 80x24 tmux, the pane captured with its
# colours and drawn by tools/ansi_png.py.  Needs root (BPF), a build of the
# loader and the extension for /usr/bin/python3, tmux and python3-matplotlib.
#
# Usage: sudo tools/top_screenshot.sh [BUILD_DIR] [OUT.png]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$root" && realpath "${1:-build}")
out=$(realpath "${2:-$root/docs/mtp-top.png}")
pydir=$(make -s -C "$root" pyext-dir PYTHON=/usr/bin/python3 BUILD="$build")
tmp=$(mktemp -d)
sock=mtp-top-shot-$$
prog=
cleanup() {
    tmux -L "$sock" kill-server 2>/dev/null || true
    [ -n "$prog" ] && kill "$prog" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

PYTHONPATH=$pydir /usr/bin/python3 "$root/tests/integration/top_program.py" 120 "$tmp/ready" \
    >/dev/null &
prog=$!
for _ in $(seq 300); do [ -e "$tmp/ready" ] && break; sleep 0.1; done
[ -e "$tmp/ready" ] || { echo "error: top_program.py did not start" >&2; exit 1; }
tmux -L "$sock" new-session -d -s shot -x 80 -y 24 "$build/mtp-trace --pid $prog --top"
sleep "${MTP_SHOT_SECONDS:-8}"
tmux -L "$sock" capture-pane -e -p -t shot >"$tmp/screen.ans"
tmux -L "$sock" send-keys -t shot q
/usr/bin/python3 "$root/tools/ansi_png.py" "$tmp/screen.ans" "$out" 80
echo "wrote $out"
