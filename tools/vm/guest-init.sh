#!/bin/busybox sh
# shellcheck shell=dash disable=SC1091,SC2016 # sources files made at boot; sh -c strings
# /init of the two-tier test guest (see tools/vm/README.md). Runs under busybox sh.
#
# Stage 1 (PID 1 in the initramfs): load the modules vm.sh put in /lib/mtp, mount the
# host's / read-only over virtiofs under a tmpfs overlay, mount the writable shares at
# their host paths, then switch_root into the overlay.
# Stage 2 (PID 1 in the overlay, "init stage2"): mount the pseudo file systems, run the
# command (or a shell) in the host's working directory, report its exit status as
# "MTP-EXIT-STATUS=N" on ttyS1 and power off.
# Settings come from /mtp/cfg, the command's environment from /mtp/env, the command
# from /mtp/cmd: vm.sh writes them into a small per-run cpio appended to the initramfs.

if [ "${1:-}" != stage2 ]; then
	export PATH=/bin
	mount -t devtmpfs devtmpfs /dev
	exec </dev/console >/dev/console 2>&1
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	. /mtp/cfg

	fail() {
		echo "mtp-vm: init: $*"
		echo "MTP-INIT-FAILED" >/dev/ttyS1
		poweroff -f
		sleep 60
	}
	load() { # list file
		[ -r "$1" ] || return 0
		while read -r m; do
			[ -n "$m" ] || continue
			insmod "/lib/mtp/$m.ko" || fail "insmod $m failed"
		done <"$1"
	}
	load /lib/mtp/base.list
	if [ "$MTP_TIERING" = kmem ]; then
		load /lib/mtp/kmem.list
		# Before 6.3 the dax device binds to device_dax: hand it to kmem.
		for d in /sys/bus/dax/devices/dax*; do
			[ -e "/sys/bus/dax/drivers/device_dax/${d##*/}" ] || continue
			echo "${d##*/}" >/sys/bus/dax/drivers/device_dax/unbind
			echo "${d##*/}" >/sys/bus/dax/drivers/kmem/new_id
		done
		# dax_hmem + kmem online node 1's soft-reserved memory asynchronously.
		i=0
		while ! grep -qs 'MemTotal: *[1-9]' /sys/devices/system/node/node1/meminfo; do
			i=$((i + 1))
			if [ $i -gt 50 ]; then
				msg="mtp-vm: warning: node 1 memory did not come online (dax_hmem/kmem)"
				echo "$msg"
				echo "$msg" >/dev/ttyS0
				break
			fi
			sleep 0.1
		done
	fi

	mkdir -p /mnt/host /mnt/rw /newroot
	mount -t virtiofs -o ro hostroot /mnt/host || fail "cannot mount the host's / (virtiofs)"
	mount -t tmpfs -o mode=0755 rw /mnt/rw
	mkdir -p /mnt/rw/upper /mnt/rw/work
	mount -t overlay -o lowerdir=/mnt/host,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work \
		overlay /newroot || fail "cannot mount the overlay"
	for d in dev proc sys; do
		mount --move "/$d" "/newroot/$d" || fail "cannot move /$d"
	done
	mount -t tmpfs -o mode=0755,nosuid,nodev run /newroot/run || fail "cannot mount /run"
	mkdir -p /newroot/run/mtp
	cp /bin/busybox /init /mtp/cfg /mtp/env /mtp/cmd /newroot/run/mtp/ || fail "cannot copy to /run/mtp"
	i=0
	while [ "$i" -lt "$MTP_NSHARES" ]; do
		eval "p=\$MTP_SHARE_$i"
		# shellcheck disable=SC2154 # p is set by the eval
		if ! mkdir -p "/newroot$p" || ! mount -t virtiofs "share$i" "/newroot$p"; then
			fail "cannot mount share$i at $p"
		fi
		i=$((i + 1))
	done
	# shellcheck disable=SC2093 # falls through only if exec fails
	exec switch_root /newroot /run/mtp/busybox sh /run/mtp/init stage2
	fail "switch_root failed"
fi

# ---- stage 2 ----
bb=/run/mtp/busybox
. /run/mtp/cfg
m() { $bb mount "$@" 2>/dev/null || echo "mtp-vm: warning: mount $* failed"; }
# A fresh /tmp, unless vm.sh found that it would hide the working directory or a share.
[ "$MTP_TMPFS_TMP" = 1 ] && m -t tmpfs -o mode=1777,nosuid,nodev tmp /tmp
$bb mkdir -p /dev/pts /dev/shm /dev/mqueue
m -t devpts -o gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts
m -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm
m -t bpf -o mode=0700 bpf /sys/fs/bpf
m -t tracefs tracefs /sys/kernel/tracing
m -t debugfs debugfs /sys/kernel/debug
m -t cgroup2 cgroup2 /sys/fs/cgroup
for f in fd:/proc/self/fd stdin:/proc/self/fd/0 stdout:/proc/self/fd/1 stderr:/proc/self/fd/2; do
	[ -e "/dev/${f%%:*}" ] || $bb ln -s "${f#*:}" "/dev/${f%%:*}"
done
$bb hostname "$MTP_HOSTNAME"
$bb ip link set lo up 2>/dev/null
cwd_ok=1
cd "$MTP_CWD" 2>/dev/null || cwd_ok=0

if [ $cwd_ok = 0 ]; then
	echo "mtp-vm: cannot cd to $MTP_CWD in the guest" | $bb tee /dev/ttyS0
	rc=125
elif [ "$MTP_MODE" = shell ]; then
	$bb stty -F /dev/ttyS0 rows "${MTP_ROWS:-24}" cols "${MTP_COLS:-80}" 2>/dev/null
	# bash without the host's rc files: pyenv & co. take seconds under TCG.
	set -- /bin/bash --norc --noprofile -i
	[ -x /bin/bash ] || set -- /bin/sh -i
	# A new session with ttyS0 as its controlling tty (job control, ^C).
	$bb setsid -c $bb env -i PS1='\u@\h:\w\$ ' $bb sh -c '. /run/mtp/env; exec "$@"' sh "$@" \
		<>/dev/ttyS0 >&0 2>&1
	rc=$?
else
	# Raw output: no \n -> \r\n translation on the way to the host's stdout.
	exec 3<>/dev/ttyS0
	$bb stty raw -echo <&3 2>/dev/null
	# The host boots again, once, a guest whose kernel failed before this line.
	echo "MTP-CMD-START" >/dev/ttyS1
	$bb env -i $bb sh -c '. /run/mtp/env; exec /bin/sh -c "$(cat /run/mtp/cmd)"' \
		</dev/null >&3 2>&3 3>&-
	rc=$?
	exec 3>&-
fi
$bb sync
echo "MTP-EXIT-STATUS=$rc" >/dev/ttyS1
$bb poweroff -f
