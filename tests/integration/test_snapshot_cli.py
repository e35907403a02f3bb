# vessel snapshot create/list/revert/delete on VMs that are shut off: the
# disk side of snapshots (internal qcow2 snapshots, external overlays, the
# tree), checked with QEMU's own tools (qemu-io writes and reads patterns,
# qemu-img lists the snapshots).  Needs no KVM; the running-VM side (state
# with the disks, revert of a running VM) is the Linux lane's `snapshot`
# check (tests/linux/lane.sh).
import json
import shutil
import subprocess

import pytest

from conftest import BUILD
from mgmt_helpers import Manager

QEMU_IO = shutil.which("qemu-io")
QEMU_IMG = shutil.which("qemu-img")


@pytest.fixture
def m(tmp_path, vessel_bin):
    if not QEMU_IO or not QEMU_IMG:
        pytest.fail("qemu-io/qemu-img missing: make check installs qemu-utils")
    state = tmp_path / "st"
    state.mkdir()
    mg = Manager(vessel_bin, state, BUILD / "tests" / "guests" / "mgmt" / "idle.elf")
    yield mg
    mg.cleanup()


def qio(img, cmd, fmt="qcow2"):
    p = subprocess.run([QEMU_IO, "-f", fmt, "-c", cmd, str(img)], capture_output=True,
                       text=True, timeout=60)
    return p.returncode == 0 and "Pattern verification failed" not in p.stdout, p.stdout


def write(img, pat, fmt="qcow2"):
    ok, out = qio(img, f"write -P {pat} 0 64k", fmt)
    assert ok, out


def holds(img, pat, fmt="qcow2"):
    return qio(img, f"read -P {pat} 0 64k", fmt)[0]


def qemu_snapshots(img):
    out = subprocess.run([QEMU_IMG, "snapshot", "-l", str(img)], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    return [ln.split()[1] for ln in out.splitlines()[2:] if ln.split()]


def disk_path(m, name):
    d = json.loads((m.state / "lib" / f"{name}.json").read_text())
    return d["disks"][0]["path"]


def make_vm(m, tmp_path, name="v", fmt="qcow2"):
    img = tmp_path / f"{name}.{fmt}"
    m.run("img", "create", "-f", fmt, img, "16M", check=True)
    m.define(name, cpus=1, memory="64M", disks=[{"path": str(img), "format": fmt}])
    return img


def test_internal_snapshot_revert_and_delete(m, tmp_path):
    img = make_vm(m, tmp_path)
    write(img, "0xaa")
    r = m.run("snapshot", "create", "v", "s1", check=True)
    assert "internal" in r.stderr + r.stdout
    assert qemu_snapshots(img) == ["s1"]
    write(img, "0xbb")
    m.run("snapshot", "revert", "v", "s1", check=True)
    assert holds(img, "0xaa")
    # a second one is s1's child; deleting s1 moves it up
    m.run("snapshot", "create", "v", "s2", check=True)
    out = m.run("snapshot", "list", "v", "--tree", check=True).stdout
    assert out.splitlines() == ["s1", "  s2 *"]
    m.run("snapshot", "delete", "v", "s1", check=True)
    assert qemu_snapshots(img) == ["s2"]
    out = m.run("snapshot", "list", "v", check=True).stdout
    assert "s2" in out and "s1" not in out and "(current)" in out
    subprocess.run([QEMU_IMG, "check", str(img)], check=True, capture_output=True)


def test_raw_disk_refuses_internal_snapshot(m, tmp_path):
    make_vm(m, tmp_path, fmt="raw")
    r = m.run("snapshot", "create", "v", "s1")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "has no internal snapshots" in r.stderr
    assert "s1" not in m.run("snapshot", "list", "v", check=True).stdout
    # nothing was left behind: the name is free
    assert not (m.state / "lib" / "snapshots" / "v" / "s1").exists()


def test_external_snapshot_and_revert(m, tmp_path):
    img = make_vm(m, tmp_path)
    write(img, "0xaa")
    m.run("snapshot", "create", "v", "e1", "--external", check=True)
    top = disk_path(m, "v")
    assert top != str(img) and top.endswith(".e1.qcow2")
    info = json.loads(subprocess.run([QEMU_IMG, "info", "--output=json", top],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["backing-filename"] == str(img)
    write(top, "0xbb")
    assert holds(img, "0xaa")  # the snapshot's image is not written
    m.run("snapshot", "revert", "v", "e1", check=True)
    new = disk_path(m, "v")
    assert new not in (top, str(img))
    assert holds(new, "0xaa") and holds(top, "0xbb")
    # an internal snapshot on an image an external one stands on is refused
    m.run("snapshot", "create", "v", "i1", check=True)
    r = m.run("snapshot", "revert", "v", "i1")
    assert r.returncode == 0, r.stderr  # i1 is on the new overlay: fine
    r = m.run("snapshot", "delete", "v", "e1", check=True)
    # its images stay: the overlays read them
    assert img.exists() and holds(new, "0xaa")


def test_internal_revert_under_external_is_refused(m, tmp_path):
    img = make_vm(m, tmp_path)
    m.run("snapshot", "create", "v", "i1", check=True)
    m.run("snapshot", "create", "v", "e1", "--external", check=True)
    r = m.run("snapshot", "revert", "v", "i1")
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "no longer" in r.stderr or "backing image" in r.stderr
    assert qemu_snapshots(img) == ["i1"]


def test_snapshot_errors(m, tmp_path):
    make_vm(m, tmp_path)
    cases = [
        (["create", "v", ".hidden"], "not a snapshot name"),
        (["create", "v", "a/b"], "not a snapshot name"),
        (["create", "v", "current"], "not a snapshot name"),
        (["create", "nosuch", "s"], "not defined"),
        (["revert", "v", "nope"], "no snapshot 'nope'"),
        (["delete", "v", "nope"], "no snapshot 'nope'"),
        (["list", "nosuch"], "not defined"),
    ]
    for args, msg in cases:
        r = m.run("snapshot", *args)
        assert r.returncode != 0 and msg in r.stderr, (args, r.stderr)
    m.run("snapshot", "create", "v", "s", check=True)
    r = m.run("snapshot", "create", "v", "s")
    assert r.returncode == 1 and "already" in r.stderr
    r = m.run("snapshot", "bogus", "v")
    assert r.returncode != 0 and "usage" in r.stderr


def test_external_failure_leaves_nothing(m, tmp_path):
    a, b = tmp_path / "a.qcow2", tmp_path / "b.qcow2"
    for img in (a, b):
        m.run("img", "create", "-f", "qcow2", img, "16M", check=True)
    m.define("v", cpus=1, memory="64M", disks=[{"path": str(a), "format": "qcow2"},
                                              {"path": str(b), "format": "qcow2"}])
    (tmp_path / "b.e1.qcow2").write_text("in the way")
    r = m.run("snapshot", "create", "v", "e1", "--external")
    assert r.returncode == 1 and "overlay exists" in r.stderr, r.stderr
    # the first disk's overlay went again, and the VM still uses its disks
    assert not (tmp_path / "a.e1.qcow2").exists()
    assert disk_path(m, "v") == str(a)
    assert "e1" not in m.run("snapshot", "list", "v", check=True).stdout
