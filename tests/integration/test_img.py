# `vessel img` end to end, and interoperability with qemu-img (Debian's
# qemu-utils) in both directions: images qemu-img makes are read and
# written correctly by vessel, images vessel writes pass `qemu-img check`
# and `qemu-img compare`.  Every test works in tmp_path and is bounded
# in time by run()'s timeout.
import hashlib
import json
import os
import pty
import re
import shutil
import struct
import subprocess

import pytest

from conftest import run

QEMU_IMG = shutil.which("qemu-img")
QEMU_IO = shutil.which("qemu-io")

need_qemu = pytest.mark.skipif(not (QEMU_IMG and QEMU_IO),
                               reason="qemu-img/qemu-io not installed (qemu-utils)")

GiB = 1 << 30
MiB = 1 << 20


def vimg(vessel_bin, *args, timeout=120, check=True):
    r = run([vessel_bin, "img", *map(str, args)], timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"vessel img {args} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def qimg(*args, timeout=120, check=True):
    r = run([QEMU_IMG, *map(str, args)], timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"qemu-img {args} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r


def qio(img, *cmds, fmt="qcow2"):
    args = [QEMU_IO, "-f", fmt]
    for c in cmds:
        args += ["-c", c]
    r = run(args + [str(img)], timeout=60)
    assert r.returncode == 0 and "error" not in r.stdout.lower(), r.stdout + r.stderr


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MiB), b""):
            h.update(block)
    return h.hexdigest()


def disk_usage(path):
    return os.stat(path).st_blocks * 512


def write_pattern(path, size, chunks):
    """Sparse raw file of `size` with random data at (offset, length) chunks."""
    with open(path, "wb") as f:
        f.truncate(size)
        for off, length in chunks:
            f.seek(off)
            f.write(os.urandom(length))


def vessel_raw(vessel_bin, img, tmp_path, name="v.raw"):
    out = tmp_path / name
    vimg(vessel_bin, "convert", "-O", "raw", img, out)
    return out


def qemu_raw(img, tmp_path, name="q.raw"):
    out = tmp_path / name
    qimg("convert", "-O", "raw", img, out)
    return out


def assert_same_as_qemu(vessel_bin, img, tmp_path):
    """vessel's reading of img equals qemu-img's, byte for byte."""
    a = vessel_raw(vessel_bin, img, tmp_path)
    b = qemu_raw(img, tmp_path)
    assert os.path.getsize(a) == os.path.getsize(b)
    assert digest(a) == digest(b), "vessel and qemu-img read different data"


