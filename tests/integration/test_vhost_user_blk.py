# vessel vhost-user-blk against real clients.
#
# The real-driver lane runs on every host (no KVM needed): QEMU in TCG
# mode boots Debian's cloud kernel with a busybox initramfs, and Linux's
# own virtio-blk driver drives vessel's virtqueue and virtio-blk code
# through vhost-user-blk-pci over memfd shared memory.  The checks run in
# the guest (tests/vhost/check.sh) and report on the serial console; the
# host then checks the images (qemu-img check, files read back with
# debugfs, the read-only disk untouched, the qcow2 overlay's content).
# Also: malformed messages close the connection and the backend keeps
# serving; a second guest finds what the first wrote (reconnect).
import hashlib
import os
import pathlib
import re
import shutil
import socket
import struct
import subprocess
import sys
import time

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tests" / "vhost"))
import lane  # noqa: E402

GUEST_TIMEOUT = 150


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    reason = lane.missing_tools()
    if reason:
        pytest.skip(reason)
    d = tmp_path_factory.mktemp("vhost-guest")
    try:
        kernel = lane.build_initramfs(d / "check.img", ROOT / "tests" / "vhost" / "check.sh")
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"cannot build the Linux guest: {e}")
    return kernel, d / "check.img"


@pytest.fixture
def backends(vessel_bin):
    started = []

    def start(sock, spec, log):
        b = lane.Backend.vessel(vessel_bin, sock, spec, log)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def test_linux_guest_real_driver(guest, backends, tmp_path):
    """ext4, checksummed files, fstrim, a read-only disk and a qcow2 overlay from Linux's driver."""
    kernel, initrd = guest
    rw = tmp_path / "rw.raw"
    with open(rw, "wb") as f:
        f.truncate(128 << 20)
    ro = tmp_path / "ro.raw"
    ro.write_bytes(bytes((i * 7) & 255 for i in range(1 << 20)) * 4)
    ro_sum = sha256(ro.read_bytes())
    base = tmp_path / "base.raw"
    base_head = os.urandom(1 << 20)
    with open(base, "wb") as f:
        f.write(base_head)
        f.truncate(64 << 20)
    ov = tmp_path / "ov.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "raw",
                    str(ov), "64M"], check=True, timeout=30)
    socks = [tmp_path / "rw.sock", tmp_path / "ro.sock", tmp_path / "qc.sock"]
    bs = [backends(socks[0], f"path={rw},format=raw,serial=rw", tmp_path / "rw.log"),
          backends(socks[1], f"path={ro},format=raw,readonly=on,serial=ro", tmp_path / "ro.log"),
          backends(socks[2], f"path={ov},format=qcow2,serial=qcow", tmp_path / "qc.log")]

    t0 = time.monotonic()
    rc, out = lane.run_guest(kernel, initrd, socks, GUEST_TIMEOUT)
    took = time.monotonic() - t0
    logs = "\n".join(p.read_text() for p in tmp_path.glob("*.log"))
    ctx = f"guest output:\n{out[-6000:]}\nbackend logs:\n{logs[-3000:]}"
    assert rc == 0, f"QEMU exited with {rc} after {took:.0f} s\n{ctx}"
    assert "VHOST-DISKS rw=/dev/vd" in out, ctx
    fails = [line for line in out.splitlines() if "VHOST-CHECK" in line and " FAIL " in line]
    assert not fails, ctx
    for check in ("mkfs", "readback", "fstrim", "ro-flag", "ro-write", "qcow-rw",
                  "qcow-discard"):
        assert f"VHOST-CHECK {check} ok" in out, f"check {check} missing\n{ctx}"
    assert "VHOST-ALL-OK" in out, ctx
    assert not lane.kernel_errors(out), f"guest kernel errors: {lane.kernel_errors(out)}\n{ctx}"
    # The backends served the whole run and stop cleanly.
    for b in bs:
        assert b.alive(), ctx
        assert b.stop() == 0, ctx

    # Read-only disk: the guest read the pattern; nothing changed it.
    m = re.search(r"VHOST-RO-SUM (\w+)", out)
    assert m and m.group(1) == sha256(ro.read_bytes()[:4 << 20]), ctx
    assert sha256(ro.read_bytes()) == ro_sum

    # The ext4 image: every file reads back on the host with the guest's checksum.
    debugfs = shutil.which("debugfs") or "/usr/sbin/debugfs"
    files = re.findall(r"VHOST-FILE (\S+) (\w+)", out)
    assert len(files) == 5, ctx
    for name, digest in files:
        dst = tmp_path / f"out-{name}"
        subprocess.run([debugfs, "-R", f"dump /{name} {dst}", str(rw)], check=True,
                       capture_output=True, timeout=30)
        assert sha256(dst.read_bytes()) == digest, f"{name} differs on the host"
    fsck = subprocess.run(["e2fsck", "-fn", str(rw)], capture_output=True, text=True,
                          timeout=60)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    # fstrim reached the image: the deleted 32 MiB are holes again.
    assert os.stat(rw).st_blocks * 512 < 40 << 20, f"{os.stat(rw).st_blocks * 512} bytes allocated"

    # qcow2 overlay: consistent, backing data seen, new data stored.
    chk = subprocess.run(["qemu-img", "check", str(ov)], capture_output=True, text=True,
                         timeout=60)
    assert chk.returncode == 0, chk.stdout + chk.stderr
    m = re.search(r"VHOST-QCOW-BASE (\w+)", out)
    assert m and m.group(1) == sha256(base_head), ctx
    flat = tmp_path / "ov.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(ov), str(flat)], check=True,
                   timeout=60)
    data = flat.read_bytes()
    m = re.search(r"VHOST-QCOW-SUM (\w+) (\w+)", out)
    assert m, ctx
    assert sha256(data[4 << 20:5 << 20]) == m.group(1)
    assert sha256(data[3000 * 4096:3003 * 4096]) == m.group(2)
    assert data[8 << 20:9 << 20] == bytes(1 << 20)
    assert data[:1 << 20] == base_head
    print(f"guest run took {took:.1f} s")


