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

NEEDS_KVM = re.compile(r"/dev/kvm")


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


def write_result(out, cases):
    """A JUnit file of (classname, name, failure-or-None)."""
    body = "".join(
        f'<testcase classname="{escape(c)}" name="{escape(n)}">'
        + (f'<failure message="{escape(f[:200], {chr(34): "&quot;"})}">{escape(f)}</failure>'
           if f else "") + "</testcase>"
        for c, n, f in cases)
    pathlib.Path(out).write_text(f'<testsuites><testsuite name="l1">{body}</testsuite></testsuites>\n')


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[2])
    build, host_xml, out = pathlib.Path(sys.argv[1]).resolve(), sys.argv[2], sys.argv[3]
    if kvm_usable():
        print("kvm-in-l1: this host's /dev/kvm works: the guest tests ran on it")
        write_result(out, [])
        return 0
    skipped = []
    for tc in ET.parse(host_xml).getroot().iter("testcase"):
        s = tc.find("skipped")
        if s is not None and NEEDS_KVM.search((s.get("message") or "") + (s.text or "")):
            nid = nodeid(tc.get("classname", ""), tc.get("name", ""))
            if nid:
                skipped.append(nid)
    if not skipped:
        print("kvm-in-l1: no test skipped for want of /dev/kvm")
        write_result(out, [])
        return 0
    kind, why = launch.host_kind()
    if kind != "tcg":
        write_result(out, [("kvm_in_l1", "l1_host", f"no L1 host for the guest tests: {why}")])
        print(f"kvm-in-l1: cannot run the guest tests anywhere: {why}")
        return 1
    print(f"kvm-in-l1: {len(skipped)} tests skipped here for want of /dev/kvm; "
          "running them in the TCG L1 host", flush=True)
    images = launch.build_images(ROOT / "images" / "lane", build / "vessel")
    # L1 reads the script through the share: the build tree is there.
    script = build / "kvm-in-l1.sh"
    quoted = " ".join("'" + n.replace("'", "'\\''") + "'" for n in skipped)
    env = " ".join(f"{k}='{v}'" for k, v in os.environ.items()
                   if k.startswith(("VESSEL_", "FUZZ_")) and "'" not in v)
    script.write_text(
        f"cd '{ROOT}'\n"
        f"env {env} VESSEL_BUILD='{build}' /usr/bin/python3 -m pytest -p no:cacheprovider -q -rs "
        f"--junitxml=/tmp/l1.xml {quoted} 2>&1 | sed 's/^/L1: /'\n"
        "echo L1-XML-BEGIN\ncat /tmp/l1.xml\necho\necho L1-XML-END\n")
    with tempfile.TemporaryDirectory() as d:
        text = launch.run_in_l1(images, script, d, timeout=2400)
    for line in text.splitlines():
        if line.startswith("L1: ") or line.startswith("LANE-L1"):
            print(line)
    m = re.search(r"L1-XML-BEGIN\n(.*?)\nL1-XML-END", text, re.S)
    if not m:
        write_result(out, [("kvm_in_l1", "l1_host", "the L1 host gave no results:\n" + text[-3000:])])
        print("kvm-in-l1: the L1 host gave no results")
        return 1
    pathlib.Path(out).write_text(m.group(1).strip() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
