"""Nested-host cases about VMBus, and the helpers that read QEMU's VMBus trace.

cases.py adds make_cases(case) to its list (same case() format). The reference is Linux's own
hv_vmbus: the case linux-hv_vmbus/linux boots Debian's kernel as the innermost guest (kind
"linux", tests/nested/linux-init.sh) against the same QEMU VMBus server hvrt talks to, with
-trace 'vmbus_*' on the inner QEMU, so that an hvrt case can be held against what Linux did:

    from vmbus_cases import vmbus_trace, control_summary, control_diff
    why = control_diff(LINUX_CONTROL, control_summary(vmbus_trace(result.output)))

The trace. QEMU 7.2 (hw/hyperv/trace-events, log backend) writes one line per event to the
inner QEMU's stderr, which the nested host puts on the console with the guest's serial output:

    vmbus_recv_message type 14 size 40           a guest post reached connection 1 (type, bytes)
    vmbus_process_incoming_message type 14       the server took it off its queue and handles it
    vmbus_initiate_contact version 4.1 target vp 0 mon pages 0x2a09000,0x2a08000 int page 0x2a0a000
    vmbus_post_msg type 15 size 12               the server posts a message to the guest's SINT2
    vmbus_msg_cb message status 0                how that post ended: 0 delivered, -11 (EAGAIN) the
                                                 slot was busy and the same message is posted again
    vmbus_terminate_offers                       (nothing after the name) ALLOFFERS_DELIVERED is next

and vmbus_signal_event, vmbus_channel_notify_guest "channel #N", vmbus_send_offer "channel #N dev
PTR", vmbus_gpadl_header "gpadl #N gfns N", vmbus_gpadl_body/created/teardown/torndown "gpadl
#N", vmbus_open_channel "channel #N gpadl #N target vp N", vmbus_channel_open "channel #N status
N", vmbus_close_channel "channel #N". With -msg timestamp=on each line starts "PID@SEC.USEC:".
The vCPU thread writes vmbus_recv_message (the guest's hypercall), the main loop the rest, each
apart from the guest's serial output: a line can land in the middle of one of the guest's, so an
event is found anywhere in a line and runs to its end, and the next post's vmbus_recv_message can
come before the previous answer's vmbus_msg_cb (control_summary goes by what the server handled).

What the trace shows of Linux (Debian 12's 6.1 kernel): its first INITIATE_CONTACT QEMU sees asks
for 4.1. Linux tries 5.3, 5.2, 5.1 and 5.0 first, but posts those on message connection 4, which
QEMU does not listen on: the hypercall fails with HV_STATUS_INVALID_CONNECTION_ID before the server
sees anything, so they are not in the trace. QEMU refuses 4.1 (it accepts 0 < version <= 4.0),
Linux asks for 4.0, which is accepted, then REQUESTOFFERS gets ALLOFFERS_DELIVERED at once (QEMU
7.2 offers no devices), and rmmod hv_vmbus sends UNLOAD, answered UNLOAD_RESPONSE: LINUX_CONTROL.
The guest's side shows the refused posts too: linux-init.sh traces every hv_post_message of
hv_vmbus with a kprobe and prints "linux-vmbus: post connection C type T [version V]: status S"
lines, which linux_posts() reads: LINUX_POSTS.
"""

import difflib
import os
import sys
import re

# VMBus control message types (the channel message header's first field).
MESSAGE_TYPES = {
    0: "INVALID", 1: "OFFERCHANNEL", 2: "RESCIND_CHANNELOFFER", 3: "REQUESTOFFERS", 4: "ALLOFFERS_DELIVERED",
    5: "OPENCHANNEL", 6: "OPENCHANNEL_RESULT", 7: "CLOSECHANNEL", 8: "GPADL_HEADER", 9: "GPADL_BODY",
    10: "GPADL_CREATED", 11: "GPADL_TEARDOWN", 12: "GPADL_TORNDOWN", 13: "RELID_RELEASED",
    14: "INITIATE_CONTACT", 15: "VERSION_RESPONSE", 16: "UNLOAD", 17: "UNLOAD_RESPONSE",
    21: "TL_CONNECT_REQUEST", 22: "MODIFYCHANNEL", 23: "TL_CONNECT_RESULT", 24: "MODIFYCHANNEL_RESPONSE",
}
INITIATE_CONTACT = 14
VERSION_RESPONSE = 15

