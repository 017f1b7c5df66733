"""Nested-host cases of hvrt's channel API against QEMU's real host-side VMBus code (issue 5).

tests/nested/chantest/ (a check_*.c per area) drives the public channel API (<hvrt/vmbus.h>) against
the project's hvrt-test VMBus device in the rebuilt QEMU 7.2 (qemu="hvrt", tests/qemu/): offers, open
and close, completions, GPA-direct, a 100k-packet stream, back-pressure both ways, host traffic while
the app is busy, malformed packets from the host and a rescind. Each case runs a few of its named checks
(one inner boot each, so a failure names its area) and ends with the check "teardown": every
channel closed, then UNLOAD.

QEMU's trace shows what the guest left behind: every case traces the control messages only
(TRACE; a per-packet event would flood the console, where each byte is slow) and check_trace()
holds it to: every GPADL created was torn down, every channel QEMU opened was closed, and UNLOAD
was the guest's last message, answered; in the rescind case each rescinded relid was closed and then
released. Cases that make the host lie (bad-input, stray-completion) want exactly the error lines
hvrt logs for it (hvrt_errors); the others, none.
"""

import collections
import re

from vmbus_cases import vmbus_trace

CHANTEST = "build/tests/images/chantest/chantest.elf"

# Control-message events only (hw/hyperv/trace-events; vmbus_rescind and vmbus_relid_released,
# "channel #RELID", come with tests/qemu/patches/0001).
TRACE = ["vmbus_process_incoming_message", "vmbus_post_msg", "vmbus_gpadl_created", "vmbus_gpadl_torndown",
         "vmbus_open_channel", "vmbus_channel_open", "vmbus_close_channel", "vmbus_rescind",
         "vmbus_relid_released"]
EXTRA = ["-device", "hvrt-test"] + [arg for event in TRACE for arg in ("-trace", event)]

# VMBus control message types (the guest's, in vmbus_process_incoming_message; the host's in vmbus_post_msg).
UNLOAD = 16
UNLOAD_RESPONSE = 17

# What no case may print: a failed check, an hvrt warning (e.g. ring pages kept: a GPADL never torn
# down), QEMU's own complaints (its error_report lines: a packet of hvrt's it could not parse).
FORBID = [r"^chantest: .*FAIL", r"^hvrt: .*warning:", r"qemu-system-x86_64: "]


def check_trace(result, released=()):
    """None if QEMU's trace shows a clean end, else why not: every GPADL created was torn down,
    every channel opened was closed as often, the guest's last message was UNLOAD and QEMU answered
    it, and each relid in released was rescinded by the host and then released by the guest."""
    events = vmbus_trace(result.output)
    if not events:
        return "no vmbus_* trace events in the output (-trace)"
    created = collections.Counter(f.get("gpadl") for e, f in events if e == "vmbus_gpadl_created")
    torndown = collections.Counter(f.get("gpadl") for e, f in events if e == "vmbus_gpadl_torndown")
    if not created:
        return "no GPADL was created"
    if created != torndown:
        return "GPADLs created but never torn down: %s; torn down but never created: %s" % (
            sorted((created - torndown).elements()), sorted((torndown - created).elements()))
    opened = collections.Counter(f.get("channel") for e, f in events
                                 if e == "vmbus_channel_open" and f.get("status") == 0)
    closed = collections.Counter(f.get("channel") for e, f in events if e == "vmbus_close_channel")
    if opened != closed:
        return "channels opened %s times and closed %s times (QEMU's channel numbers)" % (dict(opened), dict(closed))
    guest = [f.get("type") for e, f in events if e == "vmbus_process_incoming_message"]
    if not guest or guest[-1] != UNLOAD:
        return "the guest's last control message was type %s, not UNLOAD (16)" % (guest[-1] if guest else None)
    after = events[max(i for i, (e, f) in enumerate(events) if e == "vmbus_process_incoming_message"):]
    if not any(e == "vmbus_post_msg" and f.get("type") == UNLOAD_RESPONSE for e, f in after):
        return "QEMU posted no UNLOAD_RESPONSE after the UNLOAD"
    for relid in released:
        rescind = [i for i, (e, f) in enumerate(events) if e == "vmbus_rescind" and f.get("channel") == relid]
        if len(rescind) != 1:
            return "QEMU rescinded relid %d %d times (vmbus_rescind), not once" % (relid, len(rescind))
        release = [i for i, (e, f) in enumerate(events)
                   if e == "vmbus_relid_released" and f.get("channel") == relid]
        if len(release) != 1 or release[0] < rescind[0]:
            return "relid %d: rescinded at event %d, released (vmbus_relid_released) at %s: want once, after" % (
                relid, rescind[0], release)
        closes = [i for i, (e, f) in enumerate(events) if e == "vmbus_close_channel" and f.get("channel") == relid]
        if not closes or not rescind[0] < closes[-1] < release[0]:
            return "relid %d: the guest did not close it between the rescind and the release" % relid
        # The release comes last (facts 2.5): the ring GPADL of its last open is torn down before it.
        opens = [(i, f.get("gpadl")) for i, (e, f) in enumerate(events)
                 if e == "vmbus_open_channel" and f.get("channel") == relid]
        if opens:
            torn = [i for i, (e, f) in enumerate(events)
                    if e == "vmbus_gpadl_torndown" and f.get("gpadl") == opens[-1][1] and i > opens[-1][0]]
            if not torn or torn[0] > release[0]:
                return "relid %d: its ring GPADL #%s was not torn down before RELID_RELEASED" % (relid, opens[-1][1])
    return None


