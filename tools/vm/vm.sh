#!/usr/bin/env bash
# vm.sh -- boot a two-NUMA-node QEMU guest (node 1 CPU-less, lower memory tier) that
# sees the host's / read-only (tmpfs overlay on top) and run a command in it.
# Needs only Debian packages. See tools/vm/README.md.
# shellcheck disable=SC2054 # QEMU option values contain commas
set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_DIR/../.." && pwd)
CACHE=${MTP_VM_CACHE:-$VM_DIR/cache}
QEMU=${MTP_VM_QEMU:-qemu-system-x86_64}
BUSYBOX=${MTP_VM_BUSYBOX:-/bin/busybox}
# Newest 6.12 cloud kernel first (HMAT tiering needs >= 6.12), any cloud kernel next.
KPKG_RE='^linux-image-6\.12\.[0-9]+\+deb[0-9]+-cloud-amd64-unsigned$'
KPKG_FALLBACK_RE='^linux-image-[0-9][^ ]*-cloud-amd64-unsigned$'
MODS_BASE="virtio_pci fuse virtiofs overlay" # built-in ones are skipped
MODS_KMEM="kmem device_dax dax_hmem" # kmem first, so dax_hmem's device binds to it
# Bump when the cached files' recipe changes: older caches are then rebuilt.
CACHE_VERSION=2

prog=tools/vm/vm.sh
die() { echo "$prog: error: $*" >&2; exit 2; }
warn() { echo "$prog: $*" >&2; }
need() { # command, package
	command -v "$1" >/dev/null 2>&1 || die "'$1' not found: apt-get install $2"
}

usage() {
	cat <<EOF
usage: $prog COMMAND [options]

  fetch [--update]        download a Debian cloud kernel (not installed on the host) and
                          build the guest initramfs into \$MTP_VM_CACHE (default tools/vm/cache)
  run [options] -- CMD... boot the guest, run CMD with 'sh -c' in the current directory,
                          stream its output, exit with its exit code
  shell [options]         boot the guest with an interactive shell on the console
  check [options]         print the NUMA topology and memory tiers; exit 0 only if there
                          are 2 nodes, node 1 has no CPUs and is in a lower tier than node 0

'$prog COMMAND --help' describes each command's options. run/shell/check need root.
EOF
}

usage_fetch() {
	cat <<EOF
usage: $prog fetch [--update]

Picks the newest linux-image-6.12.*-cloud-amd64-unsigned known to apt (any
*-cloud-amd64-unsigned if none; MTP_VM_KERNEL_PKG=NAME forces one), downloads it with
'apt-get download', unpacks it with 'dpkg -x' into the cache, extracts an uncompressed
vmlinux (PVH entry) and builds an initramfs (static busybox + $MODS_BASE
+ $MODS_KMEM). A second call is a no-op; --update picks the newest package again.
Cache: ${CACHE}
EOF
}

usage_boot() {
	cat <<EOF
usage: $prog $1 [options]${2:+ $2}

  --node0-mb N        memory of node 0 (has the CPUs), MiB        [1024]
  --node1-mb N        memory of node 1 (CPU-less), MiB            [1024]
  --cpus N            vCPUs, all on node 0                        [2]
  --tiering MODE      hmat: ACPI HMAT gives node 1 4x latency, 1/4 bandwidth (6.12:
                            memory_tier4: 0, memory_tier72: 1)
                      kmem: node 1 soft-reserved, onlined by dax_hmem + kmem, the
                            CXL/PMEM path (6.12: tier72 from HMAT; 6.1: tier22)
                      none: plain two nodes, one tier             [hmat]
  --out DIR           host directory mounted writable at the same path in the guest
                      (results come back through it)             [$REPO/build/vm-out]
  --rw DIR            one more writable share at the same path (repeatable)
  --env NAME=VALUE    set a variable for the command (repeatable)
  --timeout SEC       kill the guest after SEC seconds, exit 124  [${3:-1800}]
  --accel auto|kvm|tcg  auto = TCG if /sys/module/kvm_pvm exists or /dev/kvm is unusable
  --append ARGS       extra kernel command line
  -v, --verbose       show the guest kernel's console on stderr
  -h, --help

The guest sees the host's / read-only with a tmpfs overlay (writes outside --out/--rw are
lost), the environment's PATH, HOME, LANG, TERM, PYTHON*, PYENV*, VIRTUAL_ENV, CI and
MTP_* variables, plus MTP_VM=1 and MTP_VM_TIERING. Ctrl-C stops the guest.
EOF
}

