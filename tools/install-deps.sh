#!/bin/bash
# Installs, from Debian's archive, everything mtp needs to build, test and run
# its demo and test VM.  Quiet and quick when all is already there.
set -euo pipefail

packages=(
    make gcc clang llvm libclang-rt-dev clang-format pkg-config git gdb strace groff-base man-db
    libbpf-dev bpftool libelf-dev zlib1g-dev
    libnuma-dev numactl libcmocka-dev systemtap-sdt-dev libinih-dev libjson-c-dev libncurses-dev tmux
    python3 python3-dev libpython3.11-testsuite python3-numpy python3-networkx python3-sqlalchemy python3-matplotlib
    python3-flask gunicorn wrk
    qemu-system-x86 qemu-system-common busybox-static cpio zstd xz-utils kmod
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "error: missing packages: ${missing[*]}; run as root (sudo make ...) or install them with apt-get" >&2
    exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
