# Hostile images and careless inputs (issue 9, items 1, 2, 8, 9 and 10):
# a guest must not choose how its disk opens next time, a FIFO must not hang
# vessel, `img convert` must not destroy its input, a NIC in a definition is
# refused rather than ignored, and names from an image cannot send terminal
# escapes.  Everything here but the `vessel run` cases works without KVM.
import hashlib
import json
import os
import shutil
import subprocess

import pytest

from conftest import kvm_usable

QEMU_IMG = shutil.which("qemu-img")
MiB = 1 << 20


def vessel(exe, *args, env=None, timeout=20):
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True,
                          errors="replace", timeout=timeout, env=env,
                          stdin=subprocess.DEVNULL)


def one_line_error(r, *needles):
    assert r.returncode != 0, r.stdout + r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one error line, got:\n{r.stderr}"
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def mgr_env(tmp_path):
    st = tmp_path / "st"
    st.mkdir()
    kernel = tmp_path / "kernel"
    kernel.write_bytes(b"\0" * 4096)  # define does not boot it
    return dict(os.environ, VESSEL_STATE_DIR=str(st)), st, kernel


def define(exe, env, tmp_path, name, cfg):
    f = tmp_path / f"{name}.json"
    f.write_text(json.dumps(cfg))
    return vessel(exe, "define", name, "--config", f, env=env)


def secret_and_evil(vessel_bin, tmp_path):
    """A root-only host file, and a qcow2 image whose backing file it is."""
    secret = tmp_path / "secret"
    secret.write_bytes(b"host secret, never for a guest\n" * 2048)
    secret.chmod(0o600)
    evil = tmp_path / "evil.qcow2"
    r = vessel(vessel_bin, "img", "create", "-f", "qcow2", "-b", secret, "-F", "raw",
               evil, "1M")
    assert r.returncode == 0, r.stderr
    return secret, evil


# ---- item 1: the format is pinned, backing files can be forbidden ----------

def test_define_pins_probed_formats(vessel_bin, mgr_env, tmp_path):
    env, st, kernel = mgr_env
    raw, q, later = tmp_path / "raw.img", tmp_path / "q.qcow2", tmp_path / "later.img"
    raw.write_bytes(b"\0" * MiB)
    assert vessel(vessel_bin, "img", "create", "-f", "qcow2", q, "1M").returncode == 0
    r = define(vessel_bin, env, tmp_path, "vm", {
        "kernel": str(kernel), "disks": [{"path": str(raw)}, {"path": str(q)},
                                         {"path": str(later)}]})
    assert r.returncode == 0, r.stderr
    d = json.loads((st / "lib" / "vm.json").read_text())
    assert [x.get("format") for x in d["disks"]] == ["raw", "qcow2", None]

    # The guest of that VM writes a qcow2 header naming a host file into
    # sector 0 of its raw disk: the definition still says raw, so the next
    # start opens it as raw and never looks at the host file.
    secret, evil = secret_and_evil(vessel_bin, tmp_path)
    with open(raw, "r+b") as f:
        f.write(evil.read_bytes())
    d = json.loads((st / "lib" / "vm.json").read_text())
    assert d["disks"][0]["format"] == "raw"

    # A disk made after define is pinned by the first start (which fails
    # here without KVM, or starts the VM: either way the format is kept).
    later.write_bytes(b"\0" * MiB)
    vessel(vessel_bin, "start", "vm", env=env, timeout=60)
    vessel(vessel_bin, "destroy", "vm", env=env, timeout=60)
    d = json.loads((st / "lib" / "vm.json").read_text())
    assert [x.get("format") for x in d["disks"]] == ["raw", "qcow2", "raw"]


def test_backing_off_refuses_overlays(vessel_bin, mgr_env, tmp_path):
    env, st, kernel = mgr_env
    secret, evil = secret_and_evil(vessel_bin, tmp_path)
    sock = tmp_path / "vu.sock"
    r = vessel(vessel_bin, "vhost-user-blk", "--socket", sock, "--disk",
               f"path={evil},backing=off")
    one_line_error(r, "has a backing file", str(secret), "backing files are off")
    assert not sock.exists()
    r = vessel(vessel_bin, "vhost-user-blk", "--socket", sock, "--disk",
               f"path={evil},backing=maybe")
    one_line_error(r, "backing: must be on or off")
    r = define(vessel_bin, env, tmp_path, "nb", {
        "kernel": str(kernel), "disks": [{"path": str(evil), "backing": False}]})
    assert r.returncode == 0, r.stderr
    d = json.loads((st / "lib" / "nb.json").read_text())
    assert d["disks"][0]["backing"] is False and d["disks"][0]["format"] == "qcow2"