# ---------------------------------------------------------------- fetch

apt_updated=0
apt_update_once() {
	[[ $apt_updated = 1 ]] && return 0
	apt_updated=1
	[[ $(id -u) = 0 ]] || { warn "apt lists may be stale; run 'apt-get update' as root"; return 0; }
	warn "running apt-get update"
	apt-get update -qq >&2 || warn "apt-get update failed"
}

# Names matching $1, newest version first, that apt can download.
candidates() {
	local name policy
	apt-cache search --names-only "$1" 2>/dev/null | awk '{print $1}' | sort -rV |
		while read -r name; do
			policy=$(apt-cache policy "$name" 2>/dev/null)
			[[ $policy = *"Candidate: "[!\(]* ]] && echo "$name"
		done
	return 0
}

pick_kernel_pkg() {
	local c
	if [[ -n ${MTP_VM_KERNEL_PKG:-} ]]; then
		echo "$MTP_VM_KERNEL_PKG"
		return
	fi
	c=$(candidates "$KPKG_RE")
	if [[ -z $c ]]; then
		apt_update_once
		c=$(candidates "$KPKG_RE")
	fi
	if [[ -z $c ]]; then
		c=$(candidates "$KPKG_FALLBACK_RE")
		[[ -n $c ]] && warn "no linux-image-6.12*-cloud-amd64-unsigned; using ${c%%$'\n'*} (--tiering hmat needs 6.12)"
	fi
	[[ -n $c ]] || die "apt knows no linux-image-*-cloud-amd64-unsigned package (Debian bookworm/-security in sources.list, then apt-get update)"
	echo "${c%%$'\n'*}"
}

# Uncompressed vmlinux from a bzImage: find the payload by its magic, decompress.
extract_vmlinux() { # bzImage out
	local magic tool off
	for magic in '\x28\xb5\x2f\xfd:zstd' '\xfd\x37\x7a\x58\x5a:xz' '\x1f\x8b\x08:gzip' '\x02\x21\x4c\x18:lz4'; do
		tool=${magic##*:}
		command -v "$tool" >/dev/null || continue
		for off in $(LC_ALL=C grep -obUaP "${magic%:*}" "$1" 2>/dev/null | head -5 | cut -d: -f1); do
			# Trailing bytes after the payload make the decompressor complain; the output is whole.
			tail -c +$((off + 1)) "$1" | "$tool" -dcq 2>/dev/null >"$2.tmp" || true
			if [[ $(head -c 4 "$2.tmp" | od -An -c | tr -d ' ') = 177ELF ]] && [[ $(stat -c %s "$2.tmp") -gt 4000000 ]]; then
				# PVH entry note (Xen note type 18) is required for QEMU to boot the ELF.
				if ! command -v readelf >/dev/null || readelf -n "$2.tmp" 2>/dev/null | grep -q 'Xen.*0x00000012'; then
					mv "$2.tmp" "$2"
					return 0
				fi
			fi
		done
	done
	rm -f "$2.tmp"
	return 1
}

decompress_ko() { # in out
	case $1 in
	*.ko.xz) xz -dc "$1" >"$2" ;;
	*.ko.zst) zstd -dcq "$1" >"$2" ;;
	*.ko.gz) gzip -dc "$1" >"$2" ;;
	*) cp "$1" "$2" ;;
	esac
}

ko_depends() { # decompressed .ko -> its "depends=" list, space separated
	tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | tr ',' ' '
}

cache_ok() { # the current kernel and initramfs are cached, by this recipe
	[[ -f $CACHE/current && $(cat "$CACHE/$(cat "$CACHE/current")/complete" 2>/dev/null) = "$CACHE_VERSION" ]]
}

