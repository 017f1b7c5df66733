#!/bin/sh
# mkgptimg.sh APP.efi OUT.img: a GPT disk whose EFI system partition holds
# APP.efi as EFI/BOOT/BOOTX64.EFI, the removable-media path UEFI firmware
# boots without any boot entry. Built from files only (sgdisk, mkfs.fat, mtools).
set -eu
efi=$1
out=$2
part_mib=${ESP_MIB:-7}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1 MiB before the partition, 1 MiB after it for the backup GPT.
disk_mib=$((part_mib + 2))
rm -f "$out"
truncate -s "${disk_mib}M" "$out"
sgdisk --clear --new=1:2048:+"${part_mib}M" --typecode=1:ef00 \
	--change-name=1:"EFI system partition" "$out" >/dev/null

mkfs.fat -C -n HVRT-ESP "$tmp/esp.img" $((part_mib * 1024)) >/dev/null
mmd -i "$tmp/esp.img" ::/EFI ::/EFI/BOOT
mcopy -i "$tmp/esp.img" "$efi" ::/EFI/BOOT/BOOTX64.EFI
dd if="$tmp/esp.img" of="$out" bs=1M seek=1 conv=notrunc status=none
sgdisk --verify "$out" >/dev/null
sgdisk --print "$out" | grep -q "EF00" || { echo "mkgptimg: no EFI system partition in $out" >&2; exit 1; }
