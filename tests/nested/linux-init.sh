#!/bin/sh
# /init of the innermost Linux guest: Debian's own kernel with hv_vmbus, run by the nested host's
# inner QEMU (kind "linux" in tests/nested/nested.py) as a reference VMBus client beside hvrt.
# build-rig.sh packs it with busybox and the modules into build/nested/linux-initrd.gz.
#
# It loads the modules /lib/modules/order lists (hv_vmbus last), waits up to 20 s for VMBus to
# connect, reports on the serial console, unloads hv_vmbus (Linux then sends UNLOAD) and powers
# off: the inner QEMU runs with -no-reboot, so it exits with status 0. What it prints, each report
# line starting "linux-vmbus: ":
#
#     linux-vmbus: kernel 6.1.0-N-amd64
#     linux-vmbus: post connection 4 type 14 version 5.3: status 0x12
#     linux-vmbus: dmesg: <each kernel line about Hyper-V or VMBus, as dmesg has it>
#     linux-vmbus: version 4.0              (or "linux-vmbus: error: no VMBus connection after 20 s")
#     linux-vmbus: devices: none            (or the names under /sys/bus/vmbus/devices)
#     linux-vmbus: rmmod hv_vmbus: ok       (or "refused: <why>")
#     linux-vmbus: post connection 1 type 16: status 0x0
#     linux-vmbus: dmesg: <the kernel lines the unload added>
#     linux-vmbus: done in S s
#
# The "post" lines are every HvPostMessage hv_vmbus made, in order, as a kprobe on its
# hv_post_message saw them: the message connection, the message type, for INITIATE_CONTACT (14)
# the version asked for, and the hypercall's status (0x12 HV_STATUS_INVALID_CONNECTION_ID). They
# show what the host's trace cannot: posts the host refused before its VMBus server saw them. When
# tracefs or kprobes are missing, "linux-vmbus: posts: not traced (...)" says so instead.
#
# PID 1 must never exit (the kernel would panic), so there is no set -e here; a panic would still
# end the run (panic=-1 on the command line, and -no-reboot).

export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

say() { echo "linux-vmbus: $*"; }
# Seconds since boot with two decimals, from /proc/uptime.
uptime_cs() { read -r up _ < /proc/uptime; echo $((${up%.*} * 100 + 1${up#*.} - 100)); }
# The kernel's lines about Hyper-V and VMBus, from line $1 of dmesg on (1: all).
hv_lines() {
	dmesg | sed -n "$1,\$p" | grep -iE 'hyper-?v|vmbus|hv_' | while IFS= read -r l; do
		say "dmesg: $l"
	done
}

# A kprobe and a kretprobe on hv_post_message(connection_id, message_type, payload, size): the
# arguments are read from registers (%di, %dx: x86-64's first and third), as this kernel has no
# BTF for the module's argument names. The payload starts with the message type; INITIATE_CONTACT's
# requested version is its third 32-bit word.
T=/sys/kernel/tracing
trace_posts() {
	mount -t tracefs tracefs $T 2>/dev/null || return 1
	echo 'p:hvpost hv_vmbus:hv_post_message conn=%di:u32 msg=+0(%dx):u32 ver=+8(%dx):u32' >> $T/kprobe_events &&
	echo 'r:hvpost_ret hv_vmbus:hv_post_message ret=$retval:x64' >> $T/kprobe_events &&
	echo 1 > $T/events/kprobes/enable
}
# Prints the posts traced since the last call, one line each, and clears the trace.
posts() {
	[ "$traced" = yes ] || return
	grep -v '^#' $T/trace | awk '
		/ hvpost: / { for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
		/ hvpost_ret: / { for (i = 1; i <= NF; i++) if ($i ~ /^ret=/) print f["conn"], f["msg"], f["ver"], substr($i, 5) }' |
	while read -r conn msg ver ret; do
		if [ "$msg" = 14 ]; then
			say "post connection $conn type $msg version $((ver >> 16)).$((ver & 65535)): status $ret"
		else
			say "post connection $conn type $msg: status $ret"
		fi
	done
	echo > $T/trace
}

t0=$(uptime_cs)
say "kernel $(uname -r)"
if out=$(trace_posts 2>&1); then
	traced=yes
else
	traced=no
	say "posts: not traced (${out:-no tracefs})"
fi
for m in $(cat /lib/modules/order); do
	if ! out=$(insmod "/lib/modules/$m.ko" 2>&1); then
		say "error: insmod $m.ko failed: $out"
	fi
done

# hv_vmbus connects while its module init runs, so this normally finds the line at once.
version=""
limit=$((t0 + 2000))
while :; do
	version=$(dmesg | sed -n 's/.*hv_vmbus: Vmbus version:\([0-9][0-9.]*\).*/\1/p' | tail -n 1)
	[ -n "$version" ] && break
	[ "$(uptime_cs)" -ge "$limit" ] && break
	sleep 1
done
posts
hv_lines 1
if [ -n "$version" ]; then
	say "version $version"
else
	say "error: no VMBus connection after 20 s"
fi

devices=$(echo $(ls /sys/bus/vmbus/devices 2>/dev/null))
say "devices: ${devices:-none}"

# The unload: hv_vmbus's exit sends UNLOAD and waits for UNLOAD_RESPONSE.
before=$(dmesg | wc -l)
if out=$(rmmod hv_vmbus 2>&1); then
	say "rmmod hv_vmbus: ok"
else
	say "rmmod hv_vmbus: refused: $out"
fi
posts
hv_lines $((before + 1))

t1=$(uptime_cs)
say "done in $(((t1 - t0) / 100)).$(printf %02d $(((t1 - t0) % 100))) s"
poweroff -f
