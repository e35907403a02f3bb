# Image locking (issue 9, item 7): vessel takes QEMU's OFD locks on
# per-permission bytes of every image file it opens (src/block/lock.h),
# so a vessel VM, `vessel vhost-user-blk`, `vessel img`, QEMU and
# qemu-img each refuse an image another one is writing, with one error
# line, and -U/--force-share still allows read-only inspection.
#
# A holder is a process that keeps an image open read-write: `vessel
# vhost-user-blk` (any host), a vessel VM (needs /dev/kvm), or QEMU in TCG
# mode.  Each holder is waited for until its lock shows in /proc/locks.
import hashlib
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import kvm_usable, run

QEMU_IMG = shutil.which("qemu-img")
QEMU_SYS = shutil.which("qemu-system-x86_64")
need_qemu_img = pytest.mark.skipif(not QEMU_IMG, reason="qemu-img not installed")
need_qemu_sys = pytest.mark.skipif(not (QEMU_IMG and QEMU_SYS),
                                   reason="qemu-system-x86_64 not installed")

IN_USE = "image is in use by another process"


def locked_bytes(path):
    """Bytes of path under an OFD lock, from /proc/locks."""
    ino = os.stat(path).st_ino
    out = set()
    with open("/proc/locks") as f:
        for line in f:
            p = line.split()
            if len(p) >= 8 and p[1] == "OFDLCK" and p[5].endswith(f":{ino}"):
                out.update(range(int(p[6]), int(p[7]) + 1))
    return out


class Holder:
    """Wait until img has byte `want` locked, and its backing file (opened
    after the image itself) byte 100."""

    def __init__(self, cmd, img, want=101):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        end = time.monotonic() + 30
        base = img.parent / "base.qcow2"
        while want not in locked_bytes(img) or (img != base and 100 not in locked_bytes(base)):
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                raise AssertionError(f"{cmd[0]} did not lock {img}: {self.proc.stdout.read()}")
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def vhost_holder(vessel_bin, img, tmp_path, opts=""):
    sock = tmp_path / f"vh-{time.monotonic_ns()}.sock"
    return Holder([vessel_bin, "vhost-user-blk", "--socket", str(sock),
                   "--disk", f"path={img}{opts}"], img, 100 if "readonly" in opts else 101)


def vm_holder(vessel_bin, guests_dir, img):
    return Holder([vessel_bin, "run", "--kernel", str(guests_dir / "spin.elf"),
                   "--memory", "64M", "--serial", "none", "--disk", f"path={img},format=qcow2"], img)


def qemu_holder(img):
    return Holder([QEMU_SYS, "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
                   "-drive", f"file={img},format=qcow2,if=none,id=d",
                   "-device", "virtio-blk-pci,drive=d"], img)


def vimg(vessel_bin, *args):
    return run([vessel_bin, "img", *map(str, args)], timeout=60)


def refused(r):
    """Exit non-zero with one line saying the image is in use."""
    assert r.returncode != 0, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and IN_USE in lines[0], r.stderr
    assert lines[0].startswith("vessel"), r.stderr


def digest(p):
    return hashlib.sha256(open(p, "rb").read()).hexdigest()


@pytest.fixture
def images(vessel_bin, tmp_path):
    """base.qcow2 <- top.qcow2 (with a snapshot), both made by vessel."""
    base, top = tmp_path / "base.qcow2", tmp_path / "top.qcow2"
    assert vimg(vessel_bin, "create", "-q", "-f", "qcow2", base, "8M").returncode == 0
    assert vimg(vessel_bin, "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2",
                top).returncode == 0
    assert vimg(vessel_bin, "snapshot", "-c", "keep", top).returncode == 0
    return base, top


def others_refused(vessel_bin, tmp_path, base, top):
    """Everything that would write top (held read-write elsewhere), or
    read it without -U, is refused; read-only inspection with -U works."""
    before = digest(top)
    refused(vimg(vessel_bin, "info", top))
    refused(vimg(vessel_bin, "check", top))
    refused(vimg(vessel_bin, "create", "-f", "qcow2", top, "1M"))
    refused(vimg(vessel_bin, "resize", top, "+1M"))
    refused(vimg(vessel_bin, "snapshot", "-c", "s2", top))
    refused(vimg(vessel_bin, "commit", top))
    assert digest(top) == before, "a refused verb changed the image"
    for args in (["info", "-U", top], ["info", "--force-share", top],
                 ["check", "-U", top], ["map", "-U", top], ["snapshot", "-l", "-U", top],
                 ["compare", "-U", top, top], ["compare", "--force-share", top, top],
                 ["convert", "-U", "-O", "raw", top, tmp_path / "copy.raw"]):
        r = vimg(vessel_bin, *args)
        assert r.returncode == 0, f"{args}: {r.stderr}"
    assert "keep" in vimg(vessel_bin, "snapshot", "-l", "-U", top).stdout
    # An overlay of the image in use may be made, as with qemu-img create -b
    # (it only reads the backing file's size, sharing everything).
    ov = tmp_path / f"ov-{time.monotonic_ns()}.qcow2"
    r = vimg(vessel_bin, "create", "-q", "-f", "qcow2", "-b", top, "-F", "qcow2", ov)
    assert r.returncode == 0, r.stderr
    # -U is for reading only, as in qemu-img
    r = vimg(vessel_bin, "check", "-r", "all", "-U", top)
    assert r.returncode != 0 and "force-share" in r.stderr, r.stderr
    # A second vessel-user-blk backend on the same image
    sock = tmp_path / "second.sock"
    r = run([vessel_bin, "vhost-user-blk", "--socket", str(sock), "--disk", str(top)],
            timeout=30)
    assert r.returncode != 0 and IN_USE in r.stderr, r.stderr
    # The backing file is opened read-only and shared for reading, as QEMU
    # does: readers are welcome, writers are not.
    assert vimg(vessel_bin, "info", base).returncode == 0
    refused(vimg(vessel_bin, "resize", base, "+1M"))
    refused(vimg(vessel_bin, "create", "-f", "qcow2", base, "1M"))
    assert digest(top) == before