# QEMU 7.2's VMBus trace events (hw/hyperv/trace-events), and the project's. They are found anywhere in
# a line (the guest's serial output, written byte by byte, may share a line with one); another
# vmbus_* name counts only at the start of a line, so that a newer QEMU's events are still read.
EVENTS = ("vmbus_recv_message", "vmbus_signal_event", "vmbus_channel_notify_guest", "vmbus_post_msg",
          "vmbus_msg_cb", "vmbus_process_incoming_message", "vmbus_initiate_contact", "vmbus_send_offer",
          "vmbus_terminate_offers", "vmbus_gpadl_header", "vmbus_gpadl_body", "vmbus_gpadl_created",
          "vmbus_gpadl_teardown", "vmbus_gpadl_torndown", "vmbus_open_channel", "vmbus_channel_open",
          "vmbus_close_channel",
          # tests/qemu/patches/0001 (the rebuilt QEMU): RESCIND_CHANNELOFFER sent, RELID_RELEASED taken
          "vmbus_rescind", "vmbus_relid_released")
_KNOWN = re.compile(r"(?:\d+@\d+\.\d+:)?(%s)(?= |$)(.*)$" % "|".join(EVENTS))
_OTHER = re.compile(r"^(?:\d+@\d+\.\d+:)?(vmbus_[a-z0-9_]+)(?= |$)(.*)$")
# QEMU answers version_supported=1 to INITIATE_CONTACT for 0 < version <= this (VMBUS_VERSION_CURRENT,
# hw/hyperv/vmbus.c); the trace does not show the answer itself.
QEMU_MAX_VERSION = (4, 0)
EAGAIN = -11


def _value(token):
    """A trace field's value: "#3" and "-11" are ints, "0x1,0x2" a tuple, "4.0" stays text."""
    parts = token.lstrip("#").split(",")
    values = []
    for p in parts:
        try:
            values.append(int(p, 0))
        except ValueError:
            return token  # a version ("4.0"), a pointer printed as "(nil)"
    return values[0] if len(values) == 1 else tuple(values)


def _fields(text):
    """{"type": 14, "size": 40} from "type 14 size 40": the words before a value name it."""
    fields = {}
    name = []
    for token in text.split():
        if re.match(r"^[a-z]+$", token):
            name.append(token)
        else:
            fields["_".join(name) or "value"] = _value(token)
            name = []
    return fields


def vmbus_trace(output):
    """The vmbus_* trace events in output, in order: [(event, fields)], e.g.
    ("vmbus_recv_message", {"type": 14, "size": 40}),
    ("vmbus_initiate_contact", {"version": "4.0", "target_vp": 0, "mon_pages": (a, b), "int_page": c}),
    ("vmbus_terminate_offers", {})."""
    events = []
    for line in output.split("\n"):
        m = _KNOWN.search(line) or _OTHER.match(line)
        if m:
            events.append((m.group(1), _fields(m.group(2))))
    return events


def _type_name(t):
    return MESSAGE_TYPES.get(t, "type %s" % t)