def qemu_check_ok(img):
    r = qimg("check", img, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


# ---- create / info / thin provisioning ------------------------------

def test_create_raw_info(vessel_bin, tmp_path):
    img = tmp_path / "a.raw"
    r = vimg(vessel_bin, "create", "-f", "raw", img, "10M")
    assert "Formatting" in r.stdout
    assert os.path.getsize(img) == 10 * MiB
    info = json.loads(vimg(vessel_bin, "info", "--output", "json", img).stdout)
    assert info["format"] == "raw"
    assert info["virtual-size"] == 10 * MiB
    assert info["dirty-flag"] is False
    human = vimg(vessel_bin, "info", img).stdout
    assert "virtual size: 10 MiB (10485760 bytes)" in human
    # qemu-img's size syntax: suffixes and fractions with a suffix.
    for size, want in (("1.5M", 1572864), ("64k", 65536), ("4096", 4096)):
        vimg(vessel_bin, "create", "-q", "-f", "raw", img, size)
        assert os.path.getsize(img) == want, size


@need_qemu
def test_thin_provisioning_100g(vessel_bin, tmp_path):
    img = tmp_path / "big.qcow2"
    vimg(vessel_bin, "create", "-f", "qcow2", img, "100G")
    assert disk_usage(img) < MiB, "a fresh 100G image must take under 1 MiB"
    info = json.loads(qimg("info", "--output", "json", img).stdout)
    assert info["virtual-size"] == 100 << 30
    qemu_check_ok(img)
    # Write 8 MiB of data into it: the file grows by about that much.
    src = tmp_path / "src.raw"
    write_pattern(src, 100 << 30, [(i * (1 << 30), MiB) for i in range(8)])
    vimg(vessel_bin, "convert", "-n", "-O", "qcow2", src, img, timeout=300)
    used = disk_usage(img)
    assert 8 * MiB <= used < 12 * MiB, used
    qemu_check_ok(img)
    assert qimg("compare", "-f", "raw", "-F", "qcow2", src, img, timeout=300).returncode == 0


@need_qemu
@pytest.mark.parametrize("opts,expect", [
    ("cluster_size=4k", {"cluster-size": 4096, "compat": "1.1"}),
    ("cluster_size=2M", {"cluster-size": 2 * MiB}),
    ("compat=0.10", {"compat": "0.10"}),
    ("lazy_refcounts=on", {"lazy-refcounts": True}),
    ("compression_type=zstd", {"compression-type": "zstd"}),
    ("refcount_bits=8", {"refcount-bits": 8}),
])
def test_create_options(vessel_bin, tmp_path, opts, expect):
    img = tmp_path / "o.qcow2"
    vimg(vessel_bin, "create", "-f", "qcow2", "-o", opts, img, "64M")
    info = json.loads(qimg("info", "--output", "json", img).stdout)
    data = info["format-specific"]["data"]
    for k, v in expect.items():
        got = info[k] if k == "cluster-size" else data[k]
        assert got == v, (k, got, v)
    qemu_check_ok(img)
    # vessel's own info agrees with qemu-img's on the keys both print.
    mine = json.loads(vimg(vessel_bin, "info", "--output", "json", img).stdout)
    for k in ("virtual-size", "cluster-size", "format", "dirty-flag"):
        assert mine[k] == info[k], k
    assert mine["format-specific"]["data"] == data


@need_qemu
@pytest.mark.parametrize("mode", ["metadata", "full"])
def test_create_preallocation(vessel_bin, tmp_path, mode):
    img = tmp_path / "p.qcow2"
    vimg(vessel_bin, "create", "-f", "qcow2", "-o", f"preallocation={mode}", img, "32M")
    qemu_check_ok(img)
    if mode == "full":
        assert disk_usage(img) >= 32 * MiB
    m = json.loads(qimg("map", "--output", "json", img).stdout)
    assert all(e["present"] for e in m), "preallocated image has unallocated ranges"
    r = tmp_path / "z.raw"
    qimg("convert", "-O", "raw", img, r)
    with open(r, "rb") as f:
        assert f.read() == bytes(32 * MiB)


# ---- qemu-img -> vessel: reading ------------------------------------

@need_qemu
@pytest.mark.parametrize("compat", ["0.10", "1.1"])
@pytest.mark.parametrize("cluster", ["512", "4k", "64k", "1M"])
def test_read_qemu_images(vessel_bin, tmp_path, compat, cluster):
    img = tmp_path / "q.qcow2"
    qimg("create", "-f", "qcow2", "-o", f"compat={compat},cluster_size={cluster}", img, "48M")
    qio(img, "write -P 0x11 0 1M", "write -P 0x22 5000 70000", "write -P 0x33 47M 1M",
        "write -z 128k 256k", "discard 40M 2M", "write -P 0x44 40M 4k")
    assert_same_as_qemu(vessel_bin, img, tmp_path)


@need_qemu
def test_read_zero_and_discarded_over_backing(vessel_bin, tmp_path):
    base = tmp_path / "base.qcow2"
    top = tmp_path / "top.qcow2"
    qimg("create", "-f", "qcow2", base, "16M")
    qio(base, "write -P 0xaa 0 16M")
    qimg("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
    # Zero clusters in the overlay must hide the backing data; discarded ones
    # read zero too (qcow2 v3 zero flag).
    qio(top, "write -P 0xbb 1M 1M", "write -z 4M 1M", "discard 1M 512k",
        "write -z -u 8M 64k")
    assert_same_as_qemu(vessel_bin, top, tmp_path)
    with open(vessel_raw(vessel_bin, top, tmp_path, "t.raw"), "rb") as f:
        f.seek(4 * MiB)
        assert f.read(MiB) == bytes(MiB)
        f.seek(0)
        assert f.read(4096) == b"\xaa" * 4096


@need_qemu
def test_read_backing_chain(vessel_bin, tmp_path):
    a, b, c = (tmp_path / n for n in ("a.qcow2", "b.qcow2", "c.qcow2"))
    qimg("create", "-f", "qcow2", a, "8M")
    qio(a, "write -P 1 0 8M")
    qimg("create", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", b)
    qio(b, "write -P 2 1M 2M")
    # A raw file as the bottom of another chain, and a smaller backing file.
    qimg("create", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", c, "12M")
    qio(c, "write -P 3 2M 64k", "write -P 4 10M 64k")
    assert_same_as_qemu(vessel_bin, c, tmp_path)
    info = json.loads(vimg(vessel_bin, "info", "--output", "json", "--backing-chain",
                           c).stdout)
    assert [i["filename"] for i in info] == [str(c), str(b), str(a)]
    assert info[0]["backing-filename"] == "b.qcow2"
    assert info[0]["backing-filename-format"] == "qcow2"


@need_qemu
def test_read_compressed(vessel_bin, tmp_path):
    raw = tmp_path / "src.raw"
    with open(raw, "wb") as f:
        for i in range(256):
            f.write((b"vessel %d " % i) * 409 + os.urandom(1000))
        f.truncate(8 * MiB)
    for ctype in ("zlib", "zstd"):
        img = tmp_path / f"c-{ctype}.qcow2"
        qimg("convert", "-c", "-O", "qcow2", "-o", f"compression_type={ctype}", raw, img)
        out = vessel_raw(vessel_bin, img, tmp_path, f"{ctype}.raw")
        assert digest(out) == digest(raw)


@need_qemu
def test_read_internal_snapshots(vessel_bin, tmp_path):
    img = tmp_path / "s.qcow2"
    qimg("create", "-f", "qcow2", img, "8M")
    qio(img, "write -P 1 0 1M")
    qimg("snapshot", "-c", "one", img)
    qio(img, "write -P 2 0 512k", "write -P 3 4M 1M")
    qimg("snapshot", "-c", "two", img)
    qio(img, "write -P 4 0 64k")
    out = vimg(vessel_bin, "snapshot", "-l", img).stdout
    assert "one" in out and "two" in out
    cur = digest(vessel_raw(vessel_bin, img, tmp_path, "cur.raw"))
    assert cur == digest(qemu_raw(img, tmp_path, "qcur.raw"))
    # Revert with vessel; qemu-img must read the snapshot's data.
    vimg(vessel_bin, "snapshot", "-a", "one", img)
    qemu_check_ok(img)
    q = qemu_raw(img, tmp_path, "q1.raw")
    with open(q, "rb") as f:
        assert f.read(MiB) == b"\x01" * MiB
        f.seek(4 * MiB)
        assert f.read(MiB) == bytes(MiB)
    assert_same_as_qemu(vessel_bin, img, tmp_path)


# ---- vessel -> qemu-img: writing ------------------------------------

@need_qemu
@pytest.mark.parametrize("opts", ["compat=0.10", "compat=1.1", "cluster_size=4k",
                                  "cluster_size=2M", "compat=1.1,lazy_refcounts=on"])
def test_convert_to_qcow2_passes_qemu(vessel_bin, tmp_path, opts):
    raw = tmp_path / "src.raw"
    write_pattern(raw, 64 * MiB, [(0, 3 * MiB), (5 * MiB + 512, 70000), (63 * MiB, MiB)])
    img = tmp_path / "out.qcow2"
    vimg(vessel_bin, "convert", "-f", "raw", "-O", "qcow2", "-o", opts, raw, img)
    qemu_check_ok(img)
    assert qimg("compare", "-f", "raw", "-F", "qcow2", raw, img).returncode == 0
    # Sparse: the holes were not written; as small as qemu-img's own output.
    ref = tmp_path / "ref.qcow2"
    qimg("convert", "-f", "raw", "-O", "qcow2", "-o", opts, raw, ref)
    cluster = json.loads(qimg("info", "--output", "json", ref).stdout)["cluster-size"]
    assert disk_usage(img) <= disk_usage(ref) + cluster, (disk_usage(img), disk_usage(ref))


@need_qemu
def test_convert_compressed_output(vessel_bin, tmp_path):
    raw = tmp_path / "src.raw"
    with open(raw, "wb") as f:
        f.write(b"compressible " * (4 * MiB // 13))
        f.truncate(16 * MiB)
    for ctype in ("zlib", "zstd"):
        img = tmp_path / f"c-{ctype}.qcow2"
        vimg(vessel_bin, "convert", "-c", "-O", "qcow2", "-o",
             f"compression_type={ctype}", raw, img)
        qemu_check_ok(img)
        assert qimg("compare", "-f", "raw", "-F", "qcow2", raw, img).returncode == 0
        assert disk_usage(img) < MiB, "compressed output is not smaller"
        chk = json.loads(qimg("check", "--output", "json", img).stdout)
        assert chk.get("compressed-clusters", 0) > 0


@need_qemu
def test_writes_into_qemu_image_with_backing(vessel_bin, tmp_path):
    base = tmp_path / "base.qcow2"
    qimg("create", "-f", "qcow2", base, "16M")
    qio(base, "write -P 0x55 0 16M")
    top = tmp_path / "top.qcow2"
    vimg(vessel_bin, "create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
    info = json.loads(qimg("info", "--output", "json", top).stdout)
    assert info["backing-filename"] == "base.qcow2"
    assert info["virtual-size"] == 16 * MiB
    # Partial-cluster writes through vessel: copy-on-write from the backing file.
    src = tmp_path / "src.raw"
    qimg("convert", "-O", "raw", base, src)
    with open(src, "r+b") as f:
        f.seek(100000)
        f.write(b"\x66" * 5000)
        f.seek(9 * MiB)
        f.write(bytes(MiB))
    vimg(vessel_bin, "convert", "-n", "-O", "qcow2", "-S", "0", src, top)
    qemu_check_ok(top)
    assert qimg("compare", "-f", "raw", "-F", "qcow2", src, top).returncode == 0


@need_qemu
@pytest.mark.parametrize("compat", ["0.10", "1.1"])
def test_zeroes_over_data_and_backing(vessel_bin, tmp_path, compat):
    """convert -n writes zeroes where the target has data or a backing file
    shows through: qcow2 v2 has no zero clusters, v3 does."""
    base = tmp_path / "base.qcow2"
    top = tmp_path / "top.qcow2"
    qimg("create", "-f", "qcow2", "-o", f"compat={compat}", base, "8M")
    qio(base, "write -P 0x31 0 8M")
    qimg("create", "-f", "qcow2", "-o", f"compat={compat}", "-b", "base.qcow2", "-F", "qcow2",
         top)
    qio(top, "write -P 0x32 1M 2M")
    src = tmp_path / "src.raw"
    write_pattern(src, 8 * MiB, [(0, 512 * 1024), (6 * MiB, 4096)])
    vimg(vessel_bin, "convert", "-n", "-O", "qcow2", src, top)
    qemu_check_ok(top)
    assert qimg("compare", "-f", "raw", "-F", "qcow2", src, top).returncode == 0


@need_qemu
@pytest.mark.parametrize("compress", [[], ["-c"]])
def test_convert_with_backing_B(vessel_bin, tmp_path, compress):
    base = tmp_path / "base.qcow2"
    qimg("create", "-f", "qcow2", base, "8M")
    qio(base, "write -P 7 0 8M")
    top = tmp_path / "top.qcow2"
    qimg("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
    qio(top, "write -P 8 1M 64k", "write -z 2M 64k")
    out = tmp_path / "out.qcow2"
    vimg(vessel_bin, "convert", *compress, "-O", "qcow2", "-B", "base.qcow2", "-F", "qcow2",
         top, out)
    qemu_check_ok(out)
    assert qimg("compare", top, out).returncode == 0
    # Only the overlay's clusters were copied.
    m = json.loads(qimg("map", "--output", "json", out).stdout)
    own = sum(e["length"] for e in m if e["depth"] == 0 and e["present"])
    assert own <= 256 * 1024, m


@need_qemu
def test_snapshots_made_by_vessel(vessel_bin, tmp_path):
    img = tmp_path / "s.qcow2"
    vimg(vessel_bin, "create", "-f", "qcow2", img, "8M")
    src = tmp_path / "src.raw"
    write_pattern(src, 8 * MiB, [(0, 2 * MiB)])
    vimg(vessel_bin, "convert", "-n", "-O", "qcow2", src, img)
    vimg(vessel_bin, "snapshot", "-c", "before", img)
    listing = qimg("snapshot", "-l", img).stdout
    assert "before" in listing
    qemu_check_ok(img)
    qio(img, "write -P 9 0 1M")
    vimg(vessel_bin, "snapshot", "-a", "before", img)
    assert qimg("compare", "-f", "raw", "-F", "qcow2", src, img).returncode == 0
    vimg(vessel_bin, "snapshot", "-d", "before", img)
    assert "before" not in qimg("snapshot", "-l", img).stdout
    qemu_check_ok(img)
    r = vimg(vessel_bin, "snapshot", "-a", "nosuch", img, check=False)
    assert r.returncode != 0 and r.stderr.count("\n") == 1


# ---- check ----------------------------------------------------------

def qcow2_l2_table(img):
    """Host offset of the first L2 table of a qcow2 image."""
    with open(img, "rb") as f:
        hdr = f.read(48)
        l1_off = struct.unpack(">Q", hdr[40:48])[0]
        f.seek(l1_off)
        l1 = struct.unpack(">Q", f.read(8))[0]
    return l1 & 0x00fffffffffffe00


@need_qemu
def test_check_clean_leaks_and_corruption(vessel_bin, tmp_path):
    img = tmp_path / "c.qcow2"
    qimg("create", "-f", "qcow2", img, "8M")
    qio(img, "write -P 1 0 128k")
    r = vimg(vessel_bin, "check", img)
    assert "No errors were found on the image." in r.stdout
    js = json.loads(vimg(vessel_bin, "check", "--output", "json", img).stdout)
    assert js["allocated-clusters"] == 2 and js["total-clusters"] == 128

    # Leak: drop the L2 reference of cluster 1 (its refcount stays 1).
    leak = tmp_path / "leak.qcow2"
    shutil.copy(img, leak)
    l2 = qcow2_l2_table(leak)
    with open(leak, "r+b") as f:
        f.seek(l2 + 8)
        f.write(bytes(8))
    assert qimg("check", leak, check=False).returncode == 3
    r = vimg(vessel_bin, "check", leak, check=False)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "1 leaked clusters were found" in r.stdout
    r = vimg(vessel_bin, "check", "-r", "leaks", leak, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    qemu_check_ok(leak)

    # Corruption: two L2 entries share one data cluster with refcount 1.
    bad = tmp_path / "bad.qcow2"
    shutil.copy(img, bad)
    l2 = qcow2_l2_table(bad)
    with open(bad, "r+b") as f:
        f.seek(l2)
        e0 = f.read(8)
        f.seek(l2 + 16)
        f.write(e0)
    assert qimg("check", bad, check=False).returncode == 2
    r = vimg(vessel_bin, "check", bad, check=False)
    assert r.returncode == 2, r.stdout + r.stderr
    r = vimg(vessel_bin, "check", "-r", "all", bad, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    qemu_check_ok(bad)

    raw = tmp_path / "r.raw"
    vimg(vessel_bin, "create", "-f", "raw", raw, "1M")
    assert vimg(vessel_bin, "check", raw, check=False).returncode == 63


# ---- convert --------------------------------------------------------

def test_convert_raw_sparse(vessel_bin, tmp_path):
    src = tmp_path / "a.raw"
    write_pattern(src, 256 * MiB, [(3 * MiB, MiB), (200 * MiB + 4096, 4096)])
    with open(src, "r+b") as f:  # explicit zeroes are not copied either
        f.seek(100 * MiB)
        f.write(bytes(MiB))
    out = tmp_path / "b.raw"
    r = vimg(vessel_bin, "convert", "-O", "raw", src, out)
    assert r.stdout == "", "no progress without -p"
    assert digest(src) == digest(out)
    assert disk_usage(out) < 3 * MiB


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_convert_preallocated_output(vessel_bin, tmp_path, fmt):
    src = tmp_path / "a.raw"
    write_pattern(src, 16 * MiB, [(MiB, MiB)])
    out = tmp_path / "o.img"
    vimg(vessel_bin, "convert", "-O", fmt, "-o", "preallocation=full", src, out)
    assert disk_usage(out) >= 16 * MiB, "zero ranges punched holes into the preallocation"
    back = vessel_raw(vessel_bin, out, tmp_path)
    assert digest(back) == digest(src)


def test_convert_progress_on_terminal(vessel_bin, tmp_path):
    src = tmp_path / "a.raw"
    write_pattern(src, 16 * MiB, [(0, MiB)])
    master, slave = pty.openpty()
    try:
        p = subprocess.run([vessel_bin, "img", "convert", "-p", "-O", "raw", str(src),
                            str(tmp_path / "b.raw")], stdout=slave, stderr=subprocess.PIPE,
                           timeout=60)
        os.close(slave)
        slave = -1
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert p.returncode == 0
    assert b"(100.00/100%)" in out, out


def test_convert_concatenates_inputs(vessel_bin, tmp_path):
    a, b = tmp_path / "a.raw", tmp_path / "b.raw"
    write_pattern(a, MiB + 512, [(0, 1000)])
    write_pattern(b, 2 * MiB, [(MiB, 4096)])
    out = tmp_path / "o.qcow2"
    vimg(vessel_bin, "convert", "-O", "qcow2", a, b, out)
    back = vessel_raw(vessel_bin, out, tmp_path)
    assert open(back, "rb").read() == open(a, "rb").read() + open(b, "rb").read()


# ---- commit / rebase / resize / map / compare -----------------------

@need_qemu
def test_commit(vessel_bin, tmp_path):
    base = tmp_path / "base.qcow2"
    top = tmp_path / "top.qcow2"
    qimg("create", "-f", "qcow2", base, "8M")
    qio(base, "write -P 1 0 8M")
    qimg("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
    qio(top, "write -P 2 1M 1M", "write -z 3M 64k", "write -P 3 7M 4k")
    want = qemu_raw(top, tmp_path, "want.raw")
    r = vimg(vessel_bin, "commit", top)
    assert "Image committed." in r.stdout
    qemu_check_ok(base)
    qemu_check_ok(top)
    assert qimg("compare", "-f", "raw", "-F", "qcow2", want, base).returncode == 0
    assert qimg("compare", "-f", "raw", "-F", "qcow2", want, top).returncode == 0
    m = json.loads(qimg("map", "--output", "json", top).stdout)
    assert not any(e["depth"] == 0 and e["data"] for e in m), "overlay not emptied"
    assert vimg(vessel_bin, "commit", base, check=False).returncode != 0


@need_qemu
def test_commit_into_deeper_base(vessel_bin, tmp_path):
    a, b, c = (tmp_path / n for n in ("a.qcow2", "b.qcow2", "c.qcow2"))
    qimg("create", "-f", "qcow2", a, "8M")
    qio(a, "write -P 1 0 8M")
    qimg("create", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", b)
    qio(b, "write -P 2 1M 1M", "write -z 5M 64k")
    qimg("create", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", c)
    qio(c, "write -P 3 1536k 1M")
    want = qemu_raw(c, tmp_path, "want.raw")
    vimg(vessel_bin, "commit", "-b", a, c)
    qemu_check_ok(a)
    assert qimg("compare", "-f", "raw", "-F", "qcow2", want, a).returncode == 0
    # -b implies -d: the images above keep their data.
    assert qimg("compare", "-f", "raw", "-F", "qcow2", want, c).returncode == 0
    m = json.loads(qimg("map", "--output", "json", c).stdout)
    assert any(e["depth"] == 0 and e["data"] for e in m)
    r = vimg(vessel_bin, "commit", "-b", tmp_path / "nosuch.qcow2", c, check=False)
    one_line_error(r)


@need_qemu
def test_rebase_safe_unsafe_and_flatten(vessel_bin, tmp_path):
    a, b, top = tmp_path / "a.qcow2", tmp_path / "b.qcow2", tmp_path / "top.qcow2"
    qimg("create", "-f", "qcow2", a, "8M")
    qio(a, "write -P 1 0 8M")
    qimg("create", "-f", "qcow2", b, "8M")
    qio(b, "write -P 1 0 4M", "write -P 9 4M 4M")
    qimg("create", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", top)
    qio(top, "write -P 2 0 64k")
    want = digest(qemu_raw(top, tmp_path, "want.raw"))
    vimg(vessel_bin, "rebase", "-b", "b.qcow2", "-F", "qcow2", top)
    info = json.loads(qimg("info", "--output", "json", top).stdout)
    assert info["backing-filename"] == "b.qcow2"
    assert digest(qemu_raw(top, tmp_path, "got.raw")) == want
    qemu_check_ok(top)
    # Only the differing half was copied into the overlay.
    m = json.loads(qimg("map", "--output", "json", top).stdout)
    own = sum(e["length"] for e in m if e["depth"] == 0 and e["data"])
    assert 4 * MiB <= own <= 4 * MiB + 64 * 1024, m
    # -u changes the name only; -b "" flattens.
    vimg(vessel_bin, "rebase", "-u", "-b", "a.qcow2", "-F", "qcow2", top)
    assert json.loads(qimg("info", "--output", "json", top).stdout)["backing-filename"] == \
        "a.qcow2"
    vimg(vessel_bin, "rebase", "-b", "", top)
    info = json.loads(qimg("info", "--output", "json", top).stdout)
    assert "backing-filename" not in info
    assert digest(qemu_raw(top, tmp_path, "flat.raw")) == want
    qemu_check_ok(top)


@need_qemu
@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_resize(vessel_bin, tmp_path, fmt):
    img = tmp_path / f"r.{fmt}"
    vimg(vessel_bin, "create", "-f", fmt, img, "16M")
    assert "Image resized." in vimg(vessel_bin, "resize", img, "+16M").stdout
    assert json.loads(qimg("info", "--output", "json", img).stdout)["virtual-size"] == 32 * MiB
    r = vimg(vessel_bin, "resize", img, "8M", check=False)
    assert r.returncode != 0 and "--shrink" in r.stderr
    r = vimg(vessel_bin, "resize", "--shrink", img, "-8M")
    assert json.loads(qimg("info", "--output", "json", img).stdout)["virtual-size"] == 24 * MiB
    # What qemu-img refuses, refused in one line, the image untouched.
    for args, msg in ((["--shrink", img, "0"], "new image size must be positive"),
                      (["--shrink", img, "-24M"], "new image size must be positive")) + (
                     ((["--shrink", img, str(8 * MiB + 100)],
                       "the new size must be a multiple of 512"),
                      ([img, str(32 * MiB + 100)], "the new size must be a multiple of 512"))
                     if fmt == "qcow2" else ()):
        r = vimg(vessel_bin, "resize", *args, check=False)
        assert r.returncode == 1 and msg in r.stderr, (args, r.stderr)
        one_line_error(r)
        assert json.loads(qimg("info", "--output", "json", img).stdout)["virtual-size"] == \
            24 * MiB
    if fmt == "qcow2":
        qemu_check_ok(img)


@need_qemu
def test_qcow2_shrink_matches_qemu(vessel_bin, tmp_path):
    """resize --shrink of a qcow2 image, as qemu-img does it: data below
    the new end kept, none of it past (not even after growing again),
    the file cut, the metadata clean; a snapshot taken before keeps all of
    its data and its own size; an overlay's backing file is untouched."""
    mine, theirs = tmp_path / "mine.qcow2", tmp_path / "theirs.qcow2"
    qimg("create", "-f", "qcow2", mine, "3G")
    qio(mine, "write -P 0x11 0 1M", "write -P 0x22 1G 2M", f"write -c -P 0x55 {GiB + 2 * MiB} 64k",
        f"write -z {GiB + 4 * MiB} 64k", "write -P 0x33 2G 64k", "write -P 0x44 3071M 1M")
    qimg("snapshot", "-c", "before", mine)
    before = digest(qemu_raw(mine, tmp_path, "before.raw"))
    qio(mine, f"write -P 0x66 {GiB + 512 * 1024} 4k", f"write -P 0x77 {2 * GiB + 65536} 64k")
    shutil.copy(mine, theirs)
    # 1 GiB + 1 MiB + 512: past a cluster boundary, inside an L2 table
    size = GiB + MiB + 512
    length = os.path.getsize(mine)
    assert vimg(vessel_bin, "resize", "--shrink", mine, str(size)).stdout == "Image resized.\n"
    qimg("resize", "--shrink", theirs, str(size))
    qemu_check_ok(mine)
    info = json.loads(qimg("info", "--output", "json", mine).stdout)
    assert info["virtual-size"] == size and info["snapshots"][0]["vm-state-size"] == 0, info
    # the snapshot keeps what was past the cut, so the file stays about as long
    # as qemu-img's (a few clusters more: the zeroed last cluster and its L2
    # table are copies, the snapshot keeps the originals)
    assert os.path.getsize(mine) <= os.path.getsize(theirs) + 4 * 65536, (length, os.path.getsize(mine))
    assert qimg("compare", mine, theirs, check=False).returncode == 0
    # grown again: what was past the cut reads as zeroes, even in the rest
    # of the last cluster kept (where qemu-img leaves the old bytes)
    vimg(vessel_bin, "resize", mine, "3G")
    qio(mine, f"read -P 0 {size} {MiB - 512}", "read -P 0 2G 128k", "read -P 0 3071M 1M",
        "read -P 0x11 0 1M", f"read -P 0x66 {GiB + 512 * 1024} 4k")
    qemu_check_ok(mine)
    # the snapshot from before still has all of it, at its own size
    vimg(vessel_bin, "snapshot", "-a", "before", mine)
    assert digest(qemu_raw(mine, tmp_path, "after.raw")) == before
    qemu_check_ok(mine)

    # An overlay shrinks, its backing file not written; grown again, the
    # new area reads as zeroes, not as the backing file (qemu-img zeroes it).
    base, top, ref = tmp_path / "base.qcow2", tmp_path / "top.qcow2", tmp_path / "ref.qcow2"
    qimg("create", "-f", "qcow2", base, "64M")
    qio(base, "write -P 1 0 64M")
    qimg("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
    qio(top, "write -P 2 60M 4M", "write -P 3 16M 1M")
    shutil.copy(top, ref)
    want = digest(base)
    vimg(vessel_bin, "resize", "--shrink", top, "32M")
    qimg("resize", "--shrink", ref, "32M")
    assert digest(base) == want
    qemu_check_ok(top)
    qio(top, "read -P 1 0 16M", "read -P 3 16M 1M", "read -P 1 17M 15M")
    for grow in ("64M", "100M"):
        vimg(vessel_bin, "resize", top, grow)
        qimg("resize", ref, grow)
        assert qimg("compare", top, ref, check=False).returncode == 0, grow
        qemu_check_ok(top)
    qio(top, "read -P 0 32M 68M")

    # v2 (compat=0.10) images shrink too.
    v2 = tmp_path / "v2.qcow2"
    qimg("create", "-f", "qcow2", "-o", "compat=0.10", v2, "256M")
    qio(v2, "write -P 9 0 256M")
    vimg(vessel_bin, "resize", "--shrink", v2, "100M")
    qemu_check_ok(v2)
    qio(v2, "read -P 9 0 100M")
    assert os.path.getsize(v2) < 110 * MiB


def merged(entries):
    """Entries of a map reduced to the properties both tools report."""
    out = []
    for e in entries:
        key = (e["depth"], e["present"], e["zero"], e["data"])
        if out and out[-1][0] == key and out[-1][1] + out[-1][2] == e["start"]:
            out[-1][2] += e["length"]
        else:
            out.append([key, e["start"], e["length"]])
    return out


@need_qemu
def test_map_matches_qemu(vessel_bin, tmp_path):
    base = tmp_path / "base.qcow2"
    top = tmp_path / "top.qcow2"
    qimg("create", "-f", "qcow2", base, "16M")
    qio(base, "write -P 1 0 2M")
    qimg("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
    qio(top, "write -P 2 64k 64k", "write -z 1M 128k", "write -P 3 12M 1M")
    mine = json.loads(vimg(vessel_bin, "map", "--output", "json", top).stdout)
    theirs = json.loads(qimg("map", "--output", "json", top).stdout)
    assert merged(mine) == merged(theirs)
    human = vimg(vessel_bin, "map", top).stdout.splitlines()
    assert human[0].split() == ["Offset", "Length", "Mapped", "to", "File"]
    assert any(line.endswith("base.qcow2") for line in human[1:])


@need_qemu
def test_compare(vessel_bin, tmp_path):
    a = tmp_path / "a.raw"
    write_pattern(a, 4 * MiB, [(MiB, 4096)])
    q = tmp_path / "a.qcow2"
    qimg("convert", "-O", "qcow2", a, q)
    assert vimg(vessel_bin, "compare", a, q).returncode == 0
    qio(q, "write -P 5 2M 512")
    r = vimg(vessel_bin, "compare", a, q, check=False)
    assert r.returncode == 1 and "mismatch at offset 2097152" in r.stdout



@need_qemu
def test_compare_strict_matches_qemu(vessel_bin, tmp_path):
    """-s: allocation and zero status must agree too (qemu-img's strict
    mode), with qemu-img's exit status and message on the same pairs."""
    def q(name, *cmds):
        img = tmp_path / name
        qimg("create", "-q", "-f", "qcow2", img, "4M")
        if cmds:
            qio(img, *cmds)
        return img
    empty, zeroed, written0 = q("e.qcow2"), q("z.qcow2", "write -z 0 64k"), q("w.qcow2", "write -P 0 0 64k")
    data = q("d.qcow2", "write -P 5 1M 64k")
    copy = tmp_path / "copy.qcow2"
    qimg("convert", "-O", "qcow2", data, copy)
    rawcopy = tmp_path / "d.raw"
    qimg("convert", "-O", "raw", data, rawcopy)
    small = tmp_path / "small.qcow2"
    qimg("create", "-q", "-f", "qcow2", small, "2M")
    for x, y in ((empty, zeroed), (empty, written0), (zeroed, written0), (data, copy),
                 (data, rawcopy), (empty, empty), (empty, small)):
        theirs = qimg("compare", "-s", x, y, check=False)
        mine = vimg(vessel_bin, "compare", "-s", x, y, check=False)
        assert (mine.returncode, mine.stdout) == (theirs.returncode, theirs.stdout), (x, y)
    # Without -s, what reads back is all that counts.
    assert vimg(vessel_bin, "compare", empty, zeroed).returncode == 0


@need_qemu
def test_rebase_unsafe_does_not_open_the_new_backing(vessel_bin, tmp_path):
    top = tmp_path / "top.qcow2"
    qimg("create", "-q", "-f", "qcow2", top, "1M")
    # The new backing file need not exist (it may be on another host).
    vimg(vessel_bin, "rebase", "-u", "-b", "elsewhere.qcow2", "-F", "qcow2", top)
    info = json.loads(qimg("info", "--output", "json", top).stdout)
    assert (info["backing-filename"], info["backing-filename-format"]) == \
        ("elsewhere.qcow2", "qcow2")
    # Without -F there is nothing to take the format from: refused as
    # qemu-img refuses it, and the header is left as it was.
    for tool in (lambda *a: qimg(*a, check=False), lambda *a: vimg(vessel_bin, *a, check=False)):
        assert tool("rebase", "-u", "-b", "other.raw", top).returncode == 1
    one_line_error(vimg(vessel_bin, "rebase", "-u", "-b", "other.raw", top, check=False))
    assert json.loads(qimg("info", "--output", "json", top).stdout)["backing-filename"] == \
        "elsewhere.qcow2"


@need_qemu
@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_create_empty_image(vessel_bin, tmp_path, fmt):
    """`create X 0` makes a 0-byte image, as qemu-img does; -o size=0 too."""
    mine, theirs = tmp_path / f"v.{fmt}", tmp_path / f"q.{fmt}"
    out = vimg(vessel_bin, "create", "-f", fmt, mine, "0").stdout
    assert out == qimg("create", "-f", fmt, theirs, "0").stdout.replace("q." + fmt, "v." + fmt)
    assert json.loads(qimg("info", "--output", "json", mine).stdout)["virtual-size"] == 0
    if fmt == "qcow2":
        qemu_check_ok(mine)
    vimg(vessel_bin, "create", "-q", "-f", fmt, "-o", "size=0", mine)
    assert json.loads(qimg("info", "--output", "json", mine).stdout)["virtual-size"] == 0
    # cluster_size= is not a size: still "missing image size".
    if fmt == "qcow2":
        one_line_error(vimg(vessel_bin, "create", "-f", fmt, "-o", "cluster_size=4k",
                            tmp_path / "n.qcow2", check=False))


@need_qemu
def test_progress_into_a_pipe_as_qemu_img(vessel_bin, tmp_path):
    """-p draws into a pipe as well (qemu-img does); without -p, nothing."""
    src = tmp_path / "s.raw"
    write_pattern(src, 4 * MiB, [(0, MiB)])
    mine = vimg(vessel_bin, "convert", "-p", "-O", "qcow2", src, tmp_path / "v.qcow2").stdout
    theirs = qimg("convert", "-p", "-O", "qcow2", src, tmp_path / "q.qcow2").stdout
    # The same lines; qemu-img may repeat the 100 % one.  (run() reads
    # text: the bar's carriage returns arrive as newlines.)
    assert mine.startswith("    (0.00/100%)\n") and mine.endswith("    (100.00/100%)\n"), mine
    assert set(mine.split("\n")) == set(theirs.split("\n")), (mine, theirs)
    assert vimg(vessel_bin, "convert", "-O", "qcow2", src, tmp_path / "w.qcow2").stdout == ""


@need_qemu
def test_snapshot_listing_as_qemu_img(vessel_bin, tmp_path):
    """snapshot -l and info print the table as qemu-img does: ICOUNT is
    what the snapshot recorded, blank where it recorded none (the qcow2
    spec's extra data under 24 bytes); JSON leaves it out there."""
    img = tmp_path / "s.qcow2"
    qimg("create", "-q", "-f", "qcow2", img, "8M")
    qimg("snapshot", "-c", "by-qemu", img)
    vimg(vessel_bin, "snapshot", "-c", "by-vessel", img)
    assert vimg(vessel_bin, "snapshot", "-l", img).stdout == qimg("snapshot", "-l", img).stdout
    assert vimg(vessel_bin, "info", img).stdout == qimg("info", img).stdout
    mine = json.loads(vimg(vessel_bin, "info", "--output", "json", img).stdout)["snapshots"]
    theirs = json.loads(qimg("info", "--output", "json", img).stdout)["snapshots"]
    # qemu-img records an icount of 0; vessel records none (blank).
    assert mine == theirs and mine[0]["icount"] == 0 and "icount" not in mine[1], mine



@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_create_options_help(vessel_bin, tmp_path, fmt):
    """`create -o help` lists the options in qemu-img's layout, and create
    takes each option it lists (no file name needed for the listing)."""
    out = vimg(vessel_bin, "create", "-f", fmt, "-o", "help").stdout.splitlines()
    assert out[0] == f"Supported {fmt} options:"
    keys = [line.split("=")[0].strip() for line in out[1:]]
    assert "size" in keys and ("cluster_size" in keys) == (fmt == "qcow2"), keys
    sample = {"backing_file": None, "backing_fmt": None, "cluster_size": "4k", "compat": "0.10",
              "compression_type": "zstd", "lazy_refcounts": "on", "preallocation": "falloc",
              "refcount_bits": "8", "size": "1M"}
    for k in keys:
        if sample[k] is None:
            continue  # the backing file options: covered by the -b tests
        opt = f"{k}={sample[k]}" + ("" if k == "size" else ",size=1M")
        if k in ("compression_type", "lazy_refcounts", "refcount_bits"):
            opt += ",compat=1.1"
        vimg(vessel_bin, "create", "-q", "-f", fmt, "-o", opt, tmp_path / f"o-{k}.{fmt}")
    assert vimg(vessel_bin, "create", "-f", fmt, "-o", "?").stdout.splitlines() == out



@need_qemu
def test_measure_matches_qemu(vessel_bin, tmp_path):
    """img measure prints qemu-img measure's figures: --size alone and from
    images with data, zeroes, a backing chain, for raw and qcow2 targets
    and the qcow2 options that change the layout."""
    base, top = tmp_path / "base.qcow2", tmp_path / "top.qcow2"
    qimg("create", "-q", "-f", "qcow2", base, "64M")
    qio(base, "write -P 1 0 3M", "write -P 2 40M 100k", "write -z 50M 8M")
    qimg("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
    qio(top, "write -P 3 10M 1M", "write -P 4 63M 4k")
    raw = tmp_path / "d.raw"
    qimg("convert", "-O", "raw", top, raw)
    cases = [["--size", s, "-O", f] for s in ("0", "1", "10G", "100T") for f in ("raw", "qcow2")]
    cases += [["-O", "qcow2", "-o", o, "--size", "3G"] for o in (
        "cluster_size=512", "cluster_size=4k,refcount_bits=1", "cluster_size=2M,refcount_bits=64",
        "compat=0.10", "preallocation=metadata", "preallocation=full")]
    for img in (base, top, raw):
        cases += [["-O", "qcow2", img], ["-O", "raw", img], ["-O", "qcow2", "-o",
                  "cluster_size=4k", img], ["-O", "qcow2", "-o", "preallocation=falloc", img],
                  ["-O", "qcow2", "-o", "compat=0.10", img]]
    for args in cases:
        mine = vimg(vessel_bin, "measure", *args).stdout
        assert mine == qimg("measure", *args).stdout, args
        mine = json.loads(vimg(vessel_bin, "measure", "--output", "json", *args).stdout)
        assert mine == json.loads(qimg("measure", "--output", "json", *args).stdout), args
    # The required size holds the converted image.
    out = tmp_path / "out.qcow2"
    vimg(vessel_bin, "convert", "-O", "qcow2", top, out)
    need = json.loads(vimg(vessel_bin, "measure", "--output", "json", "-O", "qcow2", top).stdout)
    assert os.path.getsize(out) <= need["required"], (os.path.getsize(out), need)
    for bad in (["--size", "1G", top], [], ["--size", "12Q"], ["-O", "vmdk", "--size", "1G"],
                ["--output", "xml", "--size", "1G"]):
        one_line_error(vimg(vessel_bin, "measure", *bad, check=False))



@need_qemu
def test_amend_compat_and_lazy_refcounts(vessel_bin, tmp_path):
    """img amend changes compat and lazy_refcounts in place; qemu-img reads
    the result, checks it clean and sees the same data; what it cannot
    change safely is refused with one line and the image untouched."""
    img = tmp_path / "a.qcow2"
    qimg("create", "-q", "-f", "qcow2", "-o", "compat=0.10", img, "8M")
    qio(img, "write -P 7 0 1M", "write -P 8 5M 64k")
    want = digest(qemu_raw(img, tmp_path, "want.raw"))

    def info():
        d = json.loads(qimg("info", "--output", "json", img).stdout)["format-specific"]["data"]
        return d["compat"], d.get("lazy-refcounts")
    for opts, expect in (("compat=1.1", ("1.1", False)), ("lazy_refcounts=on", ("1.1", True)),
                         ("lazy_refcounts=off,compat=0.10", ("0.10", None)),
                         ("compat=1.1,lazy_refcounts=on", ("1.1", True))):
        vimg(vessel_bin, "amend", "-o", opts, img)
        assert info() == expect, opts
        qemu_check_ok(img)
        assert digest(qemu_raw(img, tmp_path, "got.raw")) == want, opts
    # Writes through lazy refcounts, then off: clean, refcounts right.
    qio(img, "write -P 9 6M 64k")
    vimg(vessel_bin, "amend", "-o", "lazy_refcounts=off", img)
    assert info() == ("1.1", False)
    qemu_check_ok(img)
    # Refused, image untouched: a layout option, lazy refcounts on v2, a
    # bad compat, no options.
    zero = tmp_path / "z.qcow2"
    qimg("create", "-q", "-f", "qcow2", zero, "8M")
    qio(zero, "write -z 0 64k")
    before = zero.read_bytes()
    for args in (["-o", "cluster_size=4k", zero], ["-o", "compat=0.10,lazy_refcounts=on", zero],
                 ["-o", "compat=2", zero], [zero]):
        one_line_error(vimg(vessel_bin, "amend", *args, check=False))
    assert zero.read_bytes() == before
    raw = tmp_path / "r.raw"
    raw.write_bytes(bytes(4096))
    one_line_error(vimg(vessel_bin, "amend", "-o", "compat=1.1", raw, check=False))


@need_qemu
@pytest.mark.parametrize("backing", [False, True])
def test_amend_downgrade_writes_out_zero_clusters(vessel_bin, tmp_path, backing):
    """compat=0.10 of an image with zero clusters, in the active image and in
    its snapshots (version 2 has no zero flag), as qemu-img amend does it:
    the same data, checked clean, every snapshot intact; then compat=1.1
    again gives the snapshots version 3 entries."""
    mine, theirs = tmp_path / "mine.qcow2", tmp_path / "theirs.qcow2"
    opts = []
    if backing:
        base = tmp_path / "base.qcow2"
        qimg("create", "-q", "-f", "qcow2", base, "16M")
        qio(base, "write -P 0x5a 0 16M")
        opts = ["-b", "base.qcow2", "-F", "qcow2"]
    qimg("create", "-q", "-f", "qcow2", *opts, mine, "16M")
    # allocated-zero (was data), unallocated-zero, data, a compressed cluster
    qio(mine, "write -P 1 0 1M", "write -z 512k 128k", "write -z -u 2M 1M", "write -P 2 4M 64k",
        "write -c -P 3 6M 64k")
    qimg("snapshot", "-c", "s1", mine)
    qio(mine, "write -z 4M 64k", "write -z 8M 1M", "write -P 4 2M 64k")
    shutil.copy(mine, theirs)
    want = digest(qemu_raw(mine, tmp_path, "want.raw"))
    vimg(vessel_bin, "amend", "-o", "compat=0.10", mine)
    qimg("amend", "-o", "compat=0.10", theirs)
    d = json.loads(qimg("info", "--output", "json", mine).stdout)
    assert d["format-specific"]["data"]["compat"] == "0.10" and len(d["snapshots"]) == 1, d
    qemu_check_ok(mine)
    assert digest(qemu_raw(mine, tmp_path, "got.raw")) == want
    assert qimg("compare", mine, theirs, check=False).returncode == 0
    # no zero flag is left anywhere: qemu-img's map of v2 shows none allocated-zero
    m = json.loads(qimg("map", "--output", "json", mine).stdout)
    assert not [e for e in m if e["depth"] == 0 and e["zero"] and e["present"] and
                not backing], m
    # each snapshot reads as before, in both images
    for img in (mine, theirs):
        c = tmp_path / f"c-{img.name}"
        shutil.copy(img, c)
        qimg("snapshot", "-a", "s1", c)
        qemu_check_ok(c)
    assert qimg("compare", tmp_path / "c-mine.qcow2", tmp_path / "c-theirs.qcow2",
                check=False).returncode == 0
    # and back: the snapshot entries get version 3's extra data
    vimg(vessel_bin, "amend", "-o", "compat=1.1", mine)
    d = json.loads(qimg("info", "--output", "json", mine).stdout)
    assert d["format-specific"]["data"]["compat"] == "1.1", d
    qemu_check_ok(mine)
    assert digest(qemu_raw(mine, tmp_path, "got3.raw")) == want
    vimg(vessel_bin, "snapshot", "-a", "s1", mine)
    qemu_check_ok(mine)
    assert qimg("compare", mine, tmp_path / "c-theirs.qcow2", check=False).returncode == 0


# ---- bad input -------------------------------------------------------

def one_line_error(r):
    assert r.returncode > 0, f"rc {r.returncode} (crash?)\n{r.stderr}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("vessel"), r.stderr


@pytest.mark.parametrize("args", [
    ["info", "/nonexistent/x.qcow2"],
    ["create", "-f", "qcow2", "{d}/x.qcow2"],
    ["create", "-f", "qcow2", "{d}/x.qcow2", "12Q"],
    ["create", "-f", "vmdk", "{d}/x.img", "1M"],
    ["create", "-f", "raw", "-b", "{d}/base", "{d}/x.img", "1M"],
    ["create", "-f", "qcow2", "-o", "cluster_size=3000", "{d}/x.qcow2", "1M"],
    ["create", "-f", "qcow2", "-o", "bogus=1", "{d}/x.qcow2", "1M"],
    ["create", "-f", "qcow2", "-b", "{d}/missing.qcow2", "{d}/x.qcow2"],
    ["frobnicate"],
    ["convert", "--bogus", "a", "b"],
    ["convert", "-c", "-O", "raw", "{d}/garbage", "{d}/o"],
    ["info", "-f", "qcow2", "{d}/garbage"],
    ["map", "--output", "xml", "{d}/garbage"],
])
def test_bad_arguments(vessel_bin, tmp_path, args):
    (tmp_path / "garbage").write_bytes(b"this is not an image\n" * 100)
    r = vimg(vessel_bin, *[a.format(d=tmp_path) for a in args], check=False)
    one_line_error(r)


def qcow2_header(**fields):
    """A v3 qcow2 header with chosen fields overridden (offsets per qcow2.txt)."""
    hdr = bytearray(4096)
    layout = {"magic": (0, ">I", 0x514649fb), "version": (4, ">I", 3),
              "backing_off": (8, ">Q", 0), "backing_len": (16, ">I", 0),
              "cluster_bits": (20, ">I", 16), "size": (24, ">Q", 1 << 30),
              "crypt": (32, ">I", 0), "l1_size": (36, ">I", 2),
              "l1_off": (40, ">Q", 0x30000), "rc_off": (48, ">Q", 0x10000),
              "rc_clusters": (56, ">I", 1), "nb_snapshots": (60, ">I", 0),
              "snapshots_off": (64, ">Q", 0), "incompat": (72, ">Q", 0),
              "compat": (80, ">Q", 0), "autoclear": (88, ">Q", 0),
              "refcount_order": (96, ">I", 4), "header_len": (100, ">I", 104)}
    for name, (off, f, default) in layout.items():
        struct.pack_into(f, hdr, off, fields.get(name, default))
    return bytes(hdr)


@pytest.mark.parametrize("fields", [
    {"cluster_bits": 40},
    {"cluster_bits": 5},
    {"l1_size": 0xffffffff},
    {"l1_off": 0xffffffffffff0000},
    {"rc_off": 0x123},
    {"size": 1 << 62},
    {"crypt": 1},
    {"incompat": 0x80},
    {"backing_off": 0x200, "backing_len": 100000},
    {"nb_snapshots": 70000, "snapshots_off": 0x20000},
    {"header_len": 3},
    {"refcount_order": 9},
])
def test_malicious_qcow2_headers(vessel_bin, tmp_path, fields):
    img = tmp_path / "evil.qcow2"
    img.write_bytes(qcow2_header(**fields) + bytes(0x40000))
    for args in (["info", img], ["check", img], ["map", img],
                 ["convert", "-O", "raw", img, tmp_path / "o.raw"]):
        r = vimg(vessel_bin, *args, check=False, timeout=30)
        assert r.returncode > 0, f"{args}: rc {r.returncode}\n{r.stderr}"
        assert r.stderr.strip(), f"{args}: no error message"
        assert "AddressSanitizer" not in r.stderr and "runtime error" not in r.stderr


def test_truncated_and_fuzzed_qcow2(vessel_bin, tmp_path):
    """Random damage to a valid image: vessel may refuse it, never crash."""
    img = tmp_path / "ok.qcow2"
    vimg(vessel_bin, "create", "-f", "qcow2", img, "4M")
    src = tmp_path / "s.raw"
    write_pattern(src, 4 * MiB, [(0, 256 * 1024)])
    vimg(vessel_bin, "convert", "-n", "-O", "qcow2", src, img)
    good = img.read_bytes()
    rnd = __import__("random").Random(1234)
    for i in range(40):
        bad = bytearray(good[: rnd.choice([72, 104, 512, 65536, len(good)])])
        for _ in range(8):
            pos = rnd.randrange(min(len(bad), 0x50000))
            bad[pos] = rnd.randrange(256)
        p = tmp_path / f"f{i}.qcow2"
        p.write_bytes(bytes(bad))
        r = vimg(vessel_bin, "convert", "-f", "qcow2", "-O", "raw", p, tmp_path / "o.raw",
                 check=False, timeout=30)
        assert r.returncode >= 0, f"case {i}: killed by signal {-r.returncode}"
        if r.returncode:
            assert r.stderr.strip()


def test_unknown_qcow2_version_is_not_raw(vessel_bin, tmp_path):
    """qcow2 magic with a version we do not read: refused by name, never
    probed as raw (which would expose the metadata as disk contents)."""
    img = tmp_path / "v4.qcow2"
    qimg("create", "-q", "-f", "qcow2", str(img), "1M")
    with open(img, "r+b") as f:
        f.seek(4)
        f.write(struct.pack(">I", 4))
    r = vimg(vessel_bin, "info", str(img), check=False)
    assert r.returncode != 0
    assert "unsupported version 4" in r.stderr
    assert "file format: raw" not in r.stdout


@need_qemu
@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_bench_matches_qemu(vessel_bin, tmp_path, fmt):
    """img bench prints what qemu-img bench prints, and writes where it
    writes: the same offsets (step, start, the wrap before the end), the
    same pattern, the same count, so the two images come out equal."""
    cases = [["-c", "300", "-s", "4096", "-S", "8192", "--pattern", "17"],
             ["-c", "15", "-s", "65536", "-o", str(123 * 512), "--pattern", "99", "-d", "3"],
             ["-c", "40", "-s", "512", "-S", "1048576", "--pattern", "200", "--flush-interval", "7",
              "-d", "7"],
             ["-c", "64", "-d", "4", "-s", "1048576", "--pattern", "5", "--no-drain",
              "--flush-interval", "8"]]
    for args in cases:
        mine, theirs = tmp_path / f"m.{fmt}", tmp_path / f"t.{fmt}"
        for img in (mine, theirs):
            img.unlink(missing_ok=True)
            qimg("create", "-q", "-f", fmt, img, "1M" if "1048576" not in args else "3M")
        v = vimg(vessel_bin, "bench", "-f", fmt, "-w", *args, mine)
        q = qimg("bench", "-f", fmt, "-w", *args, theirs)
        assert v.stdout.splitlines()[:-1] == q.stdout.splitlines()[:-1], (v.stdout, q.stdout)
        assert re.fullmatch(r"Run completed in \d+\.\d{3} seconds\.", v.stdout.splitlines()[-1])
        assert qimg("compare", "-f", fmt, "-F", fmt, mine, theirs, check=False).returncode == 0, args
        if fmt == "qcow2":
            qemu_check_ok(mine)
    # reads, of the image just written; -q prints nothing
    r = vimg(vessel_bin, "bench", "-f", fmt, "-c", "1000", "-q", mine)
    assert r.stdout == "" and r.returncode == 0
    r = vimg(vessel_bin, "bench", "-f", fmt, "-c", "100", "-n", mine)
    assert r.stdout.startswith("Sending 100 read requests, 4096 bytes each, 64 in parallel")
    for bad, msg in ((["-c", "0"], "count must be positive"), (["-d", "5000"], "queue depth"),
                     (["--flush-interval", "3"], "only available in write tests"),
                     (["-w", "--flush-interval", "3"], "can't be smaller than the depth"),
                     (["-s", "1x"], "buffer size")):
        r = vimg(vessel_bin, "bench", "-f", fmt, *bad, mine, check=False)
        assert r.returncode == 1 and msg in r.stderr, (bad, r.stderr)
        one_line_error(r)