def vu_msg(req, payload=b"", flags=1):
    return struct.pack("<III", req, flags, len(payload)) + payload


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(str(path))
    return s


def closed_by_peer(s):
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def get_features(path):
    s = connect(path)
    s.sendall(vu_msg(1))
    hdr = s.recv(12, socket.MSG_WAITALL)
    req, flags, size = struct.unpack("<III", hdr)
    val = struct.unpack("<Q", s.recv(size, socket.MSG_WAITALL))[0]
    s.close()
    assert req == 1 and flags & 4 and size == 8
    return val


def test_malformed_messages_close_the_connection(vessel_bin, backends, tmp_path):
    """Each bad message closes its connection; the process survives and serves the next one."""
    disk = tmp_path / "d.raw"
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    sock = tmp_path / "s.sock"
    b = backends(sock, f"path={disk}", tmp_path / "be.log")
    assert get_features(sock) & (1 << 32)
    mem_table = struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, 1 << 20, 0x7f0000000000, 0)
    cases = {
        "bad version": struct.pack("<III", 1, 2, 0),
        "unknown request": vu_msg(200),
        "oversized": struct.pack("<III", 5, 1, 1 << 20),
        "short SET_FEATURES": vu_msg(2, b"\0" * 4),
        "SET_MEM_TABLE without fds": vu_msg(5, mem_table),
        "vring index out of range": vu_msg(8, struct.pack("<II", 9, 128)),
        "GET_CONFIG too large": vu_msg(24, struct.pack("<III", 0, 4000, 0)),
        "truncated message": struct.pack("<III", 8, 1, 8) + b"\0\0",
    }
    for name, data in cases.items():
        s = connect(sock)
        s.sendall(data)
        if name == "truncated message":
            s.shutdown(socket.SHUT_WR)
        assert closed_by_peer(s), f"{name}: connection not closed"
        s.close()
        assert b.alive(), f"{name}: the backend died"
        assert get_features(sock) & (1 << 32), f"{name}: no service afterwards"
    # Too many fds in one message.
    s = connect(sock)
    fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(12)]
    socket.send_fds(s, [vu_msg(13, struct.pack("<Q", 0))], fds)
    for fd in fds:
        os.close(fd)
    assert closed_by_peer(s)
    s.close()
    # A second frontend while one is connected is refused, the first keeps working.
    first = connect(sock)
    time.sleep(0.2)
    second = connect(sock)
    assert closed_by_peer(second)
    first.sendall(vu_msg(17))
    assert struct.unpack("<IIIQ", first.recv(20, socket.MSG_WAITALL))[3] == 1
    first.close()
    assert b.alive()
    assert b.stop() == 0


