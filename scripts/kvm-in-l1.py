#!/usr/bin/env python3
"""Give vessel's guest tests a KVM on hosts that have none.

usage: scripts/kvm-in-l1.py BUILD HOST_XML OUT_XML

`make check` runs the integration tests on this host first (HOST_XML).
Where /dev/kvm is missing or unusable, every test that needs it skipped
there.  This runs exactly those tests again inside the Linux lane's L1
host (Debian's kernel under QEMU TCG with an emulated AMD-V, whose
kvm-amd.ko gives a /dev/kvm), in a chroot of this host's root shared
read-only over virtiofs, so the same python3, pytest, build and tools are
used (tests/linux/launch.py run_in_l1).  Their results go to OUT_XML, and
scripts/test-summary.py counts them in place of the host's skips.  On a
host whose /dev/kvm works, OUT_XML stays empty: the tests ran on it.
"""
import os
import pathlib
import re
import sys
import tempfile
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "linux"))
import launch  # noqa: E402

# Tests skip with "/dev/kvm" in the reason when the host has no usable
# KVM, and with "runs in L1" when this host's kernel lacks what they need
# (bridge VLAN filtering, vhost-net, openvswitch) and Debian's kernel in
# L1 has it.  The second kind go to L1 even where KVM works here.
NEEDS_KVM = re.compile(r"/dev/kvm")
NEEDS_L1 = re.compile(r"runs in L1")


def kvm_usable():
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
        return True
    except OSError:
        return False


def nodeid(classname, name):
    """JUnit classname + name -> pytest node id (module path, classes)."""
    parts = classname.split(".")
    for i in range(len(parts), 0, -1):
        path = "/".join(parts[:i]) + ".py"
        if (ROOT / path).is_file():
            return "::".join([path] + parts[i:] + [name])
    return None


def write_result(out, cases, skips=()):
    """A JUnit file of (classname, name, failure-or-None) cases and
    (classname, name, _, skip reason) skips."""
    q = {chr(34): "&quot;"}
    body = "".join(
        f'<testcase classname="{escape(c, q)}" name="{escape(n, q)}">'
        + (f'<failure message="{escape(f[:200], q)}">{escape(f)}</failure>' if f else "")
        + "</testcase>"
        for c, n, f in cases)
    body += "".join(
        f'<testcase classname="{escape(c, q)}" name="{escape(n, q)}">'
        f'<skipped message="{escape(why, q)}"/></testcase>'
        for c, n, _, why in skips)
    pathlib.Path(out).write_text(f'<testsuites><testsuite name="l1">{body}</testsuite></testsuites>\n')


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[2])
    build, host_xml, out = pathlib.Path(sys.argv[1]).resolve(), sys.argv[2], sys.argv[3]
    want = NEEDS_L1 if kvm_usable() else re.compile(f"{NEEDS_KVM.pattern}|{NEEDS_L1.pattern}")
    skipped = []
    for tc in ET.parse(host_xml).getroot().iter("testcase"):
        s = tc.find("skipped")
        if s is not None and want.search((s.get("message") or "") + (s.text or "")):
            nid = nodeid(tc.get("classname", ""), tc.get("name", ""))
            if nid:
                skipped.append(nid)
    if not skipped:
        print("kvm-in-l1: no test skipped for want of /dev/kvm or of the L1 kernel")
        write_result(out, [])
        return 0
    kind, why = launch.host_kind()
    if kind != "tcg":
        write_result(out, [("kvm_in_l1", "l1_host", f"no L1 host for the guest tests: {why}")])
        print(f"kvm-in-l1: cannot run the guest tests anywhere: {why}")
        return 1
    print(f"kvm-in-l1: {len(skipped)} tests skipped here for want of /dev/kvm or of the L1 kernel; "
          "running them in the TCG L1 host", flush=True)
    images = launch.build_images(ROOT / "images" / "lane", build / "vessel")
    results = {}  # node id -> (classname, name, failure text or None, skip text or None)
    hung_in = []
    todo = list(skipped)
    # Nested KVM under TCG sometimes stops making progress (L1's console
    # goes quiet, both vCPUs spin); then the tests not yet finished run
    # once more in a fresh L1.
    for attempt in (1, 2):
        text = run_attempt(build, images, todo, attempt)
        got = finished(text)
        results.update(got)
        todo = [n for n in todo if n not in results]
        if not todo:
            break
        hung_in.append(todo[0])
        print(f"kvm-in-l1: the L1 host stopped responding during {todo[0]} "
              f"(attempt {attempt}); {len(todo)} tests not run", flush=True)
    cases = [v[:3] for v in results.values() if v[3] is None]
    skips = [v for v in results.values() if v[3] is not None]
    for n in todo:
        c, name = junit_names(n)
        if hung_in.count(n) == 2:
            cases.append((c, name, "the L1 host stopped responding during this test, twice "
                          "(build/kvm-in-l1.log)"))
        else:
            skips.append((c, name, None, "not run: the L1 host stopped responding "
                          f"during {hung_in[-1]} (build/kvm-in-l1.log)"))
    write_result(out, cases, skips)
    print(f"kvm-in-l1: {sum(f is None for _, _, f in cases)} passed, "
          f"{sum(f is not None for _, _, f in cases)} failed, {len(skips)} skipped in L1")
    return 0