def test_run_backing_off(vessel_bin, guests_dir, tmp_path):
    if kvm_usable():
        pytest.skip(kvm_usable())
    secret, evil = secret_and_evil(vessel_bin, tmp_path)
    r = vessel(vessel_bin, "run", "--kernel", guests_dir / "poweroff.elf", "--disk",
               f"path={evil},backing=off")
    one_line_error(r, "has a backing file", "backing files are off")


def test_guest_cannot_turn_its_raw_disk_into_qcow2(vessel_bin, guests_dir, tmp_path):
    """A guest writes a qcow2 header over sector 0 of its probed raw disk."""
    if kvm_usable():
        pytest.skip(kvm_usable())
    d = tmp_path / "disk.img"
    with open(d, "wb") as f:
        f.truncate(MiB)
    r = vessel(vessel_bin, "run", "--kernel", guests_dir / "virtio" / "vblk.elf", "--memory",
               "128M", "--debug-exit", "--serial", "stdio", "--cmdline", "sector0=1",
               "--disk", f"path={d}", timeout=90)
    assert "PASS" in r.stdout and r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    assert "the probed raw disk kept its format" in r.stdout
    assert d.read_bytes()[:4096] == b"\x5a" * 4096
    r = vessel(vessel_bin, "img", "info", d)
    assert "file format: raw" in r.stdout, r.stdout + r.stderr


# ---- item 2: FIFOs and other non-files --------------------------------------