RECONNECT_SH = """#!/bin/sh
for pass in 1 2 3; do for m in $(cat /modules.order); do insmod /lib/modules/*/"$m" 2>/dev/null; done; done
if grep -q vhost.phase=1 /proc/cmdline; then
	head -c 1048576 /dev/urandom >/tmp/p
	dd if=/tmp/p of=/dev/vda bs=1M oflag=direct 2>/dev/null
	echo "VHOST-PHASE1 $(sha256sum </tmp/p | cut -d' ' -f1)"
else
	echo "VHOST-PHASE2 $(dd if=/dev/vda bs=1M count=1 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)"
fi
"""


def test_reconnect_second_guest(guest, backends, tmp_path):
    """One backend, two guests in turn: the second reads what the first wrote."""
    kernel, _ = guest
    script = tmp_path / "rc.sh"
    script.write_text(RECONNECT_SH)
    initrd = tmp_path / "rc.img"
    lane.build_initramfs(initrd, script)
    disk = tmp_path / "d.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True,
                   timeout=30)
    sock = tmp_path / "s.sock"
    b = backends(sock, f"path={disk},format=qcow2", tmp_path / "be.log")
    rc, out1 = lane.run_guest(kernel, initrd, [sock], GUEST_TIMEOUT, append="vhost.phase=1")
    assert rc == 0, out1[-3000:]
    rc, out2 = lane.run_guest(kernel, initrd, [sock], GUEST_TIMEOUT, append="vhost.phase=2")
    assert rc == 0, out2[-3000:]
    w = re.search(r"VHOST-PHASE1 (\w+)", out1)
    r = re.search(r"VHOST-PHASE2 (\w+)", out2)
    assert w and r and w.group(1) == r.group(1), out1[-2000:] + out2[-2000:]
    assert not lane.kernel_errors(out1 + out2)
    assert b.alive()
    assert b.stop() == 0
    chk = subprocess.run(["qemu-img", "check", str(disk)], capture_output=True, text=True,
                         timeout=60)
    assert chk.returncode == 0, chk.stdout


