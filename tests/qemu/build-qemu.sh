#!/bin/sh
# Builds the project's QEMU 7.2 (Debian's qemu source package with tests/qemu/patches/*.patch
# applied) into OUTDIR (build/qemu), once:
#
#   OUTDIR/qemu-system-x86_64   the stripped binary: KVM only (no TCG), x86_64, the devices of
#                               DEVICES below (i440fx, Hyper-V, VMBus, isa-debug-exit, hvrt-test)
#   OUTDIR/dl/                  the fetched source package (.dsc and tarballs), kept for rebuilds
#   OUTDIR/src/                 the unpacked, patched source tree and its build directory
#   OUTDIR/stamp                sha256 of this script, the patches and the flags; while it matches
#                               (and the binary is there) nothing is done
#   OUTDIR/.lock                held (flock) for the whole run: concurrent calls for one OUTDIR
#                               (nested runs started together) wait for each other, and the later
#                               ones then find the build cached
#
# As root (or with sudo) it adds a deb-src line for this machine's Debian suite when apt has none,
# and installs the build dependencies (../shared/docs/test-hosts.md section 3). tests/nested/nested.py
# runs it before every nested run and packs the binary beside the system QEMU (qemu="hvrt" cases;
# docs/testing.md). tests/qemu/smoke/ is a by-hand app driving the device through hvrt's channel API.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)

say() { echo "build-qemu: $*" >&2; }
qemu_source_known() { apt-cache showsrc qemu 2>/dev/null | grep -q '^Package: qemu$'; }
now() { date +%s; }

# One run at a time per OUTDIR, from the stamp check on: fd 9 stays open (and locked) until this
# shell exits, however it exits. The commands below inherit it and end before the shell does.
exec 9>>"$OUT/.lock"
if ! flock -n 9; then
	say "waiting for another build-qemu.sh run in $OUT"
	flock 9
fi

