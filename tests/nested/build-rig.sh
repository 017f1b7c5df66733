#!/bin/sh
# Builds the nested host's outer Linux guest into OUTDIR (build/nested), once:
#
#   OUTDIR/vmlinuz        Debian's kernel (linux-image-amd64's real package)
#   OUTDIR/base.cpio.gz   initramfs: busybox, tests/nested/init.sh as /init, the modules irqbypass,
#                         kvm, ccp and kvm-amd, this machine's qemu-system-x86_64 with every library
#                         ldd lists, and the firmware the inner QEMU loads (SeaBIOS, option ROMs, OVMF);
#                         with HVRT_RIG_TEST_QEMU=PATH also that binary (tests/qemu/build-qemu.sh's,
#                         with the hvrt-test VMBus device) and its libraries, at TEST_QEMU_PATH below
#   OUTDIR/linux-initrd.gz  the innermost Linux guest's initramfs (with vmlinuz: kind "linux" in
#                         nested.py, a reference VMBus client): busybox, tests/nested/linux-init.sh
#                         as /init, hv_vmbus.ko and every module it depends on
#   OUTDIR/debs/          the downloaded .debs, kept so that a rebuild does not fetch them again
#   OUTDIR/stamp          what the build was made from; the build is skipped while it matches
#
# The kernel and busybox come from `apt-get download` (nothing installed); the inner QEMU and its
# firmware are the machine's own (qemu-system-x86, seabios, ovmf). See docs/testing.md.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
OUT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
QEMU=/usr/bin/qemu-system-x86_64
# HVRT_NESTED_QEMU=PATH (off by default): pack PATH (tests/qemu/build-qemu.sh's binary, with the
# hvrt-test VMBus device) and its ldd libraries as the inner QEMU, at QEMU's path in the nested host,
# instead of this machine's binary. The stamp covers the binary, so switching rebuilds the initramfs.
INNER_QEMU=${HVRT_NESTED_QEMU:-$QEMU}
[ -x "$INNER_QEMU" ] || { echo "nested: no inner QEMU $INNER_QEMU" >&2; exit 1; }
# HVRT_RIG_TEST_QEMU=PATH: also pack PATH (build-qemu.sh's binary) at TEST_QEMU_PATH in the nested
# host, beside the system QEMU, for the tests that ask for it (nested.py's qemu="hvrt", which keeps
# this path in HVRT_QEMU). nested.py always passes it, so the rig does not change with the tests
# run. The binary was configured with --firmwarepath=/usr/share/qemu:/usr/share/seabios, so it finds
# the firmware below at the same paths as the system QEMU; its libraries are a subset of that one's.
TEST_QEMU=${HVRT_RIG_TEST_QEMU:-}
TEST_QEMU_PATH=/opt/hvrt-qemu/qemu-system-x86_64
[ -z "$TEST_QEMU" ] || [ -x "$TEST_QEMU" ] || { echo "nested: no test QEMU $TEST_QEMU" >&2; exit 1; }
MODULES="irqbypass kvm ccp kvm-amd"   # insmod order
# The innermost Linux guest's modules; what they depend on is added (their .modinfo "depends=").
LINUX_MODULES="hv_vmbus"
# The firmware the inner QEMU opens, at the installed paths (QEMU looks next to its binary:
# ../share/qemu, ../share/seabios). Found by trial, hiding one file at a time: without bios-256k.bin
# QEMU stops ("could not load PC BIOS"); without multiboot_dma.bin (-kernel with a multiboot image)
# or kvmvapic.bin (any pc/q35 machine under KVM) it warns "Could not open option rom", and without
# the first a Gen1 guest never starts. linuxboot*.bin (-kernel with a Linux bzImage, such as a
# reference Linux guest) and multiboot.bin (older machine types) are small; OVMF.fd is Gen2's -bios.
FIRMWARE="/usr/share/seabios/bios-256k.bin /usr/share/qemu/kvmvapic.bin /usr/share/qemu/linuxboot.bin
/usr/share/qemu/linuxboot_dma.bin /usr/share/qemu/multiboot.bin /usr/share/qemu/multiboot_dma.bin
/usr/share/ovmf/OVMF.fd"

