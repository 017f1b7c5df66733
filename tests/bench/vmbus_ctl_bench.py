#!/usr/bin/env python3
"""make bench: control messages per second through the simulated VMBus host.

Runs build/bench/vmbus_ctl_bench (tests/bench/vmbus_ctl_bench.c) once per
workload natively, for messages per second of process CPU time, and once
under callgrind with instrumentation only around the measured loop, for
instructions per control message. Both count the guest (hv/ and vmbus/) and
the simulated host (tests/hostsim/vmbus_sim.c on hv_sim) together: they run
in one process, and every message is a PostMessage hypercall into the sim or
a SynIC message the guest takes out of its slot.

    gpadl     GPADL of one page created and torn down: 4 messages
    gpadl300  the same with 300 pages: header, 10 bodies, 3 answers: 14
    open      a channel opened and closed (16 KiB rings): 7

The open workload allocates its rings each time, and hv_sim keeps every
allocation it ever made in a list it scans to check a guest page, so its
numbers include a cost that grows with the run: it runs fewer iterations.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

# workload, iterations natively, iterations under callgrind
WORKLOADS = [("gpadl", 200000, 2000), ("gpadl300", 20000, 500), ("open", 1000, 300)]
LINE = re.compile(r"^(\w+) iterations=(\d+) messages=(\d+) cpu_ns=(\d+)$", re.M)


def run(cmd):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    except OSError as e:
        sys.exit("vmbus ctl bench: cannot run %s: %s" % (cmd[0], e))
    if p.returncode != 0:
        sys.exit("vmbus ctl bench: %s failed (status %d):\n%s"
                 % (" ".join(cmd), p.returncode, p.stderr.decode("utf-8", "replace")[-2000:]))
    m = LINE.search(p.stdout.decode("utf-8", "replace"))
    if not m:
        sys.exit("vmbus ctl bench: no result line from %s" % " ".join(cmd))
    return int(m.group(2)), int(m.group(3)), int(m.group(4))


def callgrind(binary, workload, iterations):
    """(Ir of the measured loop, messages)."""
    fd, out = tempfile.mkstemp(prefix="hvrt-ctl-callgrind-")
    os.close(fd)
    try:
        _, messages, _ = run(["valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=" + out,
                              binary, workload, str(iterations)])
        with open(out) as f:
            totals = re.search(r"^totals: (\d+)", f.read(), re.M)
    finally:
        os.unlink(out)
    if not totals:
        sys.exit("vmbus ctl bench: callgrind wrote no totals for %s" % workload)
    return int(totals.group(1)), messages


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", help="build/bench/vmbus_ctl_bench")
    a = ap.parse_args()

    print("VMBus control messages through the simulated host (guest hv/ + vmbus/ and vmbus_sim, hosted, -O2):")
    print("  %-9s %9s %10s %14s %16s %12s" % ("workload", "msgs/iter", "iterations", "messages/s CPU",
                                              "us/iteration CPU", "Ir/message"))
    for workload, iterations, cg_iterations in WORKLOADS:
        n, messages, ns = run([a.binary, workload, str(iterations)])
        ir, cg_messages = callgrind(a.binary, workload, cg_iterations)
        print("  %-9s %9.1f %10d %14.0f %16.2f %12.0f" % (
            workload, messages / n, n, messages / (ns / 1e9), ns / 1e3 / n, ir / cg_messages))


if __name__ == "__main__":
    main()
