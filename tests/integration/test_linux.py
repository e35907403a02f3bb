# The Linux lane: Debian's stock cloud kernel boots in vessel and Linux's
# own drivers (virtio-blk, virtio-rng, virtio-console, 8250, ACPI) are the
# clients of vessel's devices.  On VT-x/AMD-V hosts vessel boots it
# directly; elsewhere (PVM, no /dev/kvm) inside a QEMU TCG L1 host with
# an emulated AMD-V (tests/linux/launch.py).  One run of tests/linux/lane.sh
# serves every test below; each test is one check of it.  The lane never
# skips: a host where neither launcher works fails it, saying why.
import os
import pathlib
import sys

import pytest

from conftest import BUILD, ROOT

sys.path.insert(0, str(ROOT / "tests" / "linux"))
import launch  # noqa: E402

CHECKS = ["boot-1", "boot-2", "boot-4-5g", "reboot", "console", "devices", "mgmt", "diskfull", "save"]
LOG = BUILD / "linux-lane.log"


@pytest.fixture(scope="module")
def lane(tmp_path_factory):
    kind, why = launch.host_kind()
    if kind is None:
        pytest.fail(f"the Linux lane cannot run on this host: {why}")
    vessel = BUILD / "vessel"
    if not vessel.exists():
        pytest.fail(f"{vessel} not built")
    images = launch.build_images(ROOT / "images" / "lane", vessel)
    work = tmp_path_factory.mktemp("lane")
    out = launch.run_lane(kind, images, vessel, CHECKS, work, timeout=1500)
    LOG.write_text(f"launcher: {kind}: {why}\n" + out)
    return kind, why, out, launch.parse(out)


def test_linux_lane_host(lane):
    """The lane ran where Linux can boot: directly, or in an L1 host with a working /dev/kvm."""
    kind, why, out, res = lane
    print(f"launcher: {kind}: {why}")
    # A stalled L1 and the fresh one that ran the rest (launch.run_lane).
    for line in out.splitlines():
        if line.startswith(("LANE-STALL", "LANE-RETRY")):
            print(line)
    if kind == "tcg":
        l1 = [line for line in out.splitlines() if line.startswith("LANE-L1 Linux")]
        assert l1, f"the L1 host did not come up:\n{out[-3000:]}"
        assert "/dev/kvm missing" not in l1[0], l1[0]
        assert "LANE-L1 done" in out, f"the L1 host did not finish the lane:\n{out[-3000:]}"
    assert "LANE-DONE" in out, f"lane.sh did not finish:\n{out[-3000:]}"


@pytest.mark.parametrize("check", CHECKS)
def test_linux(lane, check):
    kind, why, out, res = lane
    assert check in res, f"check {check} did not run (see {LOG}):\n{out[-3000:]}"
    ok, lines = res[check]
    print("\n".join(lines))
    assert ok, "\n".join(lines[-80:])


def test_lane_stall_is_retried_in_a_fresh_l1(tmp_path, monkeypatch):
    """A silent L1 is killed and the checks it did not finish run in a
    fresh one (launch.run_lane); a check that stalls every time is left
    out of the results, so its test fails."""
    calls = []

    def fake_l1(images, mode, args=(), **kw):
        calls.append(list(args))
        # First L1: a finishes, b stalls (silent but for the heartbeat).
        # Later ones: b and c finish, unless c is the one that stalls.
        script = "echo LANE-L1 Linux fake; "
        for c in args:
            if (c == "b" and len(calls) == 1) or c == "c-stuck":
                script += f"echo LANE-BEGIN {c}; while :; do echo LANE-HB; sleep 0.5; done; "
            else:
                script += f"echo LANE-BEGIN {c}; echo LANE-END {c} ok; "
        return ["sh", "-c", script + "echo LANE-DONE; echo LANE-L1 done"]

    monkeypatch.setattr(launch, "l1_command", fake_l1)
    monkeypatch.setattr(launch, "LANE_IDLE_S", 3)
    out = launch.run_lane("tcg", tmp_path, "vessel", ["a", "b", "c"], tmp_path, timeout=120)
    assert calls == [["a", "b", "c"], ["b", "c"]], calls
    assert "LANE-RETRY 1: a fresh L1 runs b c" in out
    assert "heartbeat went on" in out and "LANE-HB" not in out
    res = launch.parse(out)
    assert all(res[c][0] for c in "abc"), res
    assert "LANE-L1 done" in out

    calls.clear()
    out = launch.run_lane("tcg", tmp_path, "vessel", ["a", "c-stuck"], tmp_path, timeout=120)
    assert calls == [["a", "c-stuck"]] + [["c-stuck"]] * launch.LANE_RETRIES, calls
    assert "c-stuck" not in launch.parse(out) and "a" in launch.parse(out)


def test_lane_l1_panic_is_retried_in_a_fresh_l1(tmp_path, monkeypatch):
    """An L1 whose kernel panics mid-check (it then powers off) is
    replaced like a stalled one: the checks it did not finish run in a
    fresh L1, and the panic stays in the output."""
    calls = []

    def fake_l1(images, mode, args=(), **kw):
        calls.append(list(args))
        script = "echo LANE-L1 Linux fake; "
        for c in args:
            if c == "b" and len(calls) == 1:
                script += f"echo LANE-BEGIN {c}; echo 'Kernel panic - not syncing: test'; exit 0; "
            script += f"echo LANE-BEGIN {c}; echo LANE-END {c} ok; "
        return ["sh", "-c", script + "echo LANE-DONE; echo LANE-L1 done"]

    monkeypatch.setattr(launch, "l1_command", fake_l1)
    out = launch.run_lane("tcg", tmp_path, "vessel", ["a", "b", "c"], tmp_path, timeout=120)
    assert calls == [["a", "b", "c"], ["b", "c"]], calls
    assert "LANE-STALL: L1's kernel panicked" in out and "Kernel panic" in out
    res = launch.parse(out)
    assert all(res[c][0] for c in "abc"), res
