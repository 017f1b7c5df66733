#!/usr/bin/env python3
"""make bench: packets per second and time per round trip through QEMU's VMBus host, beside the simulator.

QEMU's host: tests/nested/chanbench (the guest image) in the nested host's rebuilt QEMU with
-device hvrt-test (tests/qemu/), its echo device on the real host-side ring and signalling code
(hw/hyperv/vmbus.c) under KVM, itself under TCG. Times are the guest's partition reference time.

The simulator: build/bench/vmbus_chan_bench (tests/bench/vmbus_chan_bench.c), the guest's hv/ and
vmbus/ hosted with tests/hostsim/vmbus_sim.c's echo device (QEMU preset) in one process, the host
serving a ring inside the guest's signal hypercall. Times are host wall time; under callgrind
(instrumentation only around the measured loop) also instructions per round trip or echoed packet,
guest and simulated host together.

Both run the same workloads (tests/nested/chanbench/workloads.h): round trips of 64 bytes on a
polled channel (spinning on hvrt_channel_recv) and with hvrt_channel_request (interrupt-driven,
halted while waiting), and streams of 256 and 1500-byte packets through 64 KiB rings, the send ring
kept full and the echoes drained. "out" is guest -> host packets per second (until the last was
sent), "in" host -> guest (until its echo came back).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import nested  # noqa: E402

RTT_N = 2000
STREAM_N = 20000
# workload, iterations natively, iterations under callgrind
SIM_WORKLOADS = [("rtt-poll", 20000, 2000), ("rtt-request", 20000, 2000), ("stream256", 200000, 20000),
                 ("stream1500", 100000, 10000)]
LINE = re.compile(r"^chanbench (rtt|stream) (.*)$", re.M)


def parse(text):
    """{workload name: {field: int}} from the result lines, and the error lines."""
    found = {}
    for m in LINE.finditer(text):
        fields = dict(kv.split("=", 1) for kv in m.group(2).split())
        name = ("rtt-" + fields.pop("mode")) if m.group(1) == "rtt" else "stream" + fields["size"]
        found[name] = {k: int(v) for k, v in fields.items()}
    errors = re.findall(r"^chanbench error .*$", text, re.M)
    return found, errors


def run_nested(image, build, qemu_dir):
    t = nested.NestedTest("chanbench", image, args="rtt=%d stream=%d" % (RTT_N, STREAM_N), qemu="hvrt",
                          extra=["-device", "hvrt-test"], timeout=180)
    r = nested.run_tests([t], build, qemu_dir=qemu_dir)["chanbench"]
    found, errors = parse(r.output)
    if r.status != 1 or errors:
        tail = "\n".join(r.output.splitlines()[-15:])
        print("  nested run failed: inner QEMU exit %s%s\n%s" % (r.status, "; " + r.reason if r.reason else "", tail))
    return found, r


def run_sim(binary, workload, n, callgrind=False):
    """(fields of the result line, Ir of the measured loop or None)."""
    cmd = [binary, workload, str(n)]
    out = None
    if callgrind:
        fd, out = tempfile.mkstemp(prefix="hvrt-chan-callgrind-")
        os.close(fd)
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=" + out] + cmd
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=900)
        if p.returncode != 0:
            sys.exit("chan bench: %s failed (status %d):\n%s" % (" ".join(cmd), p.returncode,
                                                                  p.stderr.decode("utf-8", "replace")[-2000:]))
        found, errors = parse(p.stdout.decode("utf-8", "replace"))
        if workload not in found or errors:
            sys.exit("chan bench: no result from %s: %s" % (" ".join(cmd), "; ".join(errors)))
        ir = None
        if out:
            with open(out) as f:
                totals = re.search(r"^totals: (\d+)", f.read(), re.M)
            ir = int(totals.group(1)) if totals else None
        return found[workload], ir
    finally:
        if out:
            os.unlink(out)


def us(ns):
    return "%.1f" % (ns / 1000.0) if ns >= 10000 else "%.2f" % (ns / 1000.0)


def rate(n, ns):
    return n / (ns / 1e9) if ns else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--image", default="build/tests/images/chanbench/chanbench.elf")
    ap.add_argument("--sim", default="build/bench/vmbus_chan_bench")
    ap.add_argument("--build", default="build/nested", help="the nested rig's directory")
    ap.add_argument("--qemu-dir", default="build/qemu", help="tests/qemu/build-qemu.sh's directory")
    ap.add_argument("--no-nested", action="store_true", help="the simulator only")
    a = ap.parse_args()
    for path, what in ((a.sim, "make build/bench/vmbus_chan_bench"), (a.image, "make test-images")):
        if not os.path.isfile(path) and not (path == a.image and a.no_nested):
            sys.exit("no %s: run %s" % (path, what))

    sim, sim_ir = {}, {}
    have_valgrind = shutil.which("valgrind") is not None
    for workload, n, cg_n in SIM_WORKLOADS:
        sim[workload], _ = run_sim(a.sim, workload, n)
        if have_valgrind:
            fields, ir = run_sim(a.sim, workload, cg_n, callgrind=True)
            sim_ir[workload] = ir / fields["n"] if ir else None
    qemu, result = ({}, None) if a.no_nested else run_nested(a.image, a.build, a.qemu_dir)

    print("VMBus channel packets through QEMU's host (nested: hvrt-test under KVM under TCG, reference time)")
    print("beside the simulated host (vmbus_sim QEMU preset, hosted -O2, host wall time; Ir: callgrind, guest + sim)")
    print("  %-17s %13s %13s   %13s %13s %14s" % ("round trip 64 B", "QEMU median", "QEMU p90", "sim median",
                                                 "sim p90", "sim Ir/trip"))
    for workload, label in (("rtt-poll", "polled (spin)"), ("rtt-request", "request (irq)")):
        q, s = qemu.get(workload), sim[workload]
        print("  %-17s %13s %13s   %13s %13s %14s" % (
            label, us(q["median_ns"]) + " us" if q else "-", us(q["p90_ns"]) + " us" if q else "-",
            us(s["median_ns"]) + " us", us(s["p90_ns"]) + " us",
            "%.0f" % sim_ir[workload] if sim_ir.get(workload) else "-"))
    print("  %-17s %13s %13s   %13s %13s %14s" % ("stream", "QEMU out/s", "QEMU in/s", "sim out/s", "sim in/s",
                                                 "sim Ir/packet"))
    for size in (256, 1500):
        workload = "stream%d" % size
        q, s = qemu.get(workload), sim[workload]
        print("  %-17s %13s %13s   %13.0f %13.0f %14s" % (
            "%d B packets" % size, "%.0f" % rate(q["n"], q["send_ns"]) if q else "-",
            "%.0f" % rate(q["n"], q["recv_ns"]) if q else "-", rate(s["n"], s["send_ns"]), rate(s["n"], s["recv_ns"]),
            "%.0f" % sim_ir[workload] if sim_ir.get(workload) else "-"))
    if qemu:
        waits = ", ".join("%s %d" % (w, qemu[w]["waits"]) for w in ("stream256", "stream1500") if w in qemu)
        print("  QEMU: %d round trips and %d packets per stream; waits for ring space: %s; inner run %s s"
              % (RTT_N, STREAM_N, waits, result.seconds))
    return 0 if a.no_nested or len(qemu) == 4 else 1


if __name__ == "__main__":
    sys.exit(main())