def test_cli_errors(vessel_bin, backends, tmp_path):
    """Bad command lines get one clear line; a malformed one exits 2 (usage),
    one that names something unusable exits 1; a live socket is not stolen."""
    disk = tmp_path / "d.raw"
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    sock = tmp_path / "s.sock"
    cases = [
        ([], "needs --socket PATH and --disk FILE", 2),
        (["--socket", str(sock)], "needs --socket PATH and --disk FILE", 2),
        (["--socket", str(sock), "--disk", str(tmp_path / "missing.raw")], "cannot open", 1),
        (["--socket", str(sock), "--disk", f"path={disk},format=vmdk"], "--disk", 1),
        (["--socket", str(disk), "--disk", str(disk)], "not a socket", 1),
    ]
    for args, msg, want in cases:
        r = subprocess.run([vessel_bin, "vhost-user-blk", *args], capture_output=True,
                           text=True, timeout=10)
        assert r.returncode == want, (args, r.returncode, r.stderr)
        assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
        assert not sock.exists()
    b = backends(sock, str(disk), tmp_path / "be.log")
    # A disk of its own: the first backend holds the lock of d.raw.
    other = tmp_path / "other.raw"
    other.write_bytes(b"\0" * 65536)
    r = subprocess.run([vessel_bin, "vhost-user-blk", "--socket", str(sock), "--disk", str(other)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "another backend is serving it" in r.stderr, r.stderr
    assert b.alive() and get_features(sock)
    assert b.stop() == 0
    assert not sock.exists()


def get_capacity(path):
    """GET_CONFIG's first 8 bytes: virtio-blk's capacity in sectors (virtio 1.2 5.2.4)."""
    s = connect(path)
    s.sendall(vu_msg(24, struct.pack("<III", 0, 8, 0) + b"\0" * 8))
    req, _, size = struct.unpack("<III", s.recv(12, socket.MSG_WAITALL))
    body = s.recv(size, socket.MSG_WAITALL)
    s.close()
    assert req == 24 and size == 20, (req, size)
    return struct.unpack("<Q", body[12:20])[0]


def test_handed_fds(vessel_bin, tmp_path):
    """`--socket fd:N --disk path=fd:M`: the caller opened the disk and listens
    on the socket (a supervisor, systemd's socket activation); vessel serves
    through both and leaves the caller's socket file alone."""
    disk = tmp_path / "d.raw"
    with open(disk, "wb") as f:
        f.truncate(3 << 20)
    sock = tmp_path / "s.sock"
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(str(sock))
    ls.listen(4)
    dfd = os.open(disk, os.O_RDWR)
    p = subprocess.Popen([vessel_bin, "vhost-user-blk", "--socket", f"fd:{ls.fileno()}",
                          "--disk", f"path=fd:{dfd}"], pass_fds=(ls.fileno(), dfd),
                         stderr=subprocess.PIPE, text=True)
    ls.close()
    os.close(dfd)
    try:
        assert get_features(sock) & (1 << 32)
        assert get_capacity(sock) == (3 << 20) // 512
        assert p.poll() is None
    finally:
        p.terminate()
        assert p.wait(timeout=10) == 0, p.stderr.read()
    assert sock.exists(), "vessel removed a socket it did not make"


def test_handed_fd_errors(vessel_bin, tmp_path):
    """One line each: an fd not handed over (even one vessel itself has open),
    a file where a listening socket is needed, a read-only fd for a writable
    disk; a backing file an image names "fd:N" is a file name, not an fd."""
    disk = tmp_path / "d.raw"
    disk.write_bytes(b"\0" * 65536)
    sock = tmp_path / "s.sock"
    ro = os.open(disk, os.O_RDONLY)
    top = tmp_path / "top.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", f"fd:{ro}", "-F", "raw",
                    str(top), "1M"], check=True)
    cases = [
        (["--socket", "fd:7", "--disk", str(disk)], "cannot listen on fd:7: no such fd was "
         "handed to vessel"),
        (["--socket", f"fd:{ro}", "--disk", str(disk)], "is not a listening Unix stream socket"),
        (["--socket", str(sock), "--disk", "path=fd:9"], "no fd 9 was handed to vessel"),
        (["--socket", str(sock), "--disk", f"path=fd:{ro}"], "it is open read-only, and this "
         "disk needs it read-write (or readonly=on)"),
        # relative: the backing name stays "fd:N", not a path in tmp_path
        (["--socket", str(sock), "--disk", f"path={top.name},format=qcow2"], f"fd:{ro}"),
    ]
    try:
        for args, msg in cases:
            r = subprocess.run([vessel_bin, "vhost-user-blk", *args], capture_output=True,
                               text=True, timeout=10, pass_fds=(ro,), cwd=tmp_path)
            assert r.returncode == 1, (args, r.returncode, r.stderr)
            assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
            assert not sock.exists()
        # the image's "fd:N" backing name was looked up as a file, not taken as the fd
        assert "No such file" in r.stderr, r.stderr
        # read-only disks take a read-only fd
        p = subprocess.Popen([vessel_bin, "vhost-user-blk", "--socket", str(sock), "--disk",
                              f"path=fd:{ro},readonly=on"], pass_fds=(ro,),
                             stderr=subprocess.PIPE, text=True)
        try:
            assert wait_path(sock), p.stderr.read() if p.poll() is not None else "no socket"
            assert get_capacity(sock) == 65536 // 512
        finally:
            p.terminate()
            assert p.wait(timeout=10) == 0
    finally:
        os.close(ro)


