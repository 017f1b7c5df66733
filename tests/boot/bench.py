#!/usr/bin/env python3
"""make bench: image sizes, and boot time to main() beside a floor.

Boot time is wall time from starting QEMU (TCG) to the first line main()
prints, median of 5 runs, for each boot path; the floor is the same boot path
with an image that prints one line and contains nothing of hvrt
(tests/boot/floor). The ratio is what hvrt adds: its image load, start-up
(exit boot services, page tables, clock calibration) and C library.
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu  # noqa: E402

RUNS = 5
SIZE_TARGET = 80 * 1024
TARGETS = {"gen1-elf": 1.5, "gen2-img": 1.05}


def median_boot(kind, image, marker):
    times = []
    for _ in range(RUNS):
        r = qemu.boot(kind, image, marker=marker, timeout=120)
        if r.first_line_s is None:
            sys.exit("bench: %s did not print %r:\n%s" % (image, marker, r.output[-2000:]))
        times.append(r.first_line_s)
    return statistics.median(times), times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    a = ap.parse_args()
    ex = os.path.join(a.build, "examples", "hello")
    bench = os.path.join(a.build, "bench")

    print("image sizes (stripped), target at most %d bytes:" % SIZE_TARGET)
    for name in ("hello.efi", "hello.elf"):
        size = os.path.getsize(os.path.join(ex, name))
        print("  %-10s %7d bytes  %s" % (name, size, "ok" if size <= SIZE_TARGET else "OVER TARGET"))

    print("boot wall time to main(), median of %d (QEMU TCG):" % RUNS)
    rows = [("gen1-elf", "Gen1 multiboot (-kernel)", os.path.join(ex, "hello.elf"),
             os.path.join(bench, "floor.elf")),
            ("gen2-img", "Gen2 UEFI (OVMF, GPT disk)", os.path.join(ex, "hello-gen2.img"),
             os.path.join(bench, "floor-gen2.img"))]
    for kind, label, image, floor in rows:
        hvrt_s, hvrt_all = median_boot(kind, image, "hvrt ")
        floor_s, floor_all = median_boot(kind, floor, "floor")
        ratio = hvrt_s / floor_s
        target = TARGETS[kind]
        print("  %-28s hello %7.3f s   floor %7.3f s   ratio %.3f (target at most %.2f: %s)"
              % (label, hvrt_s, floor_s, ratio, target, "ok" if ratio <= target else "OVER TARGET"))
        print("  %-28s runs hello %s, floor %s" % ("", " ".join("%.3f" % t for t in hvrt_all),
                                                   " ".join("%.3f" % t for t in floor_all)))


if __name__ == "__main__":
    main()
