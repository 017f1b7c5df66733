#!/usr/bin/env python3
"""hvrt's test runner: cmocka unit tests, QEMU boot tests and nested-host tests.

    python3 tests/run.py --unit build/tests/unit/test_* --boot --nested [--filter TEXT]

Counts every cmocka test case, every boot case and every nested case, prints
each failure with the output that explains it, and ends with the line
"N passed, N failed". The nested cases (tests/nested/cases.py) all run in one
boot of the nested host (tests/nested/nested.py), after the rebuilt QEMU of their
qemu="hvrt" cases is built (tests/qemu/build-qemu.sh, cached in --qemu-dir).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "boot"))

import cases  # noqa: E402
import qemu  # noqa: E402
import screen  # noqa: E402


def run_unit(binary):
    """Returns (passed, failed, output) for one cmocka binary."""
    try:
        p = subprocess.run([binary], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        out = p.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        return 0, 1, (e.stdout or b"").decode("utf-8", "replace") + "\n(timed out)"
    except OSError as e:
        return 0, 1, "cannot run %s: %s" % (binary, e)
    passed = re.search(r"\[  PASSED  \] (\d+) test", out)
    failed = re.search(r"\[  FAILED  \] (\d+) test", out)
    n_pass = int(passed.group(1)) if passed else 0
    n_fail = int(failed.group(1)) if failed else 0
    if p.returncode != 0 and n_fail == 0:
        n_fail = 1  # crashed or a sanitizer stopped it before cmocka's summary
    return n_pass, n_fail, out


def run_boot(c):
    """Returns None when the case passed, else the reason."""
    try:
        return _run_boot(c)
    except Exception as e:  # a broken case is a failed case, and the summary line still comes
        return "the case could not run: %s: %s" % (type(e).__name__, e)


def _run_boot(c):
    dump = None
    if c["screen"]:
        fd, dump = tempfile.mkstemp(suffix=".ppm", prefix="hvrt-screen-")
        os.close(fd)
    try:
        r = qemu.boot(c["kind"], c["image"], c["args"], debug_exit=c["debug_exit"], timeout=120,
                      screendump=dump, machine=c["machine"], stop_on=c["stop_on"], memory=c["memory"])
        problems = []
        for row, text in c["screen"]:
            if os.path.getsize(dump) == 0:
                problems.append("no screendump was taken")
                break
            why = screen.check_text(dump, row, text)
            if why:
                problems.append("screen: " + why)
    finally:
        if dump:
            os.unlink(dump)
    if r.timed_out:
        problems.append("timed out")
    return judge(c, r, r.output, r.exit_code, problems, "QEMU exit", "serial")


TRACE_LINE = re.compile(r"(?:\d+@\d+\.\d+:)?vmbus_[a-z0-9_]+(?: [^\n]*)?\n")


def judge(c, result, output, status, problems, status_label, output_label):
    """Adds what the case's expect, forbid, status and check find to problems; None if there are none,
    else the reasons and the last 40 lines of output. check sees result only when all else passed."""
    # A QEMU trace line (-trace, on the inner QEMU's stderr) can land inside a line of the guest's:
    # the patterns are matched with each such line cut out; check still sees the output as it was.
    if any(a == "-trace" for a in c.get("extra", ())):
        output = TRACE_LINE.sub("", output)
    for pattern in c["expect"]:
        if not re.search(pattern, output, re.M):
            problems.append("missing /%s/" % pattern)
    for pattern in c["forbid"]:
        if re.search(pattern, output, re.M):
            problems.append("unexpected /%s/" % pattern)
    if status != c["status"]:
        problems.append("%s %s, expected %s" % (status_label, status, c["status"]))
    if c["check"] and not problems:
        why = c["check"](result)
        if why:
            problems.append(why)
    if not problems:
        return None
    tail = "\n".join(output.splitlines()[-40:])
    return "; ".join(problems) + "\n----- %s (last 40 lines) -----\n" % output_label + tail + "\n-----"


def nested_attempts():
    import nested  # noqa: E402  (on the path once run_nested ran)
    return nested.ATTEMPTS


def run_nested(selected, rig_dir, qemu_dir):
    """Runs the nested cases in one boot of the nested host; returns [(case, None or why)]. The rebuilt
    QEMU (qemu="hvrt" cases) is built into qemu_dir first, whether or not a selected case needs it."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "nested"))
    import nested  # noqa: E402

    try:
        tests = [nested.NestedTest(c["name"], c["image"], c["kind"], c["args"], cpu=c["cpu"], vmbus=c["vmbus"],
                                   extra=c["extra"], memory=c["memory"], timeout=c["timeout"], retry=c["retry"],
                                   machine=c["machine"], qemu=c.get("qemu", "system"))
                 for c in selected]
        results = nested.run_tests(tests, rig_dir, qemu_dir=qemu_dir)
    except Exception as e:  # the rig could not be built or booted: every case fails, the summary still comes
        return [(c, "the nested host could not run: %s: %s" % (type(e).__name__, e)) for c in selected]
    if nested.qemu_build_seconds is not None and nested.qemu_build_seconds >= 10:
        print("      nested host: building the hvrt QEMU took %.0f s (tests/qemu/build-qemu.sh %s)" % (
            nested.qemu_build_seconds, qemu_dir))
    for b in nested.boots:
        print("      nested host: outer boot %.1f s (host up after %s s), outer QEMU exit %s" % (
            b.elapsed, "%.1f" % b.host_up if b.host_up is not None else "-", b.exit_code))
    return [(c, _judge_nested(c, results[c["name"]])) for c in selected]


