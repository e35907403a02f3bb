# Shared fixtures for the integration tests (pytest from Debian's
# python3-pytest).  `make check` sets VESSEL_BUILD; tests fall back to
# ./build when run by hand.
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("VESSEL_BUILD", ROOT / "build"))


def kvm_usable():
    """Return None if /dev/kvm can be opened read-write, else the reason."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError as e:
        return f"/dev/kvm not usable: {e.strerror}"
    os.close(fd)
    return None


@pytest.fixture(scope="session")
def build_dir():
    return BUILD


@pytest.fixture(scope="session")
def vessel_bin():
    exe = BUILD / "vessel"
    if not exe.exists():
        pytest.fail(f"{exe} not built; run 'make build' first")
    return str(exe)


@pytest.fixture(scope="session")
def guests_dir():
    return BUILD / "tests" / "guests"


@pytest.fixture
def need_kvm():
    reason = kvm_usable()
    if reason:
        pytest.skip(reason)


def run(cmd, timeout=60, **kw):
    """Run a command, bounded in time, capturing text output."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
