#!/bin/sh
# Builds the nested host's outer Linux guest into OUTDIR (build/nested), once:
#
#   OUTDIR/vmlinuz        Debian's kernel (linux-image-amd64's real package)
#   OUTDIR/base.cpio.gz   initramfs: busybox, tests/nested/init.sh as /init, the modules irqbypass,
#                         kvm, ccp and kvm-amd, this machine's qemu-system-x86_64 with every library
#                         ldd lists, and the firmware the inner QEMU loads (SeaBIOS, option ROMs, OVMF)
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
MODULES="irqbypass kvm ccp kvm-amd"   # insmod order
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

STAMP=$( {
	cat "$HERE/build-rig.sh" "$HERE/init.sh" "$HERE/cpio.py"
	dpkg-query -W qemu-system-x86 ovmf seabios
	echo "$KPKG $KVER"
	echo "busybox-static $BVER"
} | sha256sum | cut -d' ' -f1)
if [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$STAMP" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/base.cpio.gz" ]; then
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

# The kernel package unpacks to some 400 MB: take only the kernel and the four modules.
dpkg-deb --fsys-tarfile "$KDEB" | tar -x -C "$TMP/kernel" --wildcards './boot/vmlinuz-*' \
	'./lib/modules/*/kernel/virt/lib/irqbypass.ko*' './lib/modules/*/kernel/arch/x86/kvm/kvm.ko*' \
	'./lib/modules/*/kernel/arch/x86/kvm/kvm-amd.ko*' './lib/modules/*/kernel/drivers/crypto/ccp/ccp.ko*'
dpkg-deb -x "$BDEB" "$TMP/busybox"

# Skeleton and busybox, with a link for every applet.
for d in bin sbin usr/bin usr/sbin dev proc sys tmp var/tmp lib/modules tests; do
	mkdir -p "$ROOT/$d"
done
cp "$TMP/busybox/bin/busybox" "$ROOT/bin/busybox"
for applet in $("$ROOT/bin/busybox" --list-full); do
	[ "$applet" = bin/busybox ] && continue
	case "$applet" in
	bin/*) ln -s busybox "$ROOT/$applet" ;;
	*) ln -s "$(dirname "$applet" | sed 's|[^/][^/]*|..|g')/bin/busybox" "$ROOT/$applet" ;;
	esac
done
cp "$HERE/init.sh" "$ROOT/init"
chmod 755 "$ROOT/init"

# Modules, uncompressed (busybox insmod reads plain .ko files).
for m in $MODULES; do
	src=$(find "$TMP/kernel/lib/modules" -name "$m.ko*" | head -n 1)
	[ -n "$src" ] || { say "$KPKG has no $m module"; exit 1; }
	case "$src" in
	*.ko) cp "$src" "$ROOT/lib/modules/$m.ko" ;;
	*.ko.xz) xz -dc "$src" > "$ROOT/lib/modules/$m.ko" ;;
	*.ko.zst) zstd -qdc "$src" > "$ROOT/lib/modules/$m.ko" ;;
	*) say "cannot unpack $src"; exit 1 ;;
	esac
done
cp "$TMP/kernel/boot/vmlinuz-"* "$TMP/vmlinuz"

# The inner QEMU: this machine's binary, every library ldd lists and the ELF interpreter, each at
# the path ldd gives (init sets LD_LIBRARY_PATH to the multiarch directory).
copy() { # copy FILE: to the same path under ROOT, following symbolic links
	mkdir -p "$ROOT$(dirname "$1")"
	cp -L "$1" "$ROOT$1"
}
copy "$QEMU"
LIBS=$(ldd "$QEMU" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
[ -n "$LIBS" ] || { say "ldd $QEMU listed nothing"; exit 1; }
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
{
	echo "kernel: $KPKG $KVER"
	echo "busybox-static: $BVER"
	dpkg-query -W qemu-system-x86 ovmf seabios
} > "$OUT/versions"
echo "$STAMP" > "$OUT/stamp"
say "built $OUT/base.cpio.gz ($(du -k "$OUT/base.cpio.gz" | cut -f1) KiB) and vmlinuz in $(( $(date +%s) - START )) s"
