# `vessel host`: the host report, as text and as JSON.
import json
import os
import pathlib

from conftest import run


def backend_expected():
    """The backend this machine should report, as docs/linux-lane.md says."""
    if pathlib.Path("/sys/module/kvm_pvm").exists():
        return "PVM"
    if pathlib.Path("/sys/module/kvm_intel").exists():
        return "VT-x"
    if pathlib.Path("/sys/module/kvm_amd").exists():
        return "AMD-V"
    return None


def test_host_text(vessel_bin):
    r = run([vessel_bin, "host"])
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for section in ("KVM", "CPU", "NUMA", "Memory"):
        assert f"\n{section}\n" in "\n" + out
    expected = backend_expected()
    if expected:
        assert f"backend                {expected}" in out
    if expected == "PVM":
        assert "note: PVM" in out
        assert "stock Linux kernel does not finish booting" in out
    if pathlib.Path("/sys/devices/system/node/node0").exists():
        assert "node 0" in out
    assert "transparent hugepages" in out
    assert "KSM" in out


def test_host_json(vessel_bin):
    r = run([vessel_bin, "host", "--json"])
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    kvm = info["kvm"]
    expected = backend_expected()
    if expected:
        assert kvm["backend"] == expected
    assert kvm["device"] == "/dev/kvm"
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        assert kvm["usable"] is True
        assert kvm["api_version"] == 12
        caps = kvm["capabilities"]
        for cap in ("irqchip", "irqfd", "ioeventfd", "irq_routing", "signal_msi"):
            assert caps[cap] > 0, cap
        assert caps["max_vcpus"] >= 1
        assert caps["nr_memslots"] >= 1
    if pathlib.Path("/sys/devices/system/node/node0").exists():
        nodes = {n["id"]: n for n in info["numa_nodes"]}
        assert 0 in nodes
        assert nodes[0]["mem_total"] > 0
        assert nodes[0]["cpus"]
    assert info["cpu"]["online"] >= 1
    assert info["thp"]["enabled"] in ("always", "madvise", "never", None)
    for hp in info["hugepages"]:
        assert hp["size"] > 0 and hp["size"] % 4096 == 0
        assert 0 <= hp["free"] <= hp["total"]
    assert "available" in info["ksm"]


def test_host_without_kvm(vessel_bin, tmp_path):
    """KVM that cannot be opened: everything else is still reported, with why."""
    missing = tmp_path / "no-kvm"
    r = run([vessel_bin, "host", "--device", str(missing)])
    assert r.returncode == 0, r.stderr
    assert "usable by vessel       no: No such file or directory" in r.stdout
    assert "NUMA" in r.stdout and "CPU" in r.stdout

    r = run([vessel_bin, "host", "--json", "--device", str(missing)])
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["kvm"]["present"] is False
    assert info["kvm"]["usable"] is False
    assert "No such file" in info["kvm"]["error"]
    assert "capabilities" not in info["kvm"]
    assert info["cpu"]["online"] >= 1


def test_host_bad_usage(vessel_bin):
    r = run([vessel_bin, "host", "--bogus"])
    assert r.returncode == 2
    assert r.stderr == ("vessel: host: unknown option or missing argument '--bogus' "
                        "(vessel host --help)\n"), r.stderr
    r = run([vessel_bin, "host", "--device"])
    assert r.returncode == 2 and "'--device'" in r.stderr, r.stderr
    r = run([vessel_bin, "host", "extra"])
    assert r.returncode == 2
    assert "vessel: host: unexpected argument 'extra'" in r.stderr
    r = run([vessel_bin, "host", "--help"])
    assert r.returncode == 0
    assert "--json" in r.stdout
