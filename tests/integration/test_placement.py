# CPU and memory placement, checked from the host and from the guest:
# vCPU pinning (sched_getaffinity on the vCPU threads), emulatorpin,
# the dedicated policy, numatune (numa_maps), the guest's SRAT/SLIT, huge
# pages and THP (smaps), KSM merging (/proc/PID/ksm_merging_pages).
import contextlib
import json
import os
import re
import time

import pytest

from mgmt_helpers import api, mgr, wait_for  # noqa: F401  (mgr is a fixture)


def vcpu_tids(m, name):
    st, _, vcpus = api(m.sock(name), "GET", "/vm/vcpus")
    assert st == 200
    return [v["tid"] for v in vcpus]


def host_cpus():
    return sorted(os.sched_getaffinity(0))


def need_cpus(n):
    if len(host_cpus()) < n:
        pytest.skip(f"needs {n} host CPUs")


@contextlib.contextmanager
def sysfs_values(values):
    """Set sysfs/procfs knobs for the test and put the old values back."""
    old = {}
    try:
        for path, v in values.items():
            with open(path) as f:
                old[path] = f.read().strip()
            with open(path, "w") as f:
                f.write(str(v))
        yield
    except OSError as e:
        pytest.skip(f"cannot set {e.filename}: {e.strerror}")
    finally:
        for path, v in old.items():
            with contextlib.suppress(OSError), open(path, "w") as f:
                f.write(v)


def smaps_guest_ram(pid, min_size):
    """smaps entries (dicts) of mappings at least min_size bytes long."""
    out, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                a, b = (int(x, 16) for x in line.split()[0].split("-"))
                cur = {"size": b - a, "line": line.strip()}
                if cur["size"] >= min_size:
                    out.append(cur)
            elif cur is not None and ":" in line:
                k, v = line.split(":", 1)
                cur[k.strip()] = v.strip()
    return out


def kb(v):
    return int(v.split()[0]) if v else 0


def test_pinning_from_definition_and_vcpupin(mgr):
    need_cpus(2)
    mgr.define("p", cpus={"count": 2, "pinning": {"0": "1", "1": "0"}})
    mgr.run("start", "p", check=True)
    t0, t1 = vcpu_tids(mgr, "p")
    assert os.sched_getaffinity(t0) == {1} and os.sched_getaffinity(t1) == {0}

    # Live and in the definition (no flag on a running VM: both).
    mgr.run("vcpupin", "p", "0", "0-1", check=True)
    assert os.sched_getaffinity(t0) == {0, 1}
    out = mgr.run("vcpupin", "p", check=True).stdout
    assert re.search(r"^0\s+0-1$", out, re.M) and re.search(r"^1\s+0$", out, re.M), out
    info = mgr.run("vcpuinfo", "p", check=True).stdout
    assert info.count("VCPU:") == 2 and "CPU Affinity:    0-1" in info
    p = mgr.run("vcpupin", "p", "5", "0")
    assert p.returncode == 1 and "no such vCPU: 5" in p.stderr
    p = mgr.run("vcpupin", "p", "0", "abc")
    assert p.returncode == 1 and "CPULIST 'abc'" in p.stderr
    # A host CPU that is not there is named, live or in the definition.
    bad = str(max(host_cpus()) + 1)
    for flags in ([], ["--config"], ["--live"]):
        p = mgr.run("vcpupin", "p", "0", bad, *flags)
        assert p.returncode == 1 and f"host CPU {bad} is not online" in p.stderr, p.stderr
    p = mgr.run("emulatorpin", "p", bad, "--config")
    assert p.returncode == 1 and f"host CPU {bad} is not online" in p.stderr, p.stderr
    pins = json.loads(mgr.run("vcpupin", "p", "--json", check=True).stdout)
    assert pins == [{"vcpu": 0, "affinity": "0-1"}, {"vcpu": 1, "affinity": "0"}], pins
    vi = json.loads(mgr.run("vcpuinfo", "p", "--json", check=True).stdout)
    assert [v["affinity"] for v in vi] == ["0-1", "0"] and vi[0]["tid"] == t0, vi
    # --config only: the running vCPU keeps its affinity.
    mgr.run("vcpupin", "p", "1", "1", "--config", check=True)
    assert os.sched_getaffinity(t1) == {0}
    mgr.run("destroy", "p", check=True)
    mgr.run("start", "p", check=True)
    t0, t1 = vcpu_tids(mgr, "p")
    assert os.sched_getaffinity(t0) == {0, 1} and os.sched_getaffinity(t1) == {1}
    mgr.run("destroy", "p", check=True)