def qemu_refused(top, base):
    r = run([QEMU_IMG, "info", str(top)])
    assert r.returncode != 0 and 'Failed to get shared "write" lock' in r.stderr, r.stderr
    assert run([QEMU_IMG, "info", "-U", str(top)]).returncode == 0
    r = run([QEMU_IMG, "create", "-f", "qcow2", str(top), "1M"])
    assert r.returncode != 0 and 'Failed to get "write" lock' in r.stderr, r.stderr
    r = run([QEMU_IMG, "resize", str(base), "+1M"])
    assert r.returncode != 0 and "lock" in r.stderr, r.stderr
    assert run([QEMU_IMG, "info", str(base)]).returncode == 0
    if QEMU_SYS:
        r = run([QEMU_SYS, "-accel", "tcg", "-nodefaults", "-display", "none", "-S",
                 "-drive", f"file={top},format=qcow2,if=none,id=d",
                 "-device", "virtio-blk-pci,drive=d"], timeout=30)
        assert r.returncode != 0 and 'Failed to get "write" lock' in r.stderr, r.stderr


def released(vessel_bin, top):
    assert locked_bytes(top) == set()
    assert vimg(vessel_bin, "info", top).returncode == 0
    if QEMU_IMG:
        r = run([QEMU_IMG, "check", str(top)])
        assert r.returncode == 0, r.stdout + r.stderr


def test_vhost_user_blk_holds_its_disk(vessel_bin, tmp_path, images):
    base, top = images
    h = vhost_holder(vessel_bin, top, tmp_path)
    try:
        # exactly QEMU's bytes for a read-write qcow2 user
        assert locked_bytes(top) == {100, 101, 103, 201, 203}
        assert locked_bytes(base) == {100, 201, 203}
        others_refused(vessel_bin, tmp_path, base, top)
        if QEMU_IMG:
            qemu_refused(top, base)
    finally:
        assert h.stop() == 0
    released(vessel_bin, top)


def test_vessel_vm_holds_its_disk(vessel_bin, guests_dir, tmp_path, images):
    reason = kvm_usable()
    if reason:
        pytest.skip(reason)
    base, top = images
    h = vm_holder(vessel_bin, guests_dir, top)
    try:
        others_refused(vessel_bin, tmp_path, base, top)
        if QEMU_IMG:
            qemu_refused(top, base)
        # a second VM with the same disk
        r = run([vessel_bin, "run", "--kernel", str(guests_dir / "spin.elf"), "--memory",
                 "64M", "--serial", "none", "--disk", f"path={top},format=qcow2"], timeout=30)
        assert r.returncode != 0 and IN_USE in r.stderr, r.stderr
    finally:
        h.stop()
    released(vessel_bin, top)


@need_qemu_sys
def test_qemu_holds_the_disk(vessel_bin, guests_dir, tmp_path, images):
    base, top = images
    h = qemu_holder(top)
    try:
        others_refused(vessel_bin, tmp_path, base, top)
        if not kvm_usable():
            r = run([vessel_bin, "run", "--kernel", str(guests_dir / "spin.elf"),
                     "--memory", "64M", "--serial", "none", "--disk", f"path={top},format=qcow2"], timeout=30)
            assert r.returncode != 0 and IN_USE in r.stderr, r.stderr
    finally:
        h.stop()
    released(vessel_bin, top)
    # img create over the image qemu held did not reformat it: the snapshot is there
    assert "keep" in vimg(vessel_bin, "snapshot", "-l", top).stdout


def test_readers_share(vessel_bin, tmp_path, images):
    """Read-only users coexist (two read-only backends, img info, qemu-img
    info); a writer is refused while they read."""
    base, top = images
    a = vhost_holder(vessel_bin, top, tmp_path, ",readonly=on")
    b = vhost_holder(vessel_bin, top, tmp_path, ",readonly=on")
    try:
        assert vimg(vessel_bin, "info", top).returncode == 0
        if QEMU_IMG:
            assert run([QEMU_IMG, "info", str(top)]).returncode == 0
        refused(vimg(vessel_bin, "snapshot", "-c", "x", top))
        sock = tmp_path / "rw.sock"
        r = run([vessel_bin, "vhost-user-blk", "--socket", str(sock), "--disk", str(top)],
                timeout=30)
        assert r.returncode != 0 and IN_USE in r.stderr, r.stderr
    finally:
        a.stop()
        b.stop()
    released(vessel_bin, top)


def test_commit_and_rebase_in_one_process(vessel_bin, tmp_path, images):
    """Verbs that read a chain and write one of its files (commit -b into
    the base the overlay reads) are not refused by their own locks."""
    base, top = images
    mid = tmp_path / "mid.qcow2"
    assert vimg(vessel_bin, "create", "-q", "-f", "qcow2", "-b", top, "-F", "qcow2",
                mid).returncode == 0
    r = vimg(vessel_bin, "commit", "-b", base, mid)
    assert r.returncode == 0, r.stderr
    r = vimg(vessel_bin, "commit", mid)
    assert r.returncode == 0, r.stderr
    r = vimg(vessel_bin, "rebase", "-b", base, "-F", "qcow2", mid)
    assert r.returncode == 0, r.stderr
    assert locked_bytes(base) == set()
