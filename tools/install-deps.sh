#!/bin/sh
# Installs hvrt's build and test prerequisites on Debian 12. Idempotent: it does
# nothing when every package is already present, so `make` can call it each time.
set -eu

# The nested test host (tests/nested/build-rig.sh) packs qemu-system-x86, seabios and ovmf as they
# are installed here; the kernel and busybox-static it only downloads (apt-get download).
PACKAGES="gcc clang libclang-rt-14-dev make binutils gnu-efi newlib-source libcmocka-dev qemu-system-x86 ovmf seabios \
mtools xorriso grub-pc-bin grub-common dosfstools gdisk valgrind python3 xz-utils bzip2 gzip"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "hvrt: installing missing prerequisites:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "hvrt: need root (or sudo) to install:$missing" >&2
		exit 1
	}
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