def wait_path(path, timeout=10):
    end = time.time() + timeout
    while time.time() < end and not path.exists():
        time.sleep(0.05)
    return path.exists()


REBOOT_SH = """#!/bin/sh
for pass in 1 2 3; do for m in $(cat /modules.order); do insmod /lib/modules/*/"$m" 2>/dev/null; done; done
if [ "$(dd if=/dev/vda bs=8 count=1 2>/dev/null)" = BOOTED-1 ]; then
	echo "VHOST-REBOOT-2 $(dd if=/dev/vda bs=1M skip=1 count=1 iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1)"
else
	head -c 1048576 /dev/urandom >/tmp/p
	dd if=/tmp/p of=/dev/vda bs=1M seek=1 oflag=direct 2>/dev/null
	printf BOOTED-1 | dd of=/dev/vda bs=8 count=1 conv=notrunc,fsync 2>/dev/null
	sync
	echo "VHOST-REBOOT-1 $(sha256sum </tmp/p | cut -d' ' -f1)"
	reboot -f
fi
"""


def test_guest_reboot(guest, backends, tmp_path):
    """The guest reboots: QEMU stops and restarts the device on the same connection."""
    kernel, _ = guest
    script = tmp_path / "reboot.sh"
    script.write_text(REBOOT_SH)
    initrd = tmp_path / "reboot.img"
    lane.build_initramfs(initrd, script)
    disk = tmp_path / "d.raw"
    with open(disk, "wb") as f:
        f.truncate(8 << 20)
    sock = tmp_path / "s.sock"
    b = backends(sock, f"path={disk},format=raw", tmp_path / "be.log")
    cmd = [c for c in lane.qemu_cmd(kernel, initrd, [sock]) if c != "-no-reboot"]
    # The second boot powers off; a guest stuck in a reboot loop hits the timeout.
    r = subprocess.run(cmd, capture_output=True, timeout=90, stdin=subprocess.DEVNULL)
    out = r.stdout.decode(errors="replace")
    w = re.search(r"VHOST-REBOOT-1 (\w+)", out)
    rd = re.search(r"VHOST-REBOOT-2 (\w+)", out)
    assert r.returncode == 0 and w and rd and w.group(1) == rd.group(1), out[-3000:]
    assert not lane.kernel_errors(out)
    assert b.alive() and b.stop() == 0


# ---- hostile frontends (issue 9, items 3 and 4): no guest needed --------------

VU_NEED_REPLY = 1 | 8
RING_DESC, RING_AVAIL, RING_USED = 0x0, 0x1000, 0x2000
GUEST_UA = 0x7F0000000000


def vu_ack(s, req, payload=b"", fds=()):
    """Send with NEED_REPLY; the reply's payload (the REPLY_ACK value or the reply)."""
    data = vu_msg(req, payload, flags=VU_NEED_REPLY)
    if fds:
        socket.send_fds(s, [data], list(fds))
    else:
        s.sendall(data)
    hdr = s.recv(12, socket.MSG_WAITALL)
    assert len(hdr) == 12, f"request {req}: no reply"
    rreq, _, size = struct.unpack("<III", hdr)
    body = s.recv(size, socket.MSG_WAITALL) if size else b""
    assert rreq == req and len(body) == size
    return body