def test_pinning_reads_and_refusals_on_one_cpu(mgr):
    """What scripts read (--json) and what is refused, on any host: one
    vCPU and the emulator threads pinned to host CPU 0."""
    mgr.define("o", cpus={"count": 1, "pinning": {"0": "0"}, "emulator": "0"})
    mgr.run("start", "o", check=True)
    (t0,) = vcpu_tids(mgr, "o")
    assert json.loads(mgr.run("vcpupin", "o", "--json", check=True).stdout) == [
        {"vcpu": 0, "affinity": "0"}]
    (v,) = json.loads(mgr.run("vcpuinfo", "o", "--json", check=True).stdout)
    assert v["affinity"] == "0" and v["tid"] == t0 and v["host_cpu"] == 0, v
    assert json.loads(mgr.run("emulatorpin", "o", "--json", check=True).stdout) == {
        "affinity": "0"}
    bad = str(max(host_cpus()) + 1)
    for args in (["vcpupin", "o", "0", bad], ["vcpupin", "o", "0", bad, "--config"],
                 ["vcpupin", "o", "0", bad, "--live"], ["emulatorpin", "o", bad, "--live"]):
        p = mgr.run(*args)
        assert p.returncode == 1 and p.stderr == (
            f"vessel: CPULIST '{bad}': host CPU {bad} is not online (online: "
            f"{open('/sys/devices/system/cpu/online').read().strip()})\n"), (args, p.stderr)
    assert os.sched_getaffinity(t0) == {0}
    assert mgr.run("vcpupin", "o", "0", "0", "--json").returncode == 2
    mgr.run("destroy", "o", check=True)


def test_emulatorpin(mgr):
    need_cpus(2)
    mgr.define("e", cpus={"count": 2, "emulator": "1"})
    mgr.run("start", "e", check=True)
    pid = mgr.pid("e")
    vcpus = set(vcpu_tids(mgr, "e"))
    others = [t for t in map(int, os.listdir(f"/proc/{pid}/task")) if t not in vcpus]
    assert others and all(os.sched_getaffinity(t) == {1} for t in others)
    assert all(os.sched_getaffinity(t) == set(host_cpus()) for t in vcpus)
    mgr.run("emulatorpin", "e", "0", "--live", check=True)
    assert all(os.sched_getaffinity(t) == {0} for t in others)
    assert all(os.sched_getaffinity(t) == set(host_cpus()) for t in vcpus)
    assert "*: 0" in mgr.run("emulatorpin", "e", check=True).stdout
    mgr.run("destroy", "e", check=True)


def test_dedicated_policy(mgr):
    need_cpus(2)
    mgr.define("d1", cpus={"count": 1, "policy": "dedicated", "pinning": {"0": "0"}})
    mgr.define("d2", cpus={"count": 1, "policy": "dedicated", "pinning": {"0": "0"}})
    mgr.define("d3", cpus={"count": 1, "policy": "dedicated"})
    mgr.define("d4", cpus={"count": 1, "policy": "dedicated"})
    mgr.run("start", "d1", check=True)
    p = mgr.run("start", "d2")
    assert p.returncode == 1 and "dedicated to VM 'd1'" in p.stderr, p.stderr
    assert mgr.state_of("d2") == "shut off"
    # No pinning given: a free host CPU is picked and pinned 1:1.
    mgr.run("start", "d3", check=True)
    (t,) = vcpu_tids(mgr, "d3")
    assert os.sched_getaffinity(t) == {1}
    p = mgr.run("start", "d4")
    assert p.returncode == 1 and "free for dedicated vCPUs" in p.stderr
    # A crashed VM's claim does not outlive it.
    os.kill(mgr.pid("d1"), 9)
    assert wait_for(lambda: mgr.state_of("d1") == "crashed")
    mgr.run("start", "d2", check=True)
    (t,) = vcpu_tids(mgr, "d2")
    assert os.sched_getaffinity(t) == {0}
    mgr.run("destroy", "d2", check=True)
    mgr.run("destroy", "d3", check=True)