def junit_names(nid):
    """pytest node id -> JUnit (classname, name), as pytest writes them."""
    parts = nid.split("::")
    return ".".join([parts[0][:-3].replace("/", ".")] + parts[1:-1]), parts[-1]


RESULT = re.compile(r"^L1: (tests/\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)", re.M)


def finished(text):
    """Results of the tests that finished, from pytest -v lines and the JUnit
    XML when L1 got as far as printing it."""
    res = {}
    m = re.search(r"L1-XML-BEGIN\n(.*?)\nL1-XML-END", text, re.S)
    if m:
        for tc in ET.fromstring(m.group(1).strip()).iter("testcase"):
            c, n = tc.get("classname", ""), tc.get("name", "")
            f = tc.find("failure") if tc.find("failure") is not None else tc.find("error")
            sk = tc.find("skipped")
            nid = nodeid(c, n)
            if nid:
                res[nid] = (c, n, None if f is None else (f.get("message") or "") + "\n" + (f.text or ""),
                            None if sk is None else sk.get("message") or "skipped")
        return res
    for nid, word in RESULT.findall(text):
        c, n = junit_names(nid)
        if word in ("PASSED", "XFAIL", "XPASS"):
            res[nid] = (c, n, None, None)
        elif word == "SKIPPED":
            res[nid] = (c, n, None, "skipped in L1 (build/kvm-in-l1.log)")
        elif nid not in res:
            res[nid] = (c, n, "failed in L1 (build/kvm-in-l1.log)", None)
    return res


def run_attempt(build, images, todo, attempt):
    """One L1 boot running these tests; returns its console text."""
    # L1 reads the script through the share: the build tree is there.
    script = build / "kvm-in-l1.sh"
    quoted = " ".join("'" + n.replace("'", "'\\''") + "'" for n in todo)
    env = " ".join(f"{k}='{v}'" for k, v in os.environ.items()
                   if k.startswith(("VESSEL_", "FUZZ_")) and "'" not in v)
    script.write_text(
        f"cd '{ROOT}'\n"
        # -v, unbuffered: the console shows each test as it ends (and a
        # stalled L1 is seen as silence); --timeout (pytest-timeout): a
        # hung test fails with its stacks instead of holding the run.
        f"env {env} VESSEL_BUILD='{build}' /usr/bin/python3 -u -m pytest -p no:cacheprovider -v -rs "
        f"--timeout=300 --junitxml=/tmp/l1.xml {quoted} 2>&1 | sed -u 's/^/L1: /'\n"
        "echo L1-XML-BEGIN\ncat /tmp/l1.xml\necho\necho L1-XML-END\n")
    log = build / ("kvm-in-l1.log" if attempt == 1 else f"kvm-in-l1.{attempt}.log")
    # One L1 vCPU: with two, nested KVM under MTTCG stalled in about half
    # of the full runs (tests starting many or SMP guests); with one, none
    # did.  The pinning tests then skip ("needs 2 host CPUs"); the Linux
    # lane checks vcpupin on its 2-vCPU L1.  VESSEL_L1_CPUS overrides.
    with tempfile.TemporaryDirectory() as d:
        text = launch.run_in_l1(images, script, d, timeout=1800, log=log, idle_timeout=360,
                                cpus=int(os.environ.get("VESSEL_L1_CPUS", "1")))
    for line in text.splitlines():
        if line.startswith(("L1: tests/", "L1: FAILED", "L1: =", "LANE-L1")) and (
                "PASSED" not in line):
            print(line)
    return text


if __name__ == "__main__":
    sys.exit(main())
