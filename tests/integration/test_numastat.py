# `vessel numastat` (issue 13, docs/memory.md "NUMA verification"): where
# each guest NUMA node's memory really is on the host, measured from
# outside the VMM, against where its vCPUs may run.
#
# The placements are real only on a host with two NUMA nodes: the Linux
# lane's L1 host has two (tests/linux/launch.py L1_NODES, one CPU and
# half the RAM each).  On this machine the guests skip and
# scripts/kvm-in-l1.py runs them there.  The guests are Linux with the
# numa check of tests/linux/guest.sh; prealloc makes all of their RAM
# present before they boot, so every page is placed by the binding.
import json
import re
import subprocess
import sys
import time

import pytest

from conftest import BUILD, ROOT, kvm_usable

sys.path.insert(0, str(ROOT / "tests" / "linux"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import launch  # noqa: E402
from mgmt_helpers import Manager  # noqa: E402

MiB = 1 << 20
CMDLINE = "console=ttyS0 reboot=k panic=-1 quiet lane.check=numa"


def host_nodes():
    try:
        with open("/sys/devices/system/node/online") as f:
            spec = f.read().strip()
    except OSError:
        return 1
    return int(re.split(r"[-,]", spec)[-1]) + 1


@pytest.fixture
def lane(tmp_path):
    why = kvm_usable()
    if why:
        pytest.skip(why)
    if host_nodes() < 2:
        # The L1 host has two nodes; a host with one cannot show a split.
        pytest.skip("needs two host NUMA nodes, and this host has one; runs in L1")
    images = launch.build_images(ROOT / "images" / "lane", BUILD / "vessel")
    state = tmp_path / "st"
    state.mkdir()
    m = Manager(BUILD / "vessel", state, images / "vmlinuz")
    m.initrd = images / "l2.img"
    m.names = []
    yield m
    for name in m.names:
        m.run("destroy", name, timeout=30)
    m.cleanup()


def start(m, tmp_path, name, cpus, numa, memory="256M"):
    console = tmp_path / f"{name}.console"
    m.define(name, {"cpus": cpus, "memory": {"size": memory, "prealloc": True},
                    "numa": numa, "initrd": str(m.initrd), "cmdline": CMDLINE,
                    "console": {"mode": "file", "path": str(console)}})
    m.names.append(name)
    m.run("start", name, check=True, timeout=120)
    return console


def wait_ready(console, timeout=300):
    end = time.time() + timeout
    text = ""
    while time.time() < end:
        try:
            text = console.read_text(errors="replace").replace("\r", "")
        except OSError:
            text = ""
        if "G-NUMA-READY" in text:
            return re.search(r"^G numa .*$", text, re.M).group(0)
        time.sleep(0.5)
    raise AssertionError(f"the guest never got ready:\n{text[-3000:]}")


def numastat(m, *args):
    r = m.run("numastat", *args, "--json", timeout=120)
    assert r.returncode in (0, 3), (r.returncode, r.stdout, r.stderr)
    return r.returncode, json.loads(r.stdout)


def on(node, host):
    return node["on_host_nodes"].get(str(host), 0)


def test_numastat_sees_aligned_split_and_remote_placements(lane, tmp_path):
    """Three one-vCPU guests of 256 MiB, the vCPU pinned to host CPU 0
    (host node 0): bound strictly to node 0 (aligned), interleaved over
    both nodes (split: about half on each), bound strictly to node 1
    (remote: the vCPU runs away from its memory).  The figures are the
    kernel's, read from outside; exit status 3 flags the bad ones, and
    --all audits them together."""
    m = lane
    pin = {"count": 1, "pinning": {"0": "0"}}
    consoles = [start(m, tmp_path, "strict0", pin, {"mode": "strict", "nodeset": "0"}),
                start(m, tmp_path, "inter", pin, {"mode": "interleave", "nodeset": "0-1"}),
                start(m, tmp_path, "strict1", pin, {"mode": "strict", "nodeset": "1"})]
    for c in consoles:
        wait_ready(c)

    rc, s = numastat(m, "strict0")
    assert rc == 0 and s["verdict"] == "aligned", s
    (n,) = s["nodes"]
    assert n["verdict"] == "aligned" and n["cpu_nodes"] == "0", n
    assert on(n, 0) >= 250 * MiB and on(n, 1) == 0, n
    assert n["vcpus"][0]["allowed_nodes"] == "0" and n["vcpus"][0]["last_node"] == 0, n

    rc, s = numastat(m, "inter")
    (n,) = s["nodes"]
    assert rc == 3 and n["verdict"] == "split", s
    assert 100 * MiB < on(n, 0) < 156 * MiB and 100 * MiB < on(n, 1) < 156 * MiB, n

    rc, s = numastat(m, "strict1")
    (n,) = s["nodes"]
    assert rc == 3 and n["verdict"] == "remote", s
    assert on(n, 1) >= 250 * MiB and on(n, 0) == 0, n

    # The audit: every running VM, the worst status.
    rc, vms = numastat(m, "--all")
    assert rc == 3, vms
    assert {v["name"]: v["verdict"] for v in vms} == {
        "strict0": "aligned", "inter": "misaligned", "strict1": "misaligned"}, vms
    r = m.run("numastat", "--all", timeout=120)
    assert r.returncode == 3, r.stderr
    rows = {tuple(line.split()[:2]): line.split()[-1] for line in r.stdout.splitlines()[1:]}
    assert rows == {("strict0", "0"): "aligned", ("inter", "0"): "split",
                    ("strict1", "0"): "remote"}, r.stdout
    assert r.stdout.split("\n")[0].split()[4:6] == ["HOST0", "HOST1"], r.stdout


def test_numastat_judges_each_guest_node(lane, tmp_path):
    """A guest with two NUMA nodes of a vCPU and 128 MiB each, both vCPUs
    pinned to host CPU 0: guest node 0 bound to host node 0 is aligned,
    guest node 1 bound to host node 1 is remote.  The guest sees both of
    its nodes; each node's pages are where its own binding put them."""
    m = lane
    topo = {"mode": "strict", "nodes": [
        {"cpus": "0", "memory": "128M", "host_nodes": "0"},
        {"cpus": "1", "memory": "128M", "host_nodes": "1"}]}
    c = start(m, tmp_path, "topo", {"count": 2, "pinning": {"0": "0", "1": "0"}}, topo)
    seen = wait_ready(c)
    assert "online=0-1" in seen and "node0_cpus=0 " in seen and "node1_cpus=1" in seen, seen

    rc, s = numastat(m, "topo")
    assert rc == 3 and s["verdict"] == "misaligned", s
    n0, n1 = s["nodes"]
    assert (n0["verdict"], n1["verdict"]) == ("aligned", "remote"), s
    assert on(n0, 0) >= 120 * MiB and on(n0, 1) == 0, n0
    assert on(n1, 1) >= 120 * MiB and on(n1, 0) == 0, n1
    assert [v["id"] for v in n0["vcpus"]] == [0] and [v["id"] for v in n1["vcpus"]] == [1], s
    assert n0["host_nodes"] == "0" and n1["host_nodes"] == "1", s
    assert n1["cpu_nodes"] == "0" and n1["vcpus"][0]["last_cpu"] == 0, n1


def test_numastat_mistakes_are_one_line(tmp_path):
    """Usage (exit 2), an unknown VM and one that is not running (exit 1): one line each."""
    state = tmp_path / "st"
    state.mkdir()
    m = Manager(BUILD / "vessel", state, "/nonexistent")
    m.define("idle")
    for args, msg, want in [(["numastat"], "usage: vessel numastat NAME|--all", 2),
                            (["numastat", "a", "b"], "usage:", 2),
                            (["numastat", "a", "--all"], "usage:", 2),
                            (["numastat", "--bogus"], "usage:", 2),
                            (["numastat", "nope"], "VM 'nope' is not defined", 1),
                            (["numastat", "idle"], "VM 'idle' is not running", 1)]:
        r = m.run(*args)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == want and len(lines) == 1 and msg in lines[0], (args, r.stderr)
    r = m.run("numastat", "--all")
    assert r.returncode == 0 and r.stdout == "no running VMs\n", r.stdout
    r = m.run("numastat", "--all", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == [], r.stdout
    r = subprocess.run([BUILD / "vessel", "numastat", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "aligned" in r.stdout, r.stdout