@pytest.mark.parametrize("mode,word", [("strict", "bind:0"), ("preferred", "prefer:0"),
                                       ("interleave", "interleave:0")])
def test_numatune_policy_in_numa_maps(mgr, mode, word):
    mgr.define("n", numa={"mode": mode, "nodeset": "0"})
    out = mgr.run("numatune", "n", check=True).stdout
    assert f"numa_mode:       {mode}" in out and "numa_nodeset:    0" in out
    mgr.run("start", "n", check=True)
    with open(f"/proc/{mgr.pid('n')}/numa_maps") as f:
        maps = f.read()
    assert word in maps, maps
    mgr.run("destroy", "n", check=True)


def test_numatune_command_and_refusals(mgr):
    mgr.define("t")
    mgr.run("numatune", "t", "--mode", "interleave", "--nodeset", "0", check=True)
    mgr.run("start", "t", check=True)
    with open(f"/proc/{mgr.pid('t')}/numa_maps") as f:
        assert "interleave:0" in f.read()
    mgr.run("destroy", "t", check=True)
    p = mgr.run("numatune", "t", "--mode", "sideways")
    assert p.returncode == 1 and "--mode 'sideways'" in p.stderr
    # Checked against the host when saved, not at the next start.
    p = mgr.run("numatune", "t", "--nodeset", "7")
    assert p.returncode == 1 and "numa.nodeset: host node 7 does not exist" in p.stderr
    assert len(p.stderr.splitlines()) == 1, p.stderr
    assert json.loads(mgr.run("numatune", "t", "--json", check=True).stdout)["nodeset"] == "0"
    # A running VM started with another policy says so; the saved one is shown.
    mgr.run("numatune", "t", "--mode", "none", check=True)
    mgr.run("start", "t", check=True)
    mgr.run("numatune", "t", "--mode", "preferred", "--nodeset", "0", check=True)
    j = json.loads(mgr.run("numatune", "t", "--json", check=True).stdout)
    assert j["mode"] == "preferred" and j["running"] == {"mode": "none", "nodeset": ""}, j
    assert "running with:    none" in mgr.run("numatune", "t", check=True).stdout
    mgr.run("destroy", "t", check=True)


def test_guest_sees_srat_and_slit(mgr):
    mgr.define("g", cpus=2, memory="128M", numa={"nodes": [
        {"cpus": "0", "memory": "64M", "host_nodes": "0", "distances": [10, 21]},
        {"cpus": "1", "memory": "64M", "host_nodes": "0", "distances": [21, 10]}]})
    mgr.run("start", "g", check=True)
    out = mgr.console_output("g", wait=5, until="mgmt: ready")
    assert "srat: cpu apic=0 node=0" in out and "srat: cpu apic=1 node=1" in out, out
    mem = {}
    for node, size in re.findall(r"srat: mem node=(\d+) base=0x[0-9a-f]+ size=0x([0-9a-f]+)",
                                 out):
        mem[int(node)] = mem.get(int(node), 0) + int(size, 16)
    assert set(mem) == {0, 1}, out
    # Node 0 loses the legacy holes below 1 MiB; both are about 64 MiB.
    assert all(60 << 20 <= v <= 64 << 20 for v in mem.values()), mem
    assert "slit: 2 10 21 21 10" in out, out
    with open(f"/proc/{mgr.pid('g')}/numa_maps") as f:
        assert "bind:0" in f.read()
    mgr.run("destroy", "g", check=True)