@pytest.fixture
def fifos(vessel_bin, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    ov = tmp_path / "ov.qcow2"
    r = vessel(vessel_bin, "img", "create", "-f", "qcow2", "-u", "-b", fifo, "-F", "raw",
               ov, "1M")
    assert r.returncode == 0, r.stderr
    ov2 = tmp_path / "ov2.qcow2"  # no backing format: the chain check peeks into it
    r = vessel(vessel_bin, "img", "create", "-f", "qcow2", "-u", "-b", fifo, ov2, "1M")
    assert r.returncode == 0, r.stderr
    return fifo, ov, ov2


def test_fifo_refused_promptly(vessel_bin, mgr_env, fifos, tmp_path):
    fifo, ov, ov2 = fifos
    env, st, kernel = mgr_env
    sock = tmp_path / "vu.sock"
    # Each of these blocked for good in open(2) or read(2) before.
    cases = [
        ("img", "info", fifo),
        ("img", "info", "--backing-chain", ov),
        ("img", "convert", ov, tmp_path / "out.raw"),
        ("img", "convert", ov2, tmp_path / "out.raw"),
        ("img", "compare", fifo, ov),
        ("vhost-user-blk", "--socket", sock, "--disk", fifo),
        ("vhost-user-blk", "--socket", sock, "--disk", f"path={fifo},readonly=on"),
        ("vhost-user-blk", "--socket", sock, "--disk", ov),
        ("vhost-user-blk", "--socket", sock, "--disk", ov2),
    ]
    for args in cases:
        r = vessel(vessel_bin, *args, timeout=10)
        line = one_line_error(r, "is a FIFO", "regular files or block devices")
        assert str(fifo) in line
    r = vessel(vessel_bin, "vhost-user-blk", "--socket", sock, "--disk", "/dev/null",
               timeout=10)
    one_line_error(r, "is a character device")
    for args in (("img", "create", fifo, "1M"), ("img", "convert", tmp_path / "x", fifo)):
        (tmp_path / "x").write_bytes(b"\0" * 4096)
        r = vessel(vessel_bin, *args, timeout=10)
        one_line_error(r, "cannot create", "not a regular file")
    r = define(vessel_bin, env, tmp_path, "f", {"kernel": str(kernel),
                                                "disks": [{"path": str(fifo)}]})
    one_line_error(r, "is a FIFO")


def test_run_fifo_disk_exits_promptly(vessel_bin, guests_dir, fifos):
    if kvm_usable():
        pytest.skip(kvm_usable())
    fifo, ov, ov2 = fifos
    for disk in (fifo, ov, ov2):
        r = vessel(vessel_bin, "run", "--kernel", guests_dir / "poweroff.elf", "--disk", disk,
                   timeout=10)
        one_line_error(r, "is a FIFO")


# ---- item 8: convert never writes over one of its inputs --------------------

def test_convert_refuses_its_input(vessel_bin, tmp_path):
    raw = tmp_path / "x.raw"
    raw.write_bytes(os.urandom(MiB))
    q = tmp_path / "x.qcow2"
    assert vessel(vessel_bin, "img", "convert", "-O", "qcow2", raw, q).returncode == 0
    link = tmp_path / "link"
    link.symlink_to(raw.name)
    hard = tmp_path / "hard"
    os.link(q, hard)
    ov = tmp_path / "ov.qcow2"
    r = vessel(vessel_bin, "img", "create", "-f", "qcow2", "-b", q.name, "-F", "qcow2", ov)
    assert r.returncode == 0, r.stderr
    before = {p: digest(p) for p in (raw, q, ov)}
    cases = [
        ([raw, raw], "is the input"),
        (["-O", "qcow2", q, q], "is the input"),
        (["-n", raw, raw], "is the input"),
        ([raw, link], "is the input"),
        (["-O", "qcow2", q, hard], "is the input"),
        ([raw, q, raw], "is the input"),
        ([ov, q], "in the backing chain of the input"),
        (["-O", "qcow2", ov, raw], None),  # not an input: allowed (below)
    ]
    for args, msg in cases:
        if msg is None:
            continue
        r = vessel(vessel_bin, "img", "convert", *args)
        one_line_error(r, msg)
        assert {p: digest(p) for p in before} == before, args
    out = tmp_path / "out.raw"
    assert vessel(vessel_bin, "img", "convert", ov, out).returncode == 0
    assert digest(out) == digest(raw)


# ---- item 9: NICs in a definition are devices, not ignored ----------------

def test_nets_are_checked_and_kept(vessel_bin, mgr_env, tmp_path):
    env, st, kernel = mgr_env
    cfg = {"kernel": str(kernel), "nets": [{"tap": "tap0", "mtu": 9000}]}
    r = define(vessel_bin, env, tmp_path, "n", cfg)
    one_line_error(r, 'nets[0]: unknown key "mtu"')
    assert not (st / "lib" / "n.json").exists()
    cfg["nets"] = [{"tap": "tap0", "mac": "52:54:00:12:34:56"}]
    assert define(vessel_bin, env, tmp_path, "n", cfg).returncode == 0
    saved = (st / "lib" / "n.json").read_text()
    assert '"tap":"tap0"' in saved.replace(" ", "") and "52:54:00:12:34:56" in saved, saved


# ---- item 10: names from an image cannot reach the terminal raw -------------

BACKING = b"x\x1b]0;owned\x07\x1b[2J\tq\x80\xff\xc3\xa9\xc2\x9b\\"
SNAP = b"s\x1b[31m\x01\x7f\xf0\x9f\x98\x80"


def has_controls(text):
    """Bytes a terminal acts on: C0 controls but newline, DEL, C1 controls."""
    return any((c < 0x20 and c != 0x0a) or c == 0x7f for c in text) or \
        b"\xc2\x9b" in text or b"\x1b" in text


@pytest.mark.skipif(not QEMU_IMG, reason="qemu-img not installed")
def test_info_escapes_image_names(vessel_bin, tmp_path):
    a = tmp_path / "a.qcow2"
    b = tmp_path / "b.qcow2"
    r = subprocess.run([QEMU_IMG, "create", "-q", "-f", "qcow2", "-u", "-b", BACKING, "-F",
                        "raw", a, "1M"], capture_output=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([QEMU_IMG, "create", "-q", "-f", "qcow2", b, "1M"], capture_output=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([QEMU_IMG, "snapshot", "-c", SNAP, b], capture_output=True)
    assert r.returncode == 0, r.stderr

    def out(*args):
        p = subprocess.run([vessel_bin, "img", *map(str, args)], capture_output=True,
                           timeout=20)
        assert p.returncode == 0, p.stderr
        return p.stdout

    human = out("info", a)
    assert not has_controls(human), human
    assert b"backing file: x\\x1b]0;owned\\x07\\x1b[2J\\x09q\\x80\\xff\xc3\xa9\\xc2\\x9b\\\\ " \
        b"(actual path: " in human, human
    for text in (out("info", b), out("snapshot", "-l", b)):
        assert not has_controls(text), text
        assert b"s\\x1b[31m\\x01\\x7f\xf0\x9f\x98\x80" in text, text

    # JSON: valid, pure ASCII, the strings exactly as qemu-img writes them.
    for img in (a, b):
        vj = out("info", "--output", "json", img)
        assert all(c < 0x80 for c in vj) and not has_controls(vj.replace(b"\n", b""))
        qj = subprocess.run([QEMU_IMG, "info", "--output", "json", img],
                            capture_output=True).stdout
        v, q = json.loads(vj), json.loads(qj)
        for k in ("backing-filename", "full-backing-filename"):
            assert v.get(k) == q.get(k)
        assert [s["name"] for s in v.get("snapshots", [])] == \
            [s["name"] for s in q.get("snapshots", [])]
        # Byte for byte, each escaped string is qemu-img's.
        for line in vj.decode().splitlines():
            if '"backing-filename"' in line or '"name"' in line:
                assert line.strip() in qj.decode(), line
    v = json.loads(out("info", "--output", "json", a))
    assert v["backing-filename"] == "x\x1b]0;owned\x07\x1b[2J\tq\ufffd\ufffd\u00e9\u009b\\"
