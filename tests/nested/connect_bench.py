"""make bench: reference time from hvrt's entry to VMBus connected, on the nested host.

Boots the nested host once and runs tests/nested/vmbustest with hvrt.log=debug, three times, so that
the connection prints its timed steps (vmbus/connection.c prints them after connecting, so printing
does not count). Reports, per run, the time from entry (hvrt's uptime) to connected, the connection
itself, how much of it was the host's (the post hypercalls, which QEMU handles, and the waits for
its answers), and the first touch of the connection's
pages (a nested-host cost: each new page is a fault handled by the outer KVM under TCG).
Target (issue 4): entry to connected at most 5 ms of reference time.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import nested  # noqa: E402

TARGET_MS = 5.0
IMAGE = "build/tests/images/vmbustest/vmbustest.elf"
STEP = re.compile(r"^hvrt: vmbus: debug: connect \+([\d.]+) ms: (\w+) ([\d.]+): (-?\d+)", re.M)
ENTRY = re.compile(r"^vmbus-connect-time: ([\d.]+) ms in hvrt_vmbus_connect, ([\d.]+) ms after entry", re.M)


def analyse(output):
    """{'entry': ms, 'connect': ms, 'host': ms waiting for answers, 'pages': ms} for the first connection."""
    steps = []
    for m in STEP.finditer(output):
        if m.group(2) == "start" and steps:
            break  # the reconnection's steps follow
        steps.append((float(m.group(1)), m.group(2)))
    entry = ENTRY.search(output)
    if not steps or not entry:
        return None
    host = 0.0
    for (t0, what0), (t1, what1) in zip(steps, steps[1:]):
        if what1 in ("posted", "answered", "offers"):
            host += t1 - t0  # a post is a hypercall the host's QEMU handles; then its answer
    pages = next((t for t, what in steps if what == "pages"), 0.0)
    connect = steps[-1][0]
    after_entry = float(entry.group(2))
    return {"entry": after_entry, "connect": connect, "host": host, "pages": pages,
            "guest": connect - host - pages}


def main():
    if not os.path.isfile(IMAGE):
        sys.exit("no %s: run make test-images" % IMAGE)
    tests = [nested.NestedTest("connect-%d" % i, IMAGE, args="hvrt.log=debug", extra=[]) for i in range(3)]
    results = nested.run_tests(tests)
    print("VMBus connection on the nested host (ms of reference time; target: entry to connected <= %.0f)"
          % TARGET_MS)
    print("  %-10s %11s %10s %20s %12s %12s" % ("run", "entry->conn", "connect", "host (posts+answers)",
                                               "page touch", "guest rest"))
    worst = None
    for t in tests:
        r = results[t.name]
        a = analyse(r.output) if r.output else None
        if not a:
            print("  %-10s no timing (%s)" % (t.name, r.reason or "no steps in the output"))
            continue
        print("  %-10s %11.2f %10.2f %20.2f %12.2f %12.2f" % (t.name, a["entry"], a["connect"], a["host"],
                                                              a["pages"], a["guest"]))
        worst = max(worst or 0, a["entry"])
    if worst is None:
        print("  result: no run gave its timing")
        return 1
    print("  entry to connected: %s (%.2f ms at worst; see docs/vmbus.md for where the time goes)"
          % ("ok" if worst <= TARGET_MS else "OVER TARGET", worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