def hvrt_errors(expected):
    """A check: hvrt's error lines are exactly these patterns, in order (each line matched by the
    pattern at its place), and the trace is clean."""
    def check(result):
        lines = [line for line in result.output.split("\n") if re.match(r"^hvrt: \S+: error: ", line)]
        if len(lines) != len(expected) or not all(re.search(p, line) for p, line in zip(expected, lines)):
            return "hvrt's error lines:\n  %s\nexpected, in order:\n  %s" % (
                "\n  ".join(lines) or "(none)", "\n  ".join(expected))
        return check_trace(result)
    return check


def _ok(check):
    return r"^chantest: %s: ok " % re.escape(check)


def _chan_case(case, name, checks, expect=(), errors=None, timeout=60, released=()):
    """One inner boot of chantest running checks and then the teardown. errors: the hvrt error
    lines it must print, in order (hvrt_errors); None: it must print none. released: the relids the
    host rescinds and the guest must release (check_trace)."""
    checks = list(checks) + ["teardown"]
    if errors is None:
        forbid, check = FORBID + [r"^hvrt: \S+: error: "], lambda r: check_trace(r, released)
    else:
        forbid, check = FORBID, hvrt_errors(errors)
    return case("chantest-%s/gen1-elf" % name, CHANTEST,
                [_ok(c) for c in checks] + list(expect) + [r"^chantest: %d passed, 0 failed$" % len(checks)],
                args=" ".join(checks), qemu="hvrt", extra=EXTRA, forbid=forbid, timeout=timeout, check=check)


# The log lines of a broken channel (vmbus/channel.c): relid = the device's channel index + 1.
def _broken(relid, why):
    return r"^hvrt: vmbus: error: relid %d: %s \(-\d+\); channel closed$" % (relid, why)


def make_cases(case):
    """The cases, made with cases.py's case()."""
    return [
        # The offers of the device's three channels; 20 rounds of opening and closing all of them
        # (other ring sizes each round, some polled, an echo on each); closes under traffic;
        # completions and transaction ids, with a request on a channel whose send ring is full (it waits
        # for room); GPA-direct packets of 1 to 127 pages and 1 to 64 ranges, each answered once as a
        # completion and once in-band (asked for none: a completion would break the channel).
        _chan_case(case, "basics", ["offers", "open-close", "close-busy", "completions", "gpa"],
                   [r"^chantest: open-close: ok 20 rounds: 60 opens and 60 closes",
                    r"^chantest: completions: ok .* a request amid them on channel 0 with its send ring full",
                    r"^chantest: gpa: ok 60 checksums right, 30 as completions and 30 in-band"]),
        # 100k packets of 1 to 1536 bytes each way over the three channels, every byte checked: 7 to
        # 12 s here (8700 to 13500 packets/s, 6.5 to 10 MB/s each way, as busy as the machine is).
        _chan_case(case, "stream", ["stream"],
                   [r"^chantest: stream: ok 100000 packets each way .* packets/s"], timeout=120),
        # Full rings both ways, and the host's packets while the app computes without calling hvrt.
        _chan_case(case, "backpressure", ["backpressure-out", "backpressure-polled", "backpressure-in", "busy"]),
        # Malformed packets from the host, each on one sub-channel while the others stream echoes: the
        # channel is closed (logged), the app closes and reopens it.
        _chan_case(case, "bad-input", ["bad-length", "bad-offset", "bad-type"],
                   errors=[_broken(2, "the host wrote a malformed packet or index"),
                           _broken(3, "the host wrote a malformed packet or index"),
                           _broken(2, "the host sent a packet of unknown type")]),
        # A completion for a transaction id the guest never sent (the device's id "STRAY" << 24).
        _chan_case(case, "stray-completion", ["stray-completion"],
                   errors=[r"^hvrt: vmbus: error: relid 3: completion for transaction id 0x5354524159000000 that was "
                           r"never sent: closing the channel$", _broken(3, "the host completed a transaction never sent")]),
        # The host rescinds open sub-channel 2 (relid 3) while a request on it waits, then the primary
        # with sub-channel 1: on_rescind, close, RELID_RELEASED for each, an empty bus.
        _chan_case(case, "rescind", ["rescind", "rescind-primary"], released=[3, 2, 1]),
    ]
