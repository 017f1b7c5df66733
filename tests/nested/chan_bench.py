#!/usr/bin/env python3
"""make bench: packets per second and time per round trip through QEMU's VMBus host, beside the simulator.

QEMU's host: tests/nested/chanbench (the guest image) in the nested host's rebuilt QEMU with
-device hvrt-test (tests/qemu/), its echo device on the real host-side ring and signalling code
(hw/hyperv/vmbus.c) under KVM, itself under TCG. Times are the guest's partition reference time.

The simulator: build/bench/vmbus_chan_bench (tests/bench/vmbus_chan_bench.c), the guest's hv/ and
vmbus/ hosted with tests/hostsim/vmbus_sim.c's echo device (QEMU preset) and a stand-in for
hvrt-test's SEND and DISCARD in one process, the host serving a ring inside the guest's signal
hypercall. Times are host wall time; under callgrind (instrumentation only around the measured loop)
also instructions per round trip or packet, guest and simulated host together.

Both run the same workloads (tests/nested/chanbench/workloads.h), with 64 KiB rings: round trips of
64 bytes on a polled channel (spinning on hvrt_channel_recv) and with hvrt_channel_request
(interrupt-driven, halted while waiting); and streams of 256 and 1500-byte packets on a polled
channel, each direction alone: host -> guest, the device's SEND of N packets read as they come;
guest -> host, N packets the device reads and drops (DISCARD), ended by one request it answers once
it read them all; and a round-trip stream, the send ring kept full of packets the device echoes.
MB/s counts payload bytes.
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
SIZES = (256, 1500)
# workload, iterations natively, iterations under callgrind
SIM_WORKLOADS = [("rtt-poll", 20000, 2000), ("rtt-request", 20000, 2000)] + [
    ("%s%d" % (kind, size), 200000 if size == 256 else 100000, 20000 if size == 256 else 10000)
    for kind in ("in", "out", "echo") for size in SIZES]
QEMU_WORKLOADS = ["rtt-poll", "rtt-request"] + ["%s%d" % (k, s) for s in SIZES for k in ("echo", "in", "out")]
LINE = re.compile(r"^chanbench (rtt|echo|in|out) (.*)$", re.M)
# the fields a result line must have, by kind
NEEDED = {"rtt": ("size", "n", "median_ns", "p90_ns"), "echo": ("size", "n", "ns", "waits"),
          "in": ("size", "n", "ns"), "out": ("size", "n", "ns", "sent_ns", "waits")}


def parse(text):
    """{workload name: {field: int}} from the well-formed result lines, and the error lines.

    A line with a token that is no key=value, a value that is no number (console text run into it)
    or a field missing is skipped: its workload then shows as missing."""
    found = {}
    for m in LINE.finditer(text):
        kind, fields = m.group(1), {}
        for token in m.group(2).split():
            key, sep, value = token.partition("=")
            if not sep:
                fields = None
                break
            fields[key] = value
        if fields is None or (kind == "rtt" and fields.get("mode") not in ("poll", "request")):
            continue
        mode = fields.pop("mode", None)
        if any(k not in fields for k in NEEDED[kind]) or not all(v.isdigit() for v in fields.values()):
            continue
        values = {k: int(v) for k, v in fields.items()}
        if values["n"] == 0:
            continue
        found["rtt-" + mode if kind == "rtt" else "%s%d" % (kind, values["size"])] = values
    errors = re.findall(r"^chanbench error .*$", text, re.M)
    return found, errors


def run_nested(image, build, qemu_dir):
    """(results by workload, the NestedResult, whether the run failed)."""
    t = nested.NestedTest("chanbench", image, args="rtt=%d stream=%d" % (RTT_N, STREAM_N), qemu="hvrt",
                          extra=["-device", "hvrt-test"], timeout=300)
    r = nested.run_tests([t], build, qemu_dir=qemu_dir)["chanbench"]
    found, errors = parse(r.output)
    failed = r.status != 1 or bool(errors)
    if failed:
        tail = "\n".join("    " + line for line in r.output.splitlines()[-15:])
        print("  nested run failed: inner QEMU exit %s%s; %d error line%s\n%s" % (
            r.status, "; " + r.reason if r.reason else "", len(errors), "" if len(errors) == 1 else "s", tail))
    return found, r, failed


def run_sim(binary, workload, n, callgrind=False):
    """(fields of the result line, Ir of the measured loop or None), or (None, None) after printing why."""
    cmd = [binary, workload, str(n)]
    out = None
    if callgrind:
        fd, out = tempfile.mkstemp(prefix="hvrt-chan-callgrind-")
        os.close(fd)
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=" + out] + cmd
    try:
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=900)
        except subprocess.TimeoutExpired:
            print("  simulator: %s timed out" % " ".join(cmd))
            return None, None
        found, errors = parse(p.stdout.decode("utf-8", "replace"))
        if p.returncode != 0 or workload not in found or errors:
            print("  simulator: %s failed (status %d)%s\n%s" % (
                " ".join(cmd), p.returncode, ": " + "; ".join(errors) if errors else "",
                p.stderr.decode("utf-8", "replace")[-2000:]))
            return None, None
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


def stream_cells(r, size):
    """packets/s and MB/s (payload) of a stream result, or "missing"."""
    if not r:
        return "missing", "missing"
    pps = rate(r["n"], r["ns"])
    return "%.0f" % pps, "%.1f" % (pps * size / 1e6)


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
        fields, _ = run_sim(a.sim, workload, n)
        if fields:
            sim[workload] = fields
        if fields and have_valgrind:
            fields, ir = run_sim(a.sim, workload, cg_n, callgrind=True)
            sim_ir[workload] = ir / fields["n"] if fields and ir else None
    qemu, result, nested_failed = ({}, None, False) if a.no_nested else run_nested(a.image, a.build, a.qemu_dir)

    def ir_cell(workload):
        return "%.0f" % sim_ir[workload] if sim_ir.get(workload) else "-" if workload in sim else "missing"

    q_missing = "-" if a.no_nested else "missing"
    print("VMBus channel packets through QEMU's host (nested: hvrt-test under KVM under TCG, reference time)")
    print("beside the simulated host (vmbus_sim QEMU preset, hosted -O2, host wall time; Ir: callgrind, guest + sim)")
    print("  %-24s %12s %12s   %12s %12s %13s" % ("round trip 64 B", "QEMU median", "QEMU p90", "sim median",
                                                "sim p90", "sim Ir/trip"))
    for workload, label in (("rtt-poll", "polled (spin)"), ("rtt-request", "request (irq)")):
        q, s = qemu.get(workload), sim.get(workload)
        print("  %-24s %12s %12s   %12s %12s %13s" % (
            label, us(q["median_ns"]) + " us" if q else q_missing, us(q["p90_ns"]) + " us" if q else q_missing,
            us(s["median_ns"]) + " us" if s else "missing", us(s["p90_ns"]) + " us" if s else "missing",
            ir_cell(workload)))
    print("  %-24s %12s %12s   %12s %12s %13s" % ("stream, 64 KiB rings", "QEMU pkt/s", "QEMU MB/s", "sim pkt/s",
                                                "sim MB/s", "sim Ir/packet"))
    for kind, label in (("in", "host -> guest"), ("out", "guest -> host"), ("echo", "round trip (echo)")):
        for size in SIZES:
            workload = "%s%d" % (kind, size)
            q = stream_cells(qemu.get(workload), size) if qemu or not a.no_nested else ("-", "-")
            s = stream_cells(sim.get(workload), size)
            print("  %-24s %12s %12s   %12s %12s %13s" % ("%s %d B" % (label, size), q[0], q[1], s[0], s[1],
                                                        ir_cell(workload)))
    print("  in: the device's SEND, timed from the command to the last packet read; out: packets the device reads")
    print("  and drops (DISCARD), timed to the answer to one more; echo: both rings at once, each packet both ways.")
    print("  sim in: vmbus_sim takes a device's packets into a 64-packet backlog; the bench tops it up after every")
    print("  hypercall, where QEMU's device writes into the ring until it is full (same signals to the guest).")
    if result is not None:
        waits = ", ".join("%s %d" % (w, qemu[w]["waits"]) for w in QEMU_WORKLOADS if "waits" in qemu.get(w, {}))
        print("  QEMU: %d round trips and %d packets per stream; halted waits for send-ring room: %s; inner run %s s"
              % (RTT_N, STREAM_N, waits or "-", result.seconds))
    missing = [w for w, _, _ in SIM_WORKLOADS if w not in sim]
    if not a.no_nested:
        missing += ["QEMU " + w for w in QEMU_WORKLOADS if w not in qemu]
    if missing:
        print("  missing: %s" % ", ".join(missing))
    return 1 if nested_failed or missing else 0


if __name__ == "__main__":
    sys.exit(main())