def _version(text):
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def control_summary(events):
    """The control messages of a vmbus_trace(), as comparable lines in order:

        guest INITIATE_CONTACT 4.1           (what the server handled, with the version asked for)
        host VERSION_RESPONSE refused 4.1    (accepted/refused by QEMU's rule, see QEMU_MAX_VERSION)
        guest REQUESTOFFERS
        host ALLOFFERS_DELIVERED

    Guest messages come from vmbus_process_incoming_message (one per message the server took, so a
    post the guest had to repeat because the queue was full counts once); host messages from
    vmbus_post_msg, counted when their vmbus_msg_cb says delivered: a post that found the slot busy
    (-11) is posted again and counts once. A failed delivery is "host NAME failed STATUS"; a post
    whose end is not in the trace, "host NAME unconfirmed". Channel and GPADL numbers are left out:
    they are the guest's choice and differ between clients."""
    summary = []
    asked = None       # the version of the last INITIATE_CONTACT, for the VERSION_RESPONSE after it
    posted = None      # a host message waiting for its vmbus_msg_cb
    again = None       # a host message that found the slot busy, to be posted again
    pending_guest = None  # a guest INITIATE_CONTACT waiting for its vmbus_initiate_contact
    for event, fields in events:
        if event == "vmbus_process_incoming_message":
            if pending_guest:
                summary.append(pending_guest)
                pending_guest = None
            t = fields.get("type")
            if t == INITIATE_CONTACT:
                pending_guest = "guest INITIATE_CONTACT"  # completed by vmbus_initiate_contact
                asked = None
            else:
                summary.append("guest " + _type_name(t))
        elif event == "vmbus_initiate_contact":
            asked = fields.get("version")
            summary.append("guest INITIATE_CONTACT %s" % asked)
            pending_guest = None
        elif event == "vmbus_post_msg":
            if pending_guest:
                summary.append(pending_guest)
                pending_guest = None
            if posted:
                summary.append(posted + " unconfirmed")
            again = None
            t = fields.get("type")
            posted = "host " + _type_name(t)
            if t == VERSION_RESPONSE and asked is not None:
                ok = (0, 0) < _version(asked) <= QEMU_MAX_VERSION
                posted += " %s %s" % ("accepted" if ok else "refused", asked)
        elif event == "vmbus_msg_cb" and posted:
            status = fields.get("message_status")
            if status == 0:
                summary.append(posted)
            elif status == EAGAIN:
                again = posted
            else:
                summary.append("%s failed %s" % (posted, status))
            posted = None
    if pending_guest:
        summary.append(pending_guest)
    if posted or again:
        summary.append((posted or again) + " unconfirmed")
    return summary


def control_diff(expected, got, expected_name="linux", got_name="this case",
                 what="VMBus control messages QEMU saw"):
    """None when the two control_summary() lists (or any two lists of lines) match, else a message
    with a unified diff of them (expected_name's lines "-", got_name's "+")."""
    if list(expected) == list(got):
        return None
    diff = difflib.unified_diff(list(expected), list(got), expected_name, got_name, lineterm="",
                                n=max(len(expected), len(got)))
    return "%s, %s (-) against %s (+):\n%s" % (what, expected_name, got_name, "\n".join(diff))


# What QEMU saw of Linux's hv_vmbus, from its first message to the unload (see the top comment).
LINUX_CONTROL = [
    "guest INITIATE_CONTACT 4.1",
    "host VERSION_RESPONSE refused 4.1",
    "guest INITIATE_CONTACT 4.0",
    "host VERSION_RESPONSE accepted 4.0",
    "guest REQUESTOFFERS",
    "host ALLOFFERS_DELIVERED",
    "guest UNLOAD",
    "host UNLOAD_RESPONSE",
]


_POST = re.compile(r"^linux-vmbus: post connection (\d+) type (\d+)(?: version (\S+))?: status (0x[0-9a-f]+)$",
                   re.M)


def linux_posts(output):
    """The HvPostMessage calls the Linux guest's hv_vmbus made, in order, from its "linux-vmbus: post"
    lines: [(connection, message type, version asked for or None, hypercall status)]."""
    return [(int(c), int(t), v or None, int(s, 16)) for c, t, v, s in _POST.findall(output)]


def _post_line(post):
    connection, t, version, status = post
    return "connection %d %s%s: status 0x%x" % (connection, _type_name(t), " " + version if version else "", status)


# What hv_vmbus posted: INITIATE_CONTACT for 5.3 to 5.0 on connection 4, each refused by the
# hypervisor with HV_STATUS_INVALID_CONNECTION_ID (0x12); 4.1 and 4.0 on connection 1, REQUESTOFFERS,
# and at rmmod UNLOAD, all taken (0).
LINUX_POSTS = [(4, 14, "5.3", 0x12), (4, 14, "5.2", 0x12), (4, 14, "5.1", 0x12), (4, 14, "5.0", 0x12),
               (1, 14, "4.1", 0), (1, 14, "4.0", 0), (1, 3, None, 0), (1, 16, None, 0)]


