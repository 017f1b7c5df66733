#!/usr/bin/env python3
"""Turn the `hvrt.memmap=raw` console dump of a boot into a fixture file.

    python3 tests/boot/qemu.py gen2-efi build/examples/hello/hello.efi hvrt.memmap=raw \\
        | python3 tools/capture-memmap.py "OVMF 2022.11, QEMU 7.2 q35, -m 256" > tests/unit/data/X.map

The fixture is text: comment lines (#), a line "kind efi DESC_SIZE" or
"kind multiboot 0", then the map's bytes in hex, 16 a line, exactly as the
firmware handed them over. tests/unit reads it back.
"""
import re
import sys

lines = sys.stdin.read().splitlines()
header = None
data = []
for line in lines:
    m = re.search(r"hvrt: memmap: raw (UEFI|multiboot) map: (\d+) bytes, descriptor size (\d+)", line)
    if m:
        header = ("efi" if m.group(1) == "UEFI" else "multiboot", int(m.group(2)), int(m.group(3)))
        continue
    m = re.search(r"hvrt: memmap: raw ([0-9a-f]+)$", line)
    if m and header:
        data.append(m.group(1))
if not header:
    sys.exit("capture-memmap: no raw map in the input (boot with hvrt.memmap=raw)")
blob = "".join(data)
if len(blob) != 2 * header[1]:
    sys.exit("capture-memmap: expected %d bytes, got %d" % (header[1], len(blob) // 2))
print("# %s" % (sys.argv[1] if len(sys.argv) > 1 else "captured map"))
print("kind %s %d" % (header[0], header[2]))
for i in range(0, len(blob), 32):
    print(blob[i:i + 32])
