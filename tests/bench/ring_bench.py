#!/usr/bin/env python3
"""make bench: instructions per packet through a VMBus ring (vmbus/ring.c).

Runs build/bench/ring_bench (tests/bench/ring_bench.c) under callgrind once
per payload size: PACKETS packets, each written into one ring and read back
out of it (write, read and read-index commit), with instrumentation on only
around that loop. Instructions per packet = Ir / PACKETS. Callgrind counts
instructions, not time, so the numbers do not move with the machine's load.

ring.c is built with the library's -Os flags but hosted, so its memcpy is
glibc's (the variant glibc picks for the CPU valgrind presents). The table
splits each packet's count into memcpy and the rest (ring.c and the loop
that calls it): a write and a read copy the payload twice, and at 1 KiB and
more those copies are most of the cost.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

PACKETS = 20000
TARGETS = [(64, 270), (1024, 390), (8192, 1060)]  # payload bytes, instructions per packet at most
COPY_FUNCTIONS = re.compile(r"mem(cpy|move|set)")


def self_costs(path):
    """{function: Ir spent in the function itself} from a callgrind output file."""
    names, costs = {}, {}
    fn = None
    skip_next = False  # the cost line after calls= is the call's inclusive cost
    with open(path) as f:
        for line in f:
            if line.startswith(("fn=", "cfn=")):
                m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
                if m.group(2) is not None:
                    names[m.group(1)] = m.group(2)
                if line.startswith("fn="):
                    fn = names.get(m.group(1), m.group(1))
            elif line.startswith("calls="):
                skip_next = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                if skip_next:
                    skip_next = False
                    continue
                fields = line.split()
                if fn is not None and len(fields) >= 2:
                    costs[fn] = costs.get(fn, 0) + int(fields[-1])
    return costs


def measure(binary, payload):
    """(all Ir, memcpy's Ir) of the measured loop."""
    fd, out = tempfile.mkstemp(prefix="hvrt-ring-callgrind-")
    os.close(fd)
    try:
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=" + out,
               binary, str(PACKETS), str(payload)]
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        except OSError as e:
            sys.exit("ring bench: cannot run valgrind (tools/install-deps.sh installs it): %s" % e)
        if p.returncode != 0:
            sys.exit("ring bench: %s failed (status %d):\n%s"
                     % (" ".join(cmd), p.returncode, p.stdout.decode("utf-8", "replace")[-2000:]))
        costs = self_costs(out)
        with open(out) as f:
            totals = re.search(r"^totals: (\d+)", f.read(), re.M)
    finally:
        os.unlink(out)
    total = sum(costs.values())
    if not totals or int(totals.group(1)) != total:
        sys.exit("ring bench: callgrind's output for %d-byte payloads does not add up" % payload)
    return total, sum(c for name, c in costs.items() if COPY_FUNCTIONS.search(name))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", help="build/bench/ring_bench")
    a = ap.parse_args()

    print("VMBus ring: write + read + commit of one packet, loopback through one ring (64 KiB data area),")
    print("instructions per packet (callgrind, %d packets; ring.c at -Os, glibc memcpy):" % PACKETS)
    for payload, target in TARGETS:
        total, copies = measure(a.binary, payload)
        per_packet = total / PACKETS
        print("  %5d-byte payload %7.1f (memcpy %6.1f, ring.c and caller %5.1f)   target at most %4d: %s"
              % (payload, per_packet, copies / PACKETS, (total - copies) / PACKETS, target,
                 "ok" if per_packet <= target else "OVER"))


if __name__ == "__main__":
    main()