say() { echo "nested: $*" >&2; }

# What apt would download now: one apt-cache call (they take half a second each). It needs the
# package lists, which a fresh machine may not have yet.
records() {
	apt-cache show --no-all-versions linux-image-amd64 busybox-static 2>/dev/null
}
if ! RECORDS=$(records) || [ -z "$RECORDS" ]; then
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO=sudo
	say "no package lists: apt-get update"
	$SUDO apt-get update -qq
	RECORDS=$(records)
fi
# field PACKAGE NAME: a field of PACKAGE's record.
field() {
	echo "$RECORDS" | awk -v p="$1" -v f="$2:" '$1 == "Package:" { in_p = ($2 == p) } in_p && $1 == f { sub(/^[^:]*: /, ""); print; exit }'
}
# linux-image-amd64 is a metapackage: follow its dependency to the real linux-image-6.1.0-N-amd64,
# at the exact version it names.
KDEP=$(field linux-image-amd64 Depends | tr ',' '\n' | grep -m 1 '^ *linux-image-' || true)
KPKG=$(echo "$KDEP" | sed -n 's/^ *\(linux-image-[^ ]*\).*/\1/p')
KVER=$(echo "$KDEP" | sed -n 's/.*(= \([^)]*\)).*/\1/p')
BVER=$(field busybox-static Version)
if [ -z "$KPKG" ] || [ -z "$KVER" ]; then
	say "cannot tell which kernel linux-image-amd64 depends on ($KDEP)"
	exit 1
fi
[ -n "$BVER" ] || { say "apt knows no busybox-static"; exit 1; }

# One build at a time per OUTDIR (several test runs may start together): a second caller waits,
# then finds the stamp the first wrote.
mkdir -p "$OUT"
if command -v flock >/dev/null 2>&1; then
	exec 9>"$OUT/.lock"
	flock 9
fi

STAMP=$( {
	cat "$HERE/build-rig.sh" "$HERE/init.sh" "$HERE/cpio.py" "$HERE/linux-init.sh"
	dpkg-query -W qemu-system-x86 ovmf seabios
	[ "$INNER_QEMU" = "$QEMU" ] || sha256sum "$INNER_QEMU"
	[ -z "$TEST_QEMU" ] || echo "test QEMU $(sha256sum < "$TEST_QEMU")"
	echo "$KPKG $KVER"
	echo "busybox-static $BVER"
} | sha256sum | cut -d' ' -f1)
if [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$STAMP" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/base.cpio.gz" ] \
	&& [ -f "$OUT/linux-initrd.gz" ]; then
	exit 0
fi

say "building the nested host into $OUT ($KPKG $KVER, busybox $BVER)"
START=$(date +%s)
mkdir -p "$OUT/debs"
rm -f "$OUT/stamp"

# fetch PACKAGE VERSION: the .deb's path in OUT/debs, downloaded unless already there.
fetch() {
	file="$OUT/debs/${1}_$(echo "$2" | sed 's/:/%3a/')_amd64.deb"
	if [ ! -f "$file" ]; then
		rm -f "$OUT/debs/${1}_"*.deb
		# As root apt's sandbox user cannot write here: download as root, without the warning.
		(cd "$OUT/debs" && apt-get -qq -o APT::Sandbox::User=root download "$1=$2") >&2
	fi
	[ -f "$file" ] || { say "apt-get download $1=$2 did not give $file"; exit 1; }
	echo "$file"
}
KDEB=$(fetch "$KPKG" "$KVER")
BDEB=$(fetch busybox-static "$BVER")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hvrt-nested.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
ROOT=$TMP/root
mkdir -p "$ROOT" "$TMP/kernel" "$TMP/busybox"

