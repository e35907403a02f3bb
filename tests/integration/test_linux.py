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

CHECKS = ["boot-1", "boot-2", "boot-4-5g", "reboot", "console", "devices", "mgmt"]
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
