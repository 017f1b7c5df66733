#!/bin/sh
# mkiso.sh APP.elf OUT.iso [ARGS...]: a BIOS-bootable ISO (El Torito, GRUB) that
# multiboots APP.elf, the way a Gen1 VM boots from its DVD drive.
# Needs grub-pc-bin, grub-common (grub-mkrescue) and xorriso; no root.
#
# GRUB passes only the words after the file name as the multiboot command
# line, where QEMU's -kernel passes the file name too; naming the file twice
# gives the app the same argv[0] either way.
set -eu
elf=$1
out=$2
shift 2
name=$(basename "$elf")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

mkdir -p "$dir/boot/grub"
cp "$elf" "$dir/boot/$name"
cat >"$dir/boot/grub/grub.cfg" <<CFG
set timeout=0
set default=0
menuentry "hvrt $name" {
	multiboot /boot/$name /boot/$name $*
	boot
}
CFG
# Only the BIOS platform: Gen1 VMs have no UEFI, and Gen2 boots the GPT image.
grub-mkrescue --quiet -d /usr/lib/grub/i386-pc -o "$out" "$dir" \
	--install-modules="multiboot normal configfile iso9660 biosdisk" \
	--modules="multiboot" --fonts= --locales= --themes= 2>"$dir/log" \
	|| { cat "$dir/log" >&2; exit 1; }