# The kernel package unpacks to some 400 MB: take only the kernel and the modules named above
# (one pass over the package takes some 2 s).
dpkg-deb --fsys-tarfile "$KDEB" | tar -x -C "$TMP/kernel" --wildcards './boot/vmlinuz-*' \
	'./lib/modules/*/kernel/virt/lib/irqbypass.ko*' './lib/modules/*/kernel/arch/x86/kvm/kvm.ko*' \
	'./lib/modules/*/kernel/arch/x86/kvm/kvm-amd.ko*' './lib/modules/*/kernel/drivers/crypto/ccp/ccp.ko*' \
	'./lib/modules/*/kernel/drivers/hv/hv_vmbus.ko*'
dpkg-deb -x "$BDEB" "$TMP/busybox"

# with_busybox ROOT: the skeleton and busybox under ROOT, with a link for every applet.
with_busybox() {
	for d in bin sbin usr/bin usr/sbin dev proc sys tmp var/tmp lib/modules; do
		mkdir -p "$1/$d"
	done
	cp "$TMP/busybox/bin/busybox" "$1/bin/busybox"
	for applet in $("$1/bin/busybox" --list-full); do
		[ "$applet" = bin/busybox ] && continue
		case "$applet" in
		bin/*) ln -s busybox "$1/$applet" ;;
		*) ln -s "$(dirname "$applet" | sed 's|[^/][^/]*|..|g')/bin/busybox" "$1/$applet" ;;
		esac
	done
}
with_busybox "$ROOT"
mkdir -p "$ROOT/tests"
cp "$HERE/init.sh" "$ROOT/init"
chmod 755 "$ROOT/init"

# find_ko NAME: the unpacked module file of module NAME ("-" and "_" are the same in module names).
find_ko() {
	find "$TMP/kernel/lib/modules" -name "$(echo "$1" | sed 's/[-_]/[-_]/g').ko*" | head -n 1
}
# ko_cat FILE: the module uncompressed (busybox insmod reads plain .ko files).
ko_cat() {
	case "$1" in
	*.ko) cat "$1" ;;
	*.ko.xz) xz -dc "$1" ;;
	*.ko.zst) zstd -qdc "$1" ;;
	*) say "cannot unpack $1"; return 1 ;;
	esac
}

for m in $MODULES; do
	src=$(find_ko "$m")
	[ -n "$src" ] || { say "$KPKG has no $m module"; exit 1; }
	ko_cat "$src" > "$ROOT/lib/modules/$m.ko"
done
cp "$TMP/kernel/boot/vmlinuz-"* "$TMP/vmlinuz"

# The innermost Linux guest. The package has no modules.dep (depmod writes it on installation), so
# a module's dependencies come from its .modinfo section, the "depends=" string that modinfo -F
# depends prints; a dependency not unpacked yet is looked up in the package's file list and
# unpacked (hv_vmbus depends on nothing in Debian 12's 6.1 kernel, so that costs nothing now).
KLIST=""
unpack_ko() { # unpack_ko NAME
	[ -n "$KLIST" ] || KLIST=$(dpkg-deb -c "$KDEB" | awk '{ print $NF }' | grep '\.ko')
	path=$(echo "$KLIST" | grep -m 1 "/$(echo "$1" | sed 's/[-_]/[-_]/g')\.ko" || true)
	[ -n "$path" ] || { say "$KPKG has no $1 module"; exit 1; }
	dpkg-deb --fsys-tarfile "$KDEB" | tar -x -C "$TMP/kernel" "$path"
}
LINUX_ORDER=""
need_module() { # need_module NAME: appends NAME's dependencies, then NAME, to LINUX_ORDER
	local name ko dep deps
	name=$(echo "$1" | tr - _)
	case " $LINUX_ORDER " in *" $name "*) return 0 ;; esac
	ko=$(find_ko "$name")
	if [ -z "$ko" ]; then
		unpack_ko "$name"
		ko=$(find_ko "$name")
	fi
	[ -n "$ko" ] || { say "$KPKG has no $name module"; exit 1; }
	deps=$(ko_cat "$ko" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n 1 | tr ',' ' ')
	for dep in $deps; do
		need_module "$dep"
	done
	LINUX_ORDER="$LINUX_ORDER $name"
}
for m in $LINUX_MODULES; do
	need_module "$m"
done
LROOT=$TMP/linux-root
with_busybox "$LROOT"
cp "$HERE/linux-init.sh" "$LROOT/init"
chmod 755 "$LROOT/init"
for m in $LINUX_ORDER; do
	ko_cat "$(find_ko "$m")" > "$LROOT/lib/modules/$m.ko"
	echo "$m" >> "$LROOT/lib/modules/order"
done
python3 "$HERE/cpio.py" "$LROOT" "$TMP/linux-initrd.gz" --dev /dev/console=c,5,1

# The inner QEMU: this machine's binary, every library ldd lists and the ELF interpreter, each at
# the path ldd gives (init sets LD_LIBRARY_PATH to the multiarch directory).
copy() { # copy FILE: to the same path under ROOT, following symbolic links
	mkdir -p "$ROOT$(dirname "$1")"
	cp -L "$1" "$ROOT$1"
}
if [ "$INNER_QEMU" = "$QEMU" ]; then
	copy "$QEMU"
else
	mkdir -p "$ROOT$(dirname "$QEMU")"
	cp -L "$INNER_QEMU" "$ROOT$QEMU"
fi
# libs BINARY: the libraries ldd lists for it, and the ELF interpreter.
libs() {
	ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
}
LIBS=$(libs "$INNER_QEMU")
[ -n "$LIBS" ] || { say "ldd $INNER_QEMU listed nothing"; exit 1; }
if [ -n "$TEST_QEMU" ]; then
	mkdir -p "$ROOT$(dirname "$TEST_QEMU_PATH")"
	cp -L "$TEST_QEMU" "$ROOT$TEST_QEMU_PATH"
	TEST_LIBS=$(libs "$TEST_QEMU")
	[ -n "$TEST_LIBS" ] || { say "ldd $TEST_QEMU listed nothing"; exit 1; }
	LIBS=$(printf '%s\n%s\n' "$LIBS" "$TEST_LIBS" | sort -u)
fi
for lib in $LIBS; do
	copy "$lib"
done
for f in $FIRMWARE; do
	[ -f "$f" ] || { say "missing $f (packages qemu-system-x86, seabios, ovmf)"; exit 1; }
	copy "$f"
done

python3 "$HERE/cpio.py" "$ROOT" "$TMP/base.cpio.gz" --dev /dev/console=c,5,1
mv "$TMP/vmlinuz" "$OUT/vmlinuz"
mv "$TMP/base.cpio.gz" "$OUT/base.cpio.gz"
mv "$TMP/linux-initrd.gz" "$OUT/linux-initrd.gz"
{
	echo "kernel: $KPKG $KVER"
	echo "busybox-static: $BVER"
	echo "linux guest modules:$LINUX_ORDER"
	dpkg-query -W qemu-system-x86 ovmf seabios
	[ "$INNER_QEMU" = "$QEMU" ] || echo "inner QEMU: $INNER_QEMU ($(sha256sum < "$INNER_QEMU" | cut -c1-16))"
	[ -z "$TEST_QEMU" ] || echo "test QEMU: $TEST_QEMU at $TEST_QEMU_PATH ($(sha256sum < "$TEST_QEMU" | cut -c1-16))"
} > "$OUT/versions"
echo "$STAMP" > "$OUT/stamp"
say "built $OUT/base.cpio.gz ($(du -k "$OUT/base.cpio.gz" | cut -f1) KiB), vmlinuz and linux-initrd.gz" \
	"($(du -k "$OUT/linux-initrd.gz" | cut -f1) KiB:$LINUX_ORDER) in $(( $(date +%s) - START )) s"
