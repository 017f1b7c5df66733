#!/bin/sh
# /init of the nested host: a Debian kernel under TCG QEMU (-cpu max emulates AMD SVM) that loads
# kvm-amd and runs each test image in an inner QEMU with real KVM, then powers off.
#
# The tests come in a second initramfs archive that the runner (tests/nested/nested.py) appends:
# the images under /tests/ and /tests/manifest, a list of entries
#
#     test NAME TIMEOUT_SECONDS
#     arg ARGUMENT            (one line per inner QEMU argument, the program name first)
#     run
#
# For each test the serial console gets
#
#     @@hvrt-nested begin NAME
#     ...everything the inner QEMU printed, its stdout and stderr...
#     @@hvrt-nested end NAME status N time SECONDS
#
# where N is the inner QEMU's exit status, "timeout" when it was killed after TIMEOUT_SECONDS,
# or "nokvm" when KVM could not be set up and the test was not run. Then "@@hvrt-nested done".
# PID 1 must never exit (the kernel would panic), so there is no set -e here.

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu
export TMPDIR=/tmp

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp /var/tmp

say() { echo "@@hvrt-nested $*"; }

# Seconds since boot with two decimals, from /proc/uptime.
uptime_cs() { read -r up _ < /proc/uptime; echo $((${up%.*} * 100 + 1${up#*.} - 100)); }

kvm=yes
for m in irqbypass kvm ccp kvm-amd; do
	if ! out=$(insmod "/lib/modules/$m.ko" 2>&1); then
		say "error: insmod $m.ko failed: $out"
		kvm=no
	fi
done
if [ ! -c /dev/kvm ]; then
	say "error: /dev/kvm is missing: KVM did not come up (does the outer CPU have SVM? -cpu max)"
	kvm=no
fi
say "host up, kvm $kvm"

run_test() { # NAME TIMEOUT, the inner QEMU command in "$@" after them
	name=$1 limit=$2
	shift 2
	say "begin $name"
	if [ "$kvm" != yes ]; then
		echo "not run: no KVM on the nested host"
		say "end $name status nokvm time 0.00"
		return
	fi
	t0=$(uptime_cs)
	# SIGKILL: QEMU takes SIGTERM as a clean shutdown and would exit 0. stdin is /dev/null so that
	# QEMU neither reads the manifest nor puts the console into raw mode; stdout and stderr both go
	# straight to the console (no pipe, nothing buffered here).
	timeout -s KILL "$limit" "$@" </dev/null 2>&1
	status=$?
	t1=$(uptime_cs)
	cs=$((t1 - t0))
	if [ "$status" = 137 ] && [ "$cs" -ge $((limit * 100 - 100)) ]; then
		status=timeout
	fi
	say "end $name status $status time $((cs / 100)).$(printf %02d $((cs % 100)))"
}

if [ -r /tests/manifest ]; then
	name="" limit=""
	set --
	while IFS= read -r line <&3; do
		case "$line" in
		"test "*)
			line=${line#test }
			name=${line% *} limit=${line##* }
			set --
			;;
		"arg "*)
			set -- "$@" "${line#arg }"
			;;
		run)
			run_test "$name" "$limit" "$@"
			set --
			;;
		esac
	done 3</tests/manifest
else
	say "error: no /tests/manifest: the test archive was not appended"
fi

say "done"
# Let the UART drain before the power goes.
sleep 1
poweroff -f