cmd_fetch() {
	local update=0
	while [[ $# -gt 0 ]]; do
		case $1 in
		--update) update=1 ;;
		-h | --help) usage_fetch; exit 0 ;;
		*) die "fetch: unknown option '$1' (see $prog fetch --help)" ;;
		esac
		shift
	done
	if [[ $update = 0 ]] && cache_ok; then
		echo "$prog: cached: $(cat "$CACHE/current") in $CACHE" >&2
		return 0
	fi
	need apt-get apt
	need dpkg dpkg
	need xz xz-utils
	need zstd zstd
	local st
	st=$(dpkg-query -W -f='${Status}' busybox-static 2>/dev/null || true)
	if [[ -z ${MTP_VM_BUSYBOX:-} && $st != *"ok installed"* ]] || [[ ! -x $BUSYBOX ]]; then
		die "no static busybox: apt-get install busybox-static"
	fi

	local pkg dir tmp
	pkg=$(pick_kernel_pkg)
	dir=$CACHE/$pkg
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock 9 # one fetch at a time per cache
	if [[ $(cat "$dir/complete" 2>/dev/null) = "$CACHE_VERSION" ]]; then
		echo "$pkg" >"$CACHE/current"
		echo "$prog: cached: $pkg in $CACHE" >&2
		exec 9>&-
		return 0
	fi
	echo "$prog: fetching $pkg" >&2
	rm -rf "$dir"
	tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX")
	# shellcheck disable=SC2064 # expand now
	trap "rm -rf '$tmp'" EXIT
	if ! (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2); then
		apt_update_once
		(cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) ||
			die "apt-get download $pkg failed"
	fi
	dpkg -x "$tmp"/*.deb "$tmp/x"
	local vmlinuz kver mdir
	vmlinuz=$(find "$tmp/x/boot" -name 'vmlinuz-*' 2>/dev/null | head -1)
	[[ -n $vmlinuz ]] || die "no /boot/vmlinuz-* in $pkg"
	kver=${vmlinuz##*/vmlinuz-}
	mdir=$tmp/x/lib/modules/$kver
	[[ -d $mdir ]] || die "no lib/modules/$kver in $pkg"
	mkdir -p "$tmp/out"
	cp "$vmlinuz" "$tmp/out/vmlinuz"
	cp "$tmp/x/boot/config-$kver" "$tmp/out/config" 2>/dev/null || true
	echo "$kver" >"$tmp/out/kver"
	if extract_vmlinux "$vmlinuz" "$tmp/out/vmlinux"; then
		echo "$prog: extracted uncompressed vmlinux (PVH boot)" >&2
	else
		warn "could not extract a PVH vmlinux; the guest boots the bzImage (about 2 s slower under TCG)"
	fi

	# Initramfs: static busybox and its applet links, and the modules with their
	# dependencies (from each module's modinfo "depends=", as the .deb has no modules.dep).
	local ird=$tmp/initramfs
	mkdir -p "$ird"/{bin,dev,proc,sys,mnt,newroot,run,mtp,lib/mtp}
	cp "$BUSYBOX" "$ird/bin/busybox"
	local a
	for a in sh mount umount insmod grep sleep mkdir cp cat ls ln switch_root poweroff sync dmesg; do
		ln -sf busybox "$ird/bin/$a"
	done
	declare -A kopath=() done_=()
	local f n
	while IFS= read -r f; do
		n=${f##*/}
		n=${n%%.ko*}
		kopath[${n//-/_}]=$f
	done < <(cd "$mdir" && find kernel -name '*.ko*')
	local builtin=" "
	if [[ -f $mdir/modules.builtin ]]; then
		builtin+=$(sed 's|.*/||; s|\.ko$||; s|-|_|g' "$mdir/modules.builtin" | tr '\n' ' ')
	fi
	resolve() { # name list-file
		local m=${1//-/_} d
		[[ -n ${done_[$m]:-} ]] && return 0
		done_[$m]=1
		[[ $builtin = *" $m "* ]] && return 0
		if [[ -z ${kopath[$m]:-} ]]; then
			warn "module $m is neither built in nor in $pkg"
			return 0
		fi
		decompress_ko "$mdir/${kopath[$m]}" "$ird/lib/mtp/$m.ko"
		for d in $(ko_depends "$ird/lib/mtp/$m.ko"); do resolve "$d" "$2"; done
		echo "$m" >>"$2"
	}
	: >"$ird/lib/mtp/base.list"
	: >"$ird/lib/mtp/kmem.list"
	for n in $MODS_BASE; do resolve "$n" "$ird/lib/mtp/base.list"; done
	for n in $MODS_KMEM; do resolve "$n" "$ird/lib/mtp/kmem.list"; done
	(cd "$ird" && find . | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null) >"$tmp/out/initramfs.cpio"
	echo "$pkg" >"$tmp/out/package"
	echo "base: $(tr '\n' ' ' <"$ird/lib/mtp/base.list")kmem: $(tr '\n' ' ' <"$ird/lib/mtp/kmem.list")" >"$tmp/out/modules"
	echo "$CACHE_VERSION" >"$tmp/out/complete"
	mv "$tmp/out" "$dir"
	echo "$pkg" >"$CACHE/current"
	rm -rf "$tmp"
	trap - EXIT
	exec 9>&-
	echo "$prog: cached $pkg ($kver) in $dir; modules: $(cat "$dir/modules")" >&2
}

# ---------------------------------------------------------------- boot

# Guest-side check for 'check': 2 nodes, node 1 CPU-less and in a lower tier.
# shellcheck disable=SC2016 # expanded by the guest's sh
CHECK_SCRIPT='
in_list() { # n list ("0-1,3")
	for r in $(echo "$2" | tr , " "); do
		lo=${r%-*}; hi=${r#*-}
		[ "$1" -ge "$lo" ] && [ "$1" -le "$hi" ] && return 0
	done
	return 1
}
tier_of() {
	for t in /sys/devices/virtual/memory_tiering/memory_tier*; do
		[ -r "$t/nodelist" ] && in_list "$1" "$(cat "$t/nodelist")" && { echo "${t##*memory_tier}"; return; }
	done
	echo none
}
uname -r
numactl -H
echo "--- memory tiers"
for t in /sys/devices/virtual/memory_tiering/memory_tier*; do
	[ -r "$t/nodelist" ] && echo "${t##*/}: $(cat "$t/nodelist")"
done
echo "--- check (tiering=$MTP_VM_TIERING)"
ok=0
n=$(ls -d /sys/devices/system/node/node[0-9]* | wc -l)
if [ "$n" = 2 ]; then echo "ok: 2 nodes"; else echo "FAIL: $n nodes, want 2"; ok=1; fi
c=$(cat /sys/devices/system/node/node1/cpulist 2>/dev/null)
if [ -z "$c" ] && [ -d /sys/devices/system/node/node1 ]; then echo "ok: node 1 has no CPUs"; else echo "FAIL: node 1 CPUs: ${c:-no node 1}"; ok=1; fi
t0=$(tier_of 0); t1=$(tier_of 1)
if [ "$MTP_VM_TIERING" = none ]; then
	echo "info: tiers node0=$t0 node1=$t1 (not checked with --tiering none)"
elif [ "$t0" != none ] && [ "$t1" != none ] && [ "$t1" -gt "$t0" ]; then
	echo "ok: node 1 (memory_tier$t1) is below node 0 (memory_tier$t0)"
else
	echo "FAIL: node 1 tier $t1 is not below node 0 tier $t0"; ok=1
fi
[ $ok = 0 ] && echo "check passed" || echo "check FAILED"
exit $ok
'

# Single-quote a string for the guest's sh.
shq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

VIRTIOFSD=
virtiofsd_kind=
find_virtiofsd() {
	local c
	for c in ${MTP_VM_VIRTIOFSD:-} /usr/lib/qemu/virtiofsd /usr/libexec/virtiofsd /usr/lib/virtiofsd; do
		if [[ -x $c ]]; then
			VIRTIOFSD=$c
			break
		fi
	done
	[[ -n $VIRTIOFSD ]] || die "virtiofsd not found: apt-get install qemu-system-common (Debian 12) or virtiofsd (Debian 13)"
	# QEMU's C virtiofsd takes -o options; the Rust one takes --shared-dir.
	if "$VIRTIOFSD" --help 2>&1 | grep -q -- --shared-dir; then virtiofsd_kind=rust; else virtiofsd_kind=c; fi
}

pids=()
ctl=
cleanup() {
	local i
	# Newest first: QEMU before the virtiofsd it talks to.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[$i]}" 2>/dev/null || true
		wait "${pids[$i]}" 2>/dev/null || true
	done
	pids=()
	[[ -n $ctl && -d $ctl ]] && rm -rf "$ctl"
	ctl=
}

# Own session: a signal to our process group reaches QEMU first, and virtiofsd exits
# when QEMU disconnects (or when cleanup kills it).
start_virtiofsd() { # dir socket cache log
	if [[ $virtiofsd_kind = rust ]]; then
		setsid "$VIRTIOFSD" --socket-path="$2" --shared-dir="$1" --cache="$3" --sandbox=chroot >>"$4" 2>&1 </dev/null &
	else
		setsid "$VIRTIOFSD" --socket-path="$2" -o source="$1",cache="$3",sandbox=chroot >>"$4" 2>&1 </dev/null &
	fi
	pids+=($!)
}

cmd_boot() {
	local mode=$1
	shift
	local node0=1024 node1=1024 cpus=2 tiering=hmat out=$REPO/build/vm-out timeout=1800 accel=auto
	local verbose=0 append="" timeout_set=0
	local -a rws=() envs=() cmd=()
	while [[ $# -gt 0 ]]; do
		case $1 in
		--node0-mb | --node1-mb | --cpus | --tiering | --out | --rw | --env | --timeout | --accel | --append)
			[[ $# -ge 2 ]] || die "$mode: $1 needs a value"
			case $1 in
			--node0-mb) node0=$2 ;;
			--node1-mb) node1=$2 ;;
			--cpus) cpus=$2 ;;
			--tiering) tiering=$2 ;;
			--out) out=$2 ;;
			--rw) rws+=("$2") ;;
			--env) envs+=("$2") ;;
			--timeout) timeout=$2 timeout_set=1 ;;
			--accel) accel=$2 ;;
			--append) append=$2 ;;
			esac
			shift 2
			continue
			;;
		-v | --verbose) verbose=1 ;;
		-h | --help)
			case $mode in
			run) usage_boot run '[--] CMD [ARGS...]' ;;
			shell) usage_boot shell '' none ;;
			*) usage_boot "$mode" ;;
			esac
			exit 0
			;;
		--) shift; cmd=("$@"); break ;;
		-*) die "$mode: unknown option '$1' (see $prog $mode --help)" ;;
		*) [[ $mode = run ]] || die "$mode: unexpected argument '$1'"; cmd=("$@"); break ;;
		esac
		shift
	done
	local v
	for v in "$node0" "$node1" "$cpus"; do
		[[ $v =~ ^[1-9][0-9]*$ ]] || die "$mode: '$v' is not a positive number"
	done
	[[ $timeout =~ ^[0-9]+$ ]] || die "$mode: --timeout '$timeout' is not a number of seconds"
	[[ $tiering =~ ^(hmat|kmem|none)$ ]] || die "$mode: --tiering must be hmat, kmem or none"
	[[ $accel =~ ^(auto|kvm|tcg)$ ]] || die "$mode: --accel must be auto, kvm or tcg"
	((node0 >= 128)) || die "$mode: --node0-mb must be at least 128"
	if [[ $tiering = kmem ]] && ((node0 % 128 || node1 % 128)); then
		die "$mode: --tiering kmem needs --node0-mb and --node1-mb in multiples of 128 (memory blocks)"
	fi
	[[ $mode = shell && $timeout_set = 0 ]] && timeout=0
	case $mode in
	run) [[ ${#cmd[@]} -gt 0 ]] || die "run: no command (usage: $prog run [options] -- CMD [ARGS...])" ;;
	check) cmd=("$CHECK_SCRIPT") ;;
	shell) cmd=(true) ;;
	esac

	[[ $(id -u) = 0 ]] || die "$mode needs root (virtiofsd shares the host's /); run it with sudo"
	need "$QEMU" qemu-system-x86
	need timeout coreutils
	find_virtiofsd
	cache_ok || cmd_fetch
	local kdir
	kdir=$CACHE/$(cat "$CACHE/current")

	# Accelerator: the nested "PVM" KVM cannot run a normal guest kernel usefully.
	local -a qaccel
	if [[ $accel = auto ]]; then
		if [[ -d /sys/module/kvm_pvm ]] || ! [[ -r /dev/kvm && -w /dev/kvm ]]; then accel=tcg; else accel=kvm; fi
	fi
	if [[ $accel = kvm ]]; then
		qaccel=(-accel kvm -cpu host)
	else
		qaccel=(-accel tcg,thread=multi -cpu max)
	fi

	# Writable shares, made absolute.
	local -a shares=()
	local d
	for d in "$out" "${rws[@]}"; do
		mkdir -p "$d" || die "cannot create $d"
		d=$(cd "$d" && pwd -P)
		[[ $d != / ]] || die "$mode: / cannot be a writable share"
		shares+=("$d")
	done

	trap cleanup EXIT
	trap 'cleanup; exit 130' INT
	trap 'cleanup; exit 143' TERM HUP
	ctl=$(mktemp -d "${TMPDIR:-/tmp}/mtp-vm.XXXXXX")
	local log=$ctl/console.log vlog=$ctl/virtiofsd.log
	: >"$log"

	# Per-run cpio appended to the cached initramfs: /init, /mtp/{cfg,env,cmd}.
	local rd=$ctl/rd
	mkdir -p "$rd/mtp"
	cp "$VM_DIR/guest-init.sh" "$rd/init"
	chmod 755 "$rd/init"
	local cwd
	cwd=$(pwd -P)
	{
		echo "MTP_MODE=$mode"
		echo "MTP_TIERING=$tiering"
		echo "MTP_HOSTNAME=mtp-vm"
		echo "MTP_CWD=$(shq "$cwd")"
		echo "MTP_NSHARES=${#shares[@]}"
		local i tmpfs_tmp=1
		for i in "${!shares[@]}"; do echo "MTP_SHARE_$i=$(shq "${shares[$i]}")"; done
		# A tmpfs on the guest's /tmp would hide a working directory or share under /tmp.
		for d in "$cwd" "${shares[@]}"; do [[ $d/ = /tmp/* ]] && tmpfs_tmp=0; done
		echo "MTP_TMPFS_TMP=$tmpfs_tmp"
		if [[ $mode = shell ]] && [[ -t 0 ]]; then
			local size
			size=$(stty size 2>/dev/null || echo "24 80")
			echo "MTP_ROWS=${size% *}"
			echo "MTP_COLS=${size#* }"
		fi
	} >"$rd/mtp/cfg"
	{
		local name
		while IFS= read -r name; do
			[[ $name =~ ^(PATH|HOME|LANG|LANGUAGE|LC_[A-Z]+|TERM|TZ|USER|LOGNAME|CI|VIRTUAL_ENV|PYTHON[A-Z_]*|PYENV[A-Z_]*|MTP_[A-Z0-9_]*)$ ]] || continue
			[[ $name = MTP_VM* ]] && continue
			echo "export $name=$(shq "${!name}")"
		done < <(compgen -e)
		echo "export MTP_VM=1 MTP_VM_TIERING=$tiering"
		# pyenv's shims (a bash script per call) cost seconds under TCG: put the interpreter
		# they resolve to here and now first on the guest's PATH.
		local py
		py=$(command -v python3 || true)
		if [[ $py = */shims/python3 ]] && py=$(pyenv which python3 2>/dev/null) && [[ -x $py ]]; then
			echo "export PATH=$(shq "${py%/*}:$PATH")"
		fi
		local e
		for e in "${envs[@]}"; do
			[[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "$mode: --env '$e' is not NAME=VALUE"
			echo "export ${e%%=*}=$(shq "${e#*=}")"
		done
	} >"$rd/mtp/env"
	printf '%s\n' "${cmd[*]}" >"$rd/mtp/cmd"
	local initrd=$ctl/initrd.cpio
	cp "$kdir/initramfs.cpio" "$initrd"
	truncate -s %4 "$initrd" # each archive of a concatenation starts 4-byte aligned
	(cd "$rd" && find . | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null) >>"$initrd"

	# virtiofsd: the host's / (cache=always: the big win under TCG), and the shares.
	start_virtiofsd / "$ctl/root.sock" always "$vlog"
	for i in "${!shares[@]}"; do start_virtiofsd "${shares[$i]}" "$ctl/share$i.sock" auto "$vlog"; done
	local n all
	for ((n = 0; n < 100; n++)); do
		local all=1
		[[ -S $ctl/root.sock ]] || all=0
		for i in "${!shares[@]}"; do [[ -S $ctl/share$i.sock ]] || all=0; done
		[[ $all = 1 ]] && break
		sleep 0.05
	done
	[[ $all = 1 ]] || { cat "$vlog" >&2; die "virtiofsd did not start"; }

	# Kernel and command line.
	local kernel=$kdir/vmlinux
	[[ -f $kernel && -z ${MTP_VM_BZIMAGE:-} ]] || kernel=$kdir/vmlinuz
	local console=ttyS1
	[[ $mode = shell ]] && console=ttyS0
	local kcmd="console=$console panic=-1 norandmaps nokaslr rdinit=/init cryptomgr.notests audit=0"
	# The bzImage's decompressor would turn on 5-level paging for TCG's "max" CPU (PVH
	# entry stays at 4 levels).
	[[ $kernel = */vmlinuz ]] && kcmd+=" no5lvl"
	if [[ $accel = tcg ]]; then
		# TCG's TSC runs at the host's rate: preset loops_per_jiffy (TSC cycles per tick) so
		# the secondary CPUs skip delay-loop calibration (0.2-0.8 s each under TCG).
		local mhz hz
		mhz=$(awk -F': *' '/^cpu MHz/ {print int($2); exit}' /proc/cpuinfo 2>/dev/null)
		hz=$(sed -n 's/^CONFIG_HZ=//p' "$kdir/config" 2>/dev/null)
		[[ -n $mhz && -n $hz ]] && kcmd+=" lpj=$((mhz * 1000000 / hz))"
	fi
	[[ $verbose = 1 ]] || kcmd+=" quiet"

	# Topology: node 0 = CPUs + memory, node 1 = memory only.
	local total=$((node0 + node1)) machine=q35,sata=off,smbus=off,i8042=off
	local -a qnuma=(
		-m "${total}M" -smp "$cpus"
		-object "memory-backend-memfd,id=m0,size=${node0}M,share=on"
		-object "memory-backend-memfd,id=m1,size=${node1}M,share=on"
	)
	case $tiering in
	hmat | kmem)
		# kmem: 6.1 registers soft-reserved memory with dax_hmem only for HMAT targets.
		machine+=,hmat=on
		qnuma+=(
			-numa "node,nodeid=0,cpus=0-$((cpus - 1)),memdev=m0,initiator=0"
			-numa "node,nodeid=1,memdev=m1,initiator=0"
			-numa dist,src=0,dst=1,val=20
			-numa hmat-lb,initiator=0,target=0,hierarchy=memory,data-type=access-latency,latency=10
			-numa hmat-lb,initiator=0,target=0,hierarchy=memory,data-type=access-bandwidth,bandwidth=40G
			-numa hmat-lb,initiator=0,target=1,hierarchy=memory,data-type=access-latency,latency=40
			-numa hmat-lb,initiator=0,target=1,hierarchy=memory,data-type=access-bandwidth,bandwidth=10G
		)
		;;
	none)
		qnuma+=(
			-numa "node,nodeid=0,cpus=0-$((cpus - 1)),memdev=m0"
			-numa "node,nodeid=1,memdev=m1"
			-numa dist,src=0,dst=1,val=20
		)
		;;
	esac
	if [[ $tiering = kmem ]]; then
		# Mark node 1's RAM soft-reserved (E820 type 0xefffffff) so that dax_hmem + kmem
		# online it. q35 puts guest RAM below 4 GiB up to "lowmem", the rest from 4 GiB,
		# and the firmware's ACPI tables at the top of the low part: cap the low part at
		# node 0's size so node 1 starts aligned above 4 GiB, clear of them.
		local lowmem=$((total >= 2816 ? 2048 : 2816))
		((node0 < lowmem)) && lowmem=$node0
		machine+=",max-ram-below-4g=${lowmem}M"
		kcmd+=" memmap=${node1}M%$(printf 0x%x $(((4096 + node0 - lowmem) << 20)))-1+0xefffffff"
		kcmd+=" memhp_default_state=online"
	fi
	[[ -n $append ]] && kcmd+=" $append"

	local -a qdev=(
		-chardev "socket,id=fsroot,path=$ctl/root.sock"
		-device vhost-user-fs-pci,queue-size=1024,chardev=fsroot,tag=hostroot
	)
	for i in "${!shares[@]}"; do
		qdev+=(-chardev "socket,id=fs$i,path=$ctl/share$i.sock"
			-device "vhost-user-fs-pci,queue-size=1024,chardev=fs$i,tag=share$i")
	done
	local -a qcon
	if [[ $mode = shell ]]; then
		# Console on the terminal, with QEMU's monitor muxed in (Ctrl-A x quits).
		qcon=(-chardev stdio,id=con,mux=on,signal=off -serial chardev:con -mon chardev=con
			-serial "file:$log")
	else
		qcon=(-chardev stdio,id=con -serial chardev:con -serial "file:$log")
	fi
	local -a qemu=(
		"$QEMU" -M "$machine" "${qaccel[@]}" "${qnuma[@]}" -nodefaults -no-user-config
		-display none -no-reboot "${qcon[@]}" "${qdev[@]}"
		-kernel "$kernel" -initrd "$initrd" -append "$kcmd"
	)

	local tailpid="" rc=0
	if [[ $verbose = 1 ]]; then
		printf '%q ' "${qemu[@]}" >&2
		echo >&2
		[[ $mode = shell ]] || {
			tail -n +1 -f "$log" >&2 &
			tailpid=$!
			pids+=("$tailpid")
		}
	fi
	if [[ $mode = shell ]]; then
		if ((timeout > 0)); then
			timeout --foreground -k 5 "$timeout" "${qemu[@]}" || rc=$?
		else
			"${qemu[@]}" || rc=$?
		fi
	else
		if ((timeout > 0)); then
			timeout -k 5 "$timeout" "${qemu[@]}" </dev/null &
		else
			"${qemu[@]}" </dev/null &
		fi
		local qpid=$!
		pids+=("$qpid")
		wait "$qpid" || rc=$?
	fi
	[[ -n $tailpid ]] && { sleep 0.2; kill "$tailpid" 2>/dev/null || true; }

	local status
	status=$(tr -d '\r' <"$log" | sed -n 's/^MTP-EXIT-STATUS=\([0-9][0-9]*\)$/\1/p' | tail -1)
	[[ -n $status ]] && exit "$status"
	if ((timeout > 0 && (rc == 124 || rc == 137))); then
		warn "timed out after $timeout s; guest console (tail):"
		tail -n 30 "$log" | tr -d '\r' >&2
		exit 124
	fi
	warn "the guest did not report an exit status (qemu exit $rc); guest console (tail):"
	tail -n 40 "$log" | tr -d '\r' >&2
	[[ -s $vlog ]] && { warn "virtiofsd log:"; tail -n 10 "$vlog" >&2; }
	# QEMU 7.2's multi-threaded TCG can let a vCPU run an int3 of the guest
	# kernel's live text patching (static keys) after the patch is done: seen
	# at 1.5 s of boot, with and without the access plugin.  Not the command's
	# fault, and the command had not started: main boots again, once.
	if ! grep -q '^MTP-CMD-START' "$log" && grep -q 'Oops: int3' "$log"; then
		exit "$EXIT_BOOT_AGAIN"
	fi
	exit 125
}

# cmd_boot's exit status when the guest's kernel failed at boot in a way a
# second boot escapes (above); main never returns it.
EXIT_BOOT_AGAIN=75

main() {
	[[ $# -gt 0 ]] || { usage >&2; exit 2; }
	local c=$1
	shift
	case $c in
	fetch) cmd_fetch "$@" ;;
	shell) cmd_boot "$c" "$@" ;;
	run | check)
		local rc=0
		(cmd_boot "$c" "$@") || rc=$?
		if ((rc == EXIT_BOOT_AGAIN)); then
			warn "the guest's kernel hit a stale int3 of its own text patching at boot (QEMU's TCG), before the command ran: booting again, once"
			rc=0
			(cmd_boot "$c" "$@") || rc=$?
			((rc == EXIT_BOOT_AGAIN)) && rc=125
		fi
		exit "$rc"
		;;
	-h | --help | help) usage ;;
	*) usage >&2; die "unknown command '$c'" ;;
	esac
}

main "$@"