PATCHES=$(ls "$HERE"/patches/*.patch 2>/dev/null | sort || true)
DEPS="meson libglib2.0-dev libpixman-1-dev libfdt-dev zlib1g-dev flex bison ninja-build pkg-config gcc python3 dpkg-dev binutils"
DEVICES_NAME=hvrt
DEVICES="CONFIG_I440FX=y
CONFIG_HYPERV=y
CONFIG_VMBUS=y
CONFIG_ISA_DEBUG=y
CONFIG_HVRT_TEST=y"
FLAGS="--target-list=x86_64-softmmu --without-default-features --without-default-devices
--with-devices-x86_64=$DEVICES_NAME --enable-kvm --disable-tcg --disable-docs --disable-tools --disable-user
--disable-guest-agent --disable-install-blobs --disable-werror
--firmwarepath=/usr/share/qemu:/usr/share/seabios"
# --firmwarepath: where Debian's own QEMU looks for SeaBIOS and the option ROMs (packages seabios and
# qemu-system-data), so that the binary finds them on this machine and in the nested host.
JOBS=$(nproc 2>/dev/null || echo 2)

STAMP=$( {
	cat "$HERE/build-qemu.sh"
	for p in $PATCHES; do echo "$(basename "$p")"; cat "$p"; done
	echo "$FLAGS"
	echo "$DEVICES"
} | sha256sum | cut -d' ' -f1)
if [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$STAMP" ] && [ -x "$OUT/qemu-system-x86_64" ]; then
	exit 0
fi

START=$(now)
rm -f "$OUT/stamp"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

# Build dependencies: apt only when one is missing.
MISSING=""
for p in $DEPS; do
	dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || MISSING="$MISSING $p"
done
UPDATED=no
if [ -n "$MISSING" ]; then
	say "installing build dependencies:$MISSING"
	$SUDO apt-get update -qq
	UPDATED=yes
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $MISSING >&2
fi
T_DEPS=$(now)

# The source package: fetched once into OUT/dl.
DSC=$(ls "$OUT"/dl/qemu_*.dsc 2>/dev/null | head -n 1 || true)
if [ -z "$DSC" ]; then
	# Whether apt can give qemu's source is what counts, not whether some deb-src entry exists (a
	# third party's, or one with "Enabled: no"): stale lists get one update before that is decided.
	if ! qemu_source_known && grep -rqsE '^[[:space:]]*(deb-src|Types:.*deb-src)' /etc/apt/sources.list \
			/etc/apt/sources.list.d/; then
		$SUDO apt-get update -qq
		UPDATED=yes
	fi
	if ! qemu_source_known; then
		[ ! -f /etc/apt/sources.list.d/hvrt-deb-src.sources ] \
			|| { say "apt has no source for qemu, even with hvrt-deb-src.sources"; exit 1; }
		SUITE=$(. /etc/os-release && echo "$VERSION_CODENAME")
		[ -n "$SUITE" ] || { say "cannot tell this machine's Debian suite (/etc/os-release)"; exit 1; }
		# apt refuses two entries for one source with different Signed-By: take the keyring the
		# machine's own deb.debian.org entry names (deb822 .sources), if it names one.
		KEYRING=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
			/^[[:space:]]*$/ { if (deb && key != "") { print key; exit } deb = 0; key = "" }
			/^URIs:.*deb\.debian\.org\/debian/ { deb = 1 }
			/^Signed-By:/ { key = $2 }
			END { if (deb && key != "") print key }' | head -n 1)
		say "apt has no source for qemu: adding /etc/apt/sources.list.d/hvrt-deb-src.sources ($SUITE)"
		{
			echo "# Added by hvrt's tests/qemu/build-qemu.sh (apt-get source qemu)."
			echo "Types: deb-src"
			echo "URIs: http://deb.debian.org/debian"
			echo "Suites: $SUITE $SUITE-updates"
			echo "Components: main"
			[ -z "$KEYRING" ] || echo "Signed-By: $KEYRING"
			echo
			echo "Types: deb-src"
			echo "URIs: http://deb.debian.org/debian-security"
			echo "Suites: $SUITE-security"
			echo "Components: main"
			[ -z "$KEYRING" ] || echo "Signed-By: $KEYRING"
		} | $SUDO tee /etc/apt/sources.list.d/hvrt-deb-src.sources >/dev/null
		UPDATED=no
	fi
	if [ "$UPDATED" = no ]; then
		$SUDO apt-get update -qq
	fi
	rm -rf "$OUT/dl.tmp"
	mkdir -p "$OUT/dl.tmp"
	# As root apt's sandbox user cannot write here: download as root. --download-only: unpacked below.
	(cd "$OUT/dl.tmp" && apt-get -qq -o APT::Sandbox::User=root source --download-only qemu) >&2
	rm -rf "$OUT/dl"
	mv "$OUT/dl.tmp" "$OUT/dl"
	DSC=$(ls "$OUT"/dl/qemu_*.dsc 2>/dev/null | head -n 1 || true)
	[ -n "$DSC" ] || { say "apt-get source qemu gave no .dsc"; exit 1; }
fi
T_FETCH=$(now)

# A fresh tree every build, so that the patches apply to Debian's source as it is.
SRC=$OUT/src
rm -rf "$SRC"
dpkg-source --no-check -x "$DSC" "$SRC" >/dev/null
rm -f "$OUT"/qemu_*.orig.tar.*   # dpkg-source leaves a copy of the tarball beside the tree
# The dfsg tarball has no edk2 blobs: unpack them only when they are there.
sed -i "s|^\\( *unpack_edk2_blobs = bzip2.found()\\)\$|\\1 and fs.exists('pc-bios/edk2-aarch64-code.fd.bz2')|" \
	"$SRC/meson.build"
grep -q "fs.exists('pc-bios/edk2-aarch64-code.fd.bz2')" "$SRC/meson.build" \
	|| { say "meson.build: the edk2 blob line was not found"; exit 1; }
for p in $PATCHES; do
	say "applying $(basename "$p")"
	patch -d "$SRC" -p1 --no-backup-if-mismatch -s < "$p"
done
echo "$DEVICES" > "$SRC/configs/devices/x86_64-softmmu/$DEVICES_NAME.mak"
mkdir -p "$SRC/build"
# shellcheck disable=SC2086
(cd "$SRC/build" && ../configure $FLAGS) > "$OUT/configure.log" 2>&1 \
	|| { tail -n 30 "$OUT/configure.log" >&2; say "configure failed (all of it in $OUT/configure.log)"; exit 1; }
T_CONF=$(now)
ninja -C "$SRC/build" -j "$JOBS" qemu-system-x86_64 > "$OUT/ninja.log" 2>&1 \
	|| { grep -E -B2 -A10 'error|FAILED' "$OUT/ninja.log" | head -n 60 >&2; say "build failed (all of it in $OUT/ninja.log)"; exit 1; }
T_BUILD=$(now)
strip -o "$OUT/qemu-system-x86_64.tmp" "$SRC/build/qemu-system-x86_64"
mv "$OUT/qemu-system-x86_64.tmp" "$OUT/qemu-system-x86_64"
echo "$(basename "$DSC")" > "$OUT/versions"
echo "$STAMP" > "$OUT/stamp"
say "built $OUT/qemu-system-x86_64 ($(du -k "$OUT/qemu-system-x86_64" | cut -f1) KiB) in $((T_BUILD - START)) s:" \
	"dependencies $((T_DEPS - START)) s, fetch $((T_FETCH - T_DEPS)) s, unpack+patch+configure $((T_CONF - T_FETCH)) s," \
	"ninja $((T_BUILD - T_CONF)) s"