def _linux_matches_trace(result):
    """QEMU's trace holds Linux's control messages, the guest's kprobe saw the posts expected, and
    the version QEMU accepted is the one Linux reports."""
    events = vmbus_trace(result.output)
    if not events:
        return "no vmbus_* trace events in the output (-trace 'vmbus_*')"
    summary = control_summary(events)
    why = control_diff(LINUX_CONTROL, summary, "LINUX_CONTROL", "this run")
    if why:
        return why
    why = control_diff([_post_line(p) for p in LINUX_POSTS], [_post_line(p) for p in linux_posts(result.output)],
                       "LINUX_POSTS", "this run", "hv_vmbus's HvPostMessage calls")
    if why:
        return why
    said = re.search(r"^linux-vmbus: version (\S+)$", result.output, re.M)
    accepted = [line.split()[-1] for line in summary if line.startswith("host VERSION_RESPONSE accepted")]
    if not said or accepted[-1:] != [said.group(1)]:
        return "Linux reports version %s, QEMU accepted %s" % (said.group(1) if said else None, accepted)
    return None


# What vmbustest (tests/nested/vmbustest/main.c) does after connecting, as QEMU handles it: GPADLs
# of 1, 26, 27 and 300 pages (one header each, 0 + 0 + 1 + 10 bodies: 26 page numbers fit in a
# header, 28 in a body), their teardowns, a malformed header QEMU drops without an answer, then
# UNLOAD, a second connection exactly like the first, and the UNLOAD of exit().
_GPADL_PAGES = (1, 26, 27, 300)
HVRT_GPADL_BODIES = sum(max(0, -(-(n - 26) // 28)) for n in _GPADL_PAGES)


def _decoded_capture(output):
    """tools/vmbus-capture.py's text for the capture dumped in output (QEMU's trace lines cut out first:
    they can land inside a base64 line), or raises RuntimeError with the decoder's complaint."""
    import subprocess
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from run import TRACE_LINE  # noqa: E402
    clean = TRACE_LINE.sub("", output)
    tool = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "vmbus-capture.py")
    p = subprocess.run([sys.executable, tool, "-"], input=clean, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("vmbus-capture.py failed: " + (p.stderr.strip() or p.stdout.strip()))
    return p.stdout


# What the decoded capture of vmbustest must hold, in this order (each a regex on one record's line).
CAPTURE_ORDER = [
    r"g->h .*control INITIATE_CONTACT \(14\) version 5\.3",
    r"g->h .*control INITIATE_CONTACT \(14\) version 4\.1",
    r"h->g .*control VERSION_RESPONSE \(15\) version_supported 0",
    r"g->h .*control INITIATE_CONTACT \(14\) version 4\.0",
    r"h->g .*control VERSION_RESPONSE \(15\) version_supported 1",
    r"g->h .*control REQUESTOFFERS \(3\)",
    r"h->g .*control ALLOFFERS_DELIVERED \(4\)",
    r"g->h .*control GPADL_HEADER \(8\)",
    r"g->h .*control GPADL_BODY \(9\)",
    r"h->g .*control GPADL_CREATED \(10\)",
    r"g->h .*control GPADL_TEARDOWN \(11\)",
    r"h->g .*control GPADL_TORNDOWN \(12\)",
    r"g->h .*control UNLOAD \(16\)",
    r"h->g .*control UNLOAD_RESPONSE \(17\)",
]


def _capture_matches(output):
    """None if the decoded capture shows the exchange in order, else why not."""
    try:
        text = _decoded_capture(output)
    except RuntimeError as e:
        return str(e)
    lines = text.splitlines()
    at = 0
    for pattern in CAPTURE_ORDER:
        while at < len(lines) and not re.search(pattern, lines[at]):
            at += 1
        if at == len(lines):
            return "the decoded capture lacks /%s/ (in order); it has %d lines" % (pattern, len(lines))
        at += 1
    if not re.search(r"^\d+ records, 0 dropped", text, re.M):
        return "the capture dropped records: " + text.splitlines()[-1]
    return None


def _hvrt_matches_linux(result):
    """vmbustest's control messages against Linux's: the connection the same as Linux's, twice."""
    got = control_summary(vmbus_trace(result.output))
    connect = LINUX_CONTROL[:-2]   # up to ALLOFFERS_DELIVERED
    unload = LINUX_CONTROL[-2:]
    if got[:len(connect)] != connect:
        return control_diff(connect, got[:len(connect)], got_name="vmbustest (first connection)")
    gpadl = got[len(connect):]
    counts = {name: sum(1 for line in gpadl if line == name) for name in
              ("guest GPADL_HEADER", "guest GPADL_BODY", "host GPADL_CREATED", "guest GPADL_TEARDOWN",
               "host GPADL_TORNDOWN")}
    want = {"guest GPADL_HEADER": len(_GPADL_PAGES) + 1, "guest GPADL_BODY": HVRT_GPADL_BODIES,
            "host GPADL_CREATED": len(_GPADL_PAGES), "guest GPADL_TEARDOWN": len(_GPADL_PAGES),
            "host GPADL_TORNDOWN": len(_GPADL_PAGES)}
    if counts != want:
        return "GPADL messages in QEMU's trace: %s, expected %s" % (counts, want)
    tail = unload + connect + unload
    if got[-len(tail):] != tail:
        return control_diff(tail, got[-len(tail):], expected_name="linux (unload, connect, unload)",
                            got_name="vmbustest (end)")
    return _capture_matches(result.output)


def make_cases(case):
    """The cases, made with cases.py's case()."""
    return [
        # Linux's hv_vmbus as the reference client: Hyper-V detected, VMBus 4.0 negotiated, no
        # devices (QEMU 7.2 has none), unloaded (UNLOAD), then the guest powers off (exit 0). The
        # inner run takes 12 to 15 s, most of it the kernel's boot (twice that on a busy machine); the
        # outer host's kvm may log an unhandled WRMSR of the guest's (0xc0010007, a performance
        # counter) into the output, which is harmless.
        case("linux-hv_vmbus/linux", None,
             [r"^linux-vmbus: dmesg: \[ *[\d.]+\] Hypervisor detected: Microsoft Hyper-V$",
              r"^linux-vmbus: dmesg: \[ *[\d.]+\] hv_vmbus: Vmbus version:4\.0$",
              r"^linux-vmbus: version 4\.0$", r"^linux-vmbus: devices: none$",
              r"^linux-vmbus: rmmod hv_vmbus: ok$", r"^linux-vmbus: done in "],
             status=0, kind="linux", extra=["-trace", "vmbus_*"], timeout=90,
             forbid=[r"^linux-vmbus: error", r"Kernel panic", r"unknown message type",
                     r"message delivery fatal failure"],
             check=_linux_matches_trace),
        # hvrt's VMBus core on the same host, compared with Linux above through LINUX_CONTROL (which
        # that case checks against Linux's own trace): the same fall-back to 4.0, then GPADLs that
        # QEMU's trace must show in full, a dropped one, and UNLOAD both on request and at exit.
        case("vmbustest/gen1-elf", "build/tests/images/vmbustest/vmbustest.elf",
             [r"^PASS connect: error 0, version 4\.0", r"^PASS offers: ", r"^PASS gpadl: ",
              r"^PASS gpadl-dropped: ", r"^PASS reconnect: ", r"^PASS capture: ", r"^vmbustest: 6 passed, 0 failed$",
              r"^vmbus-connect-time: "],
             extra=["-trace", "vmbus_*"], forbid=[r"^FAIL ", r"error:", r"message delivery fatal failure"],
             check=_hvrt_matches_linux),
        # examples/lsvmbus: QEMU 7.2 offers nothing, so the list is empty; UNLOAD at exit.
        case("lsvmbus/gen1-elf", "build/examples/lsvmbus/lsvmbus.elf",
             [r"^VMBus version 4\.0$", r"^0 channels offered$"], args="-v",
             forbid=[r"error:", r"warning:"]),
        # The same in the rebuilt QEMU with its hvrt-test device (tests/qemu/): three channels of the
        # test class, the primary (relid 1, connection 17) and sub-channels 1 and 2 (relids 2, 3).
        case("lsvmbus-hvrt-test/gen1-elf", "build/examples/lsvmbus/lsvmbus.elf",
             [r"^VMBus version 4\.0$", r"^3 channels offered$",
              r"^VMBUS ID +1: Class_ID = \{6876d3a1-2c5e-4f0b-9d47-68767274e001\} - ",
              r"^\tConnection ID = 17, dedicated interrupt: yes$",
              r"^VMBUS ID +2: Class_ID = \{6876d3a1-2c5e-4f0b-9d47-68767274e001\}",
              r"^\tSub-channel 1 of relid 1$",
              r"^VMBUS ID +3: Class_ID = \{6876d3a1-2c5e-4f0b-9d47-68767274e001\}",
              r"^\tSub-channel 2 of relid 1$"],
             args="-v", qemu="hvrt", extra=["-device", "hvrt-test"], forbid=[r"error:", r"warning:"]),
    ]