def vu_ring(s, mem_fd, kick, call, ring=0):
    """Features, memory (1 MiB of mem_fd at guest address 0) and a live ring 0."""
    ok = struct.pack("<Q", 0)
    assert vu_ack(s, 2, struct.pack("<Q", 1 << 32)) == ok  # VIRTIO_F_VERSION_1
    assert vu_ack(s, 3) == ok
    table = struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, 1 << 20, GUEST_UA, 0)
    assert vu_ack(s, 5, table, [mem_fd]) == ok
    assert vu_ack(s, 8, struct.pack("<II", ring, 16)) == ok
    assert vu_ack(s, 10, struct.pack("<II", ring, 0)) == ok
    addr = struct.pack("<IIQQQQ", ring, 0, GUEST_UA + RING_DESC, GUEST_UA + RING_USED,
                       GUEST_UA + RING_AVAIL, 0)
    assert vu_ack(s, 9, addr) == ok
    assert vu_ack(s, 13, struct.pack("<Q", ring), [call]) == ok
    assert vu_ack(s, 12, struct.pack("<Q", ring), [kick]) == ok


def raw_disk(tmp_path):
    disk = tmp_path / "d.raw"
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    return disk


def test_frontend_shrinks_its_memory(vessel_bin, backends, tmp_path):
    """Memory shrunk after SET_MEM_TABLE: connection reset, backend alive (it died of SIGBUS)."""
    sock = tmp_path / "s.sock"
    log = tmp_path / "be.log"
    b = backends(sock, f"path={raw_disk(tmp_path)},format=raw", log)
    mem = os.memfd_create("guest-ram")
    os.ftruncate(mem, 1 << 20)
    kick = os.eventfd(0, os.EFD_NONBLOCK)
    call = os.eventfd(0, os.EFD_NONBLOCK)
    s = connect(sock)
    vu_ring(s, mem, kick, call)
    os.ftruncate(mem, 0)
    os.eventfd_write(kick, 1)  # the backend reads the ring: pages past EOF
    assert closed_by_peer(s)
    s.close()
    assert b.alive(), log.read_text()
    assert get_features(sock) & (1 << 32)
    assert "memory vanished" in log.read_text()
    assert b.stop() == 0
    for fd in (mem, kick, call):
        os.close(fd)


def test_blocking_kick_fd_keeps_the_loop_and_sigterm(vessel_bin, backends, tmp_path):
    """One blocking eventfd as kick fd of two rings: the second read blocked the disk thread
    under the device lock, then the loop, and SIGTERM went unanswered."""
    sock = tmp_path / "s.sock"
    b = backends(sock, f"path={raw_disk(tmp_path)},format=raw,queues=2", tmp_path / "be.log")
    kick = os.eventfd(0)  # blocking
    s = connect(sock)
    for ring in (0, 1):
        assert vu_ack(s, 12, struct.pack("<Q", ring), [kick]) == struct.pack("<Q", 0)
    os.eventfd_write(kick, 1)
    time.sleep(0.5)
    # GET_CONFIG takes the device lock: answered.
    cfg = vu_ack(s, 24, struct.pack("<III", 0, 8, 0) + bytes(8))
    assert struct.unpack("<Q", cfg[12:20])[0] == (1 << 20) // 512
    t0 = time.monotonic()
    assert b.stop() == 0
    assert time.monotonic() - t0 < 5
    s.close()
    os.close(kick)


def test_kick_fd_at_eof_does_not_spin(vessel_bin, backends, tmp_path):
    """A pipe at EOF as kick fd: the disk thread spun at 100 % CPU counting kicks."""
    sock = tmp_path / "s.sock"
    log = tmp_path / "be.log"
    b = backends(sock, f"path={raw_disk(tmp_path)},format=raw", log)
    r, w = os.pipe()
    s = connect(sock)
    assert vu_ack(s, 12, struct.pack("<Q", 0), [r]) == struct.pack("<Q", 0)
    os.close(w)
    os.close(r)
    time.sleep(0.3)
    t0 = b.cpu_seconds()
    time.sleep(2)
    used = b.cpu_seconds() - t0
    assert used < 0.5, f"{used:.2f} s of CPU in 2 s"
    assert "kick fd at end of file" in log.read_text()
    # The connection is still served.
    assert struct.unpack("<Q", vu_ack(s, 17))[0] == 1
    s.close()
    assert b.stop() == 0