# QEMU 7.2's TCG abort under OVMF in the nested host (docs/testing.md, test-hosts.md).
KNOWN_OUTER_ABORT = "tcg_handle_interrupt: assertion failed"
SKIPPED = object()


def _never_reached_hvrt(c, r):
    """A retried case whose every boot died of the known outer abort before the image printed a line of
    hvrt's: the host fault kept the test from running at all, so it is reported skipped, not passed."""
    return (c["retry"] and r.status is None and not r.timed_out and KNOWN_OUTER_ABORT in (r.reason or "")
            and "hvrt" not in r.output)


def _judge_nested(c, r):
    if _never_reached_hvrt(c, r):
        return SKIPPED
    problems = []
    if r.reason:
        problems.append(r.reason)
    if r.timed_out:
        problems.append("timed out after %d s" % c["timeout"])
    return judge(c, r, r.output, r.status, problems, "inner QEMU exit", "inner QEMU output")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unit", nargs="*", default=[])
    ap.add_argument("--boot", action="store_true")
    ap.add_argument("--nested", action="store_true", help="the nested-host cases (tests/nested/cases.py)")
    ap.add_argument("--nested-dir", default="build/nested", help="where the nested host is built and cached")
    ap.add_argument("--qemu-dir", default="build/qemu",
                    help="where the rebuilt QEMU of the qemu=\"hvrt\" nested cases is built and cached")
    ap.add_argument("--filter", default="")
    ap.add_argument("--check", action="append", default=[], metavar="NAME=COMMAND",
                    help="a shell command that must succeed, counted as one test")
    a = ap.parse_args()
    passed = failed = skipped = 0

    for check in a.check:
        name, _, command = check.partition("=")
        p = subprocess.run(command, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode == 0:
            passed += 1
            print("ok    check %s" % name)
        else:
            failed += 1
            print("FAIL  check %s:\n%s" % (name, p.stdout.decode("utf-8", "replace")[-4000:]))
        sys.stdout.flush()

    for binary in a.unit:
        if a.filter and a.filter not in binary:
            continue
        n_pass, n_fail, out = run_unit(binary)
        passed += n_pass
        failed += n_fail
        name = os.path.basename(binary)
        print("%-5s unit %s: %d passed, %d failed" % ("ok" if n_fail == 0 else "FAIL", name, n_pass, n_fail))
        if n_fail:
            print(out)
        sys.stdout.flush()

    if a.boot:
        for c in cases.CASES:
            if a.filter and a.filter not in c["name"]:
                continue
            why = run_boot(c)
            if why is None:
                passed += 1
                print("ok    boot %s" % c["name"])
            else:
                failed += 1
                print("FAIL  boot %s: %s" % (c["name"], why))
            sys.stdout.flush()

    if a.nested:
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            "nested_cases", os.path.join(os.path.dirname(os.path.abspath(__file__)), "nested", "cases.py"))
        nested_cases = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(nested_cases)
        selected = [c for c in nested_cases.CASES if not a.filter or a.filter in c["name"]]
        if selected:
            for c, why in run_nested(selected, a.nested_dir, a.qemu_dir):
                if why is None:
                    passed += 1
                    print("ok    nested %s" % c["name"])
                elif why is SKIPPED:
                    skipped += 1
                    print("SKIP  nested %s: every boot (%d) died of QEMU 7.2's known outer abort inside OVMF, "
                          "before the image started (docs/testing.md)" % (c["name"], nested_attempts()))
                else:
                    failed += 1
                    print("FAIL  nested %s: %s" % (c["name"], why))
            sys.stdout.flush()

    if skipped:
        print("%d skipped: a known host fault kept them from running" % skipped)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