def test_hugepage_backing(mgr):
    with sysfs_values({"/proc/sys/vm/nr_hugepages": 64}):
        with open("/proc/meminfo") as f:
            free = int(re.search(r"HugePages_Free:\s+(\d+)", f.read()).group(1))
        if free < 48:
            pytest.skip(f"only {free} free 2M huge pages")
        mgr.define("h", memory={"size": "96M", "backing": "hugetlb", "hugepage_size": "2M"},
                   cmdline="fill=16")
        mgr.run("start", "h", check=True)
        assert "mgmt: ready" in mgr.console_output("h", wait=5, until="mgmt: ready")
        maps = smaps_guest_ram(mgr.pid("h"), 64 << 20)
        huge = [m for m in maps if m.get("KernelPageSize") == "2048 kB"]
        assert huge, maps
        assert sum(kb(m.get("Shared_Hugetlb")) + kb(m.get("Private_Hugetlb"))
                   for m in huge) >= 16 * 1024
        mgr.run("destroy", "h", check=True)
        # More huge pages than the host has: refused with the count.
        mgr.define("h2", memory={"size": "1G", "backing": "hugetlb"})
        p = mgr.run("start", "h2")
        assert p.returncode == 1 and "needs 512 free 2M huge pages" in p.stderr, p.stderr


def test_thp_backing(mgr):
    with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
        if "[never]" in f.read():
            pytest.skip("THP disabled on this host")
    mgr.define("thp", memory={"size": "128M", "thp": True}, cmdline="fill=32")
    mgr.run("start", "thp", check=True)
    assert "mgmt: filled" in mgr.console_output("thp", wait=10, until="mgmt: ready")
    maps = smaps_guest_ram(mgr.pid("thp"), 64 << 20)
    assert sum(kb(m.get("AnonHugePages")) for m in maps) >= 2048, maps
    mgr.run("destroy", "thp", check=True)


def ksm_pages(pid):
    with open(f"/proc/{pid}/ksm_merging_pages") as f:
        return int(f.read())


def test_ksm_merges_only_when_mergeable(mgr):
    if not os.path.exists("/proc/self/ksm_merging_pages"):
        pytest.skip("kernel has no /proc/PID/ksm_merging_pages")
    knobs = {"/sys/kernel/mm/ksm/run": 1, "/sys/kernel/mm/ksm/pages_to_scan": 5000,
             "/sys/kernel/mm/ksm/sleep_millisecs": 10}
    with sysfs_values(knobs):
        mgr.define("kon", memory={"size": "128M", "mergeable": True, "thp": False},
                   cmdline="fill=32")
        mgr.define("koff", memory={"size": "128M", "mergeable": False, "thp": False},
                   cmdline="fill=32")
        mgr.run("start", "kon", check=True)
        mgr.run("start", "koff", check=True)
        for n in ("kon", "koff"):
            assert "mgmt: filled" in mgr.console_output(n, wait=10, until="mgmt: ready")
        # 32 MiB of identical pages: thousands merge with KSM on.
        assert wait_for(lambda: ksm_pages(mgr.pid("kon")) > 4000, timeout=30), \
            ksm_pages(mgr.pid("kon"))
        time.sleep(0.5)
        assert ksm_pages(mgr.pid("koff")) == 0
        mgr.run("destroy", "kon", check=True)
        mgr.run("destroy", "koff", check=True)


def test_prealloc_faults_all_ram_in(mgr):
    mgr.define("pre", memory={"size": "128M", "prealloc": True})
    mgr.define("lazy", memory={"size": "128M", "prealloc": False})
    mgr.run("start", "pre", check=True)
    mgr.run("start", "lazy", check=True)

    def guest_rss(name):
        return sum(kb(m.get("Rss")) for m in smaps_guest_ram(mgr.pid(name), 64 << 20))

    assert guest_rss("pre") >= 128 * 1024, guest_rss("pre")
    assert guest_rss("lazy") < 64 * 1024, guest_rss("lazy")
    mgr.run("destroy", "pre", check=True)
    mgr.run("destroy", "lazy", check=True)
