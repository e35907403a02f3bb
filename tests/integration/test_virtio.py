# virtio-pci devices end to end (docs/virtio.md): the test guests in
# tests/guests/virtio drive virtio-blk and virtio-rng through `vessel run`
# on /dev/kvm, and a hostile guest attacks the rings (each attack one
# test).  Linux's own drivers use them in the Linux lane (test_linux.py).
import os
import pathlib
import subprocess
import time

import pytest

from conftest import ROOT, kvm_usable

TIMEOUT = 90
HOSTILE = ["loop", "oob", "dir", "zero", "jump", "nested", "qsize", "reset"]


@pytest.fixture(scope="module")
def vessel_virtio(vessel_bin):
    """vessel, if its `run` knows the virtio options yet."""
    r = subprocess.run([vessel_bin, "run", "--help"], capture_output=True, text=True, timeout=10)
    if "--disk" not in r.stdout + r.stderr:
        pytest.skip("vessel run has no --disk option yet (virtio not wired into run.c)")
    return vessel_bin


@pytest.fixture(autouse=True)
def _kvm():
    reason = kvm_usable()
    if reason:
        pytest.skip(reason)


def disk(tmp_path, name="disk.img", size=1 << 20):
    p = tmp_path / name
    with open(p, "wb") as f:
        f.truncate(size)
    return p


def boot(vessel, guest, cmdline="", extra=(), timeout=TIMEOUT, env=None):
    cmd = [vessel, "run", "--kernel", str(guest), "--memory", "128M", "--debug-exit",
           "--serial", "stdio", "--cmdline", cmdline, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env)


def expect_pass(r):
    assert "PASS" in r.stdout and r.returncode == 1, \
        f"rc={r.returncode}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}"


def test_blk_whole_disk(vessel_virtio, guests_dir, tmp_path):
    """Negotiation, MSI-X, GET_ID, pattern over the whole disk, flush, discard, write-zeroes."""
    d = disk(tmp_path)
    r = boot(vessel_virtio, guests_dir / "virtio" / "vblk.elf", "serial=VSERIAL-1",
             ["--disk", f"path={d},serial=VSERIAL-1"])
    expect_pass(r)
    assert "wrote and read back 1048576 bytes" in r.stdout
    # The data really is in the file, in the guest's pattern.
    with open(d, "rb") as f:
        f.seek(1 << 19)
        word = int.from_bytes(f.read(8), "little")
    assert word == ((1 << 19) * 0x9e3779b97f4a7c15 + 0x1234) % (1 << 64)


def test_blk_handed_fd(vessel_virtio, guests_dir, tmp_path):
    """path=fd:N: the caller opened the image; the guest's writes land in it."""
    d = disk(tmp_path)
    fd = os.open(d, os.O_RDWR)
    try:
        r = subprocess.run([vessel_virtio, "run", "--kernel", str(guests_dir / "virtio" / "vblk.elf"),
                            "--memory", "128M", "--debug-exit", "--serial", "stdio",
                            "--cmdline", "serial=HANDED", "--disk", f"path=fd:{fd},serial=HANDED"],
                           capture_output=True, text=True, timeout=TIMEOUT,
                           stdin=subprocess.DEVNULL, pass_fds=(fd,))
    finally:
        os.close(fd)
    expect_pass(r)
    with open(d, "rb") as f:
        f.seek(1 << 19)
        word = int.from_bytes(f.read(8), "little")
    assert word == ((1 << 19) * 0x9e3779b97f4a7c15 + 0x1234) % (1 << 64)


@pytest.mark.parametrize("poll_us", ["0", "50"])
def test_blk_iothread_polling(vessel_virtio, guests_dir, tmp_path, poll_us):
    """The I/O thread with polling forced on and off (the default depends on the CPU count)."""
    env = dict(os.environ, VESSEL_BLK_POLL_US=poll_us)
    r = boot(vessel_virtio, guests_dir / "virtio" / "vblk.elf", "inflight=8",
             ["--disk", f"path={disk(tmp_path)}"], env=env)
    expect_pass(r)
    r = boot(vessel_virtio, guests_dir / "virtio" / "vhostile.elf", "case=reset",
             ["--disk", f"path={disk(tmp_path, 'h.img')}"], env=env)
    expect_pass(r)


def test_blk_several_disks(vessel_virtio, guests_dir, tmp_path):
    """Three disks: the guest drives the third one, found by its serial."""
    extra = []
    for i in range(3):
        extra += ["--disk", f"path={disk(tmp_path, f'd{i}.img', (i + 1) << 20)},serial=disk-{i}"]
    r = boot(vessel_virtio, guests_dir / "virtio" / "vblk.elf", "index=2 serial=disk-2", extra)
    expect_pass(r)
    assert "capacity 6144 sectors" in r.stdout


def test_blk_qcow2(vessel_virtio, guests_dir, tmp_path):
    """The same guest on a qcow2 image (worker-thread engine)."""
    q = tmp_path / "d.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(q), "1M"], check=True)
    r = boot(vessel_virtio, guests_dir / "virtio" / "vblk.elf", "",
             ["--disk", f"path={q},format=qcow2"])
    expect_pass(r)


def test_rng(vessel_virtio, guests_dir):
    r = boot(vessel_virtio, guests_dir / "virtio" / "vrng.elf", "", ["--rng"])
    expect_pass(r)


def test_rng_intx(vessel_virtio, guests_dir):
    """Without MSI-X the interrupt comes as INTx through the IOAPIC, ISR read-to-clear."""
    r = boot(vessel_virtio, guests_dir / "virtio" / "vrng.elf", "intx", ["--rng"])
    expect_pass(r)
    assert "INTx interrupts" in r.stdout


def test_console_file(vessel_virtio, guests_dir, tmp_path):
    """virtio-console output lands in --console file=PATH."""
    out = tmp_path / "hvc0.log"
    r = boot(vessel_virtio, guests_dir / "virtio" / "vcon.elf", "msg=vessel-hvc-ok",
             ["--console", f"file={out}"])
    expect_pass(r)
    assert out.read_text() == "vessel-hvc-ok\n"


def test_console_socket(vessel_virtio, guests_dir, tmp_path):
    """virtio-console on a Unix socket: output to the client, client input to the guest."""
    import socket
    import time
    sock = tmp_path / "hvc0.sock"
    cmd = [vessel_virtio, "run", "--kernel", str(guests_dir / "virtio" / "vcon.elf"),
           "--memory", "128M", "--debug-exit", "--serial", "stdio", "--cmdline",
           "msg=over-the-socket echo", "--console", f"socket={sock}"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
    try:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        for _ in range(200):
            try:
                c.connect(str(sock))
                break
            except OSError:
                time.sleep(0.05)
        c.settimeout(30)
        c.sendall(b"typed-by-host")
        got = b""
        while b"\n" not in got:
            chunk = c.recv(64)
            if not chunk:
                break
            got += chunk
        assert got == b"over-the-socket\n"
        out, err = p.communicate(timeout=60)
        c.close()
    finally:
        p.kill()
        p.wait()
    assert "received 'typed-by-host'" in out, out + err
    assert p.returncode == 1


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_guest(vessel_virtio, guests_dir, tmp_path, case):
    """The VMM stays up, logs the guest error (rate-limited), serves rng, recovers on reset."""
    d = disk(tmp_path)
    r = boot(vessel_virtio, guests_dir / "virtio" / "vhostile.elf", f"case={case}",
             ["--disk", f"path={d}", "--rng"])
    expect_pass(r)
    errors = [l for l in r.stderr.splitlines() if "guest error" in l]
    if case != "reset":
        assert 1 <= len(errors) <= 5, r.stderr[-2000:]
    if case not in ("qsize", "reset"):
        assert "virtio-rng still serves" in r.stdout


def test_bad_disk_option(vessel_virtio, tmp_path):
    r = subprocess.run([vessel_virtio, "run", "--kernel", "/dev/null", "--disk",
                        "path=x,format=vmdk"], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "format" in r.stderr


# Linux's own drivers on these devices: tests/integration/test_linux.py
# (the Linux lane, on every host).



def full_disk(tmp_path):
    """A raw disk of 8 MiB on a tmpfs of 12 MiB that a 6 MiB file already
    fills in part: the guest's writes meet ENOSPC before the disk is full."""
    fs = tmp_path / "fs"
    fs.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12M", "tmpfs", str(fs)], check=True)
    (fs / "filler").write_bytes(b"\xaa" * (6 << 20))
    return fs, disk(fs, "disk.raw", 8 << 20)


@pytest.mark.parametrize("policy", ["", ",werror=stop"])
def test_blk_full_host_disk_pauses_and_resume_continues(vessel_virtio, guests_dir, tmp_path,
                                                       policy):
    """werror=enospc (the default, as QEMU's) and stop: a write the host
    cannot store pauses the VM with the request held; once there is room,
    resume submits it again and the guest never sees an error."""
    from mgmt_helpers import api, wait_for
    fs, img = full_disk(tmp_path)
    sock, log = tmp_path / "api.sock", tmp_path / "events.log"
    cmd = [vessel_virtio, "run", "--kernel", str(guests_dir / "virtio" / "vblk.elf"),
           "--memory", "128M", "--debug-exit", "--serial", "stdio", "--cmdline", "wait=300",
           "--disk", f"path={img}{policy}", "--api-socket", str(sock), "--event-log", str(log)]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         stdin=subprocess.DEVNULL)
    try:
        def paused():
            if not sock.exists():
                return False
            st, _, vm = api(str(sock), "GET", "/vm")
            return st == 200 and vm["state"] == "paused" and vm.get("reason") == "io-error"
        assert wait_for(paused, timeout=120, step=0.2), "the VM did not pause"
        st, _, stats = api(str(sock), "GET", "/vm/stats")
        blk = stats["devices"]["virtio-blk0"]
        assert blk["io_error_stops"] == 1 and blk["io_errors"] == 0, blk
        time.sleep(1)  # paused means paused: still there a second later
        assert api(str(sock), "GET", "/vm")[2]["state"] == "paused"
        (fs / "filler").unlink()
        assert api(str(sock), "PUT", "/vm/resume")[0] == 204
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
        subprocess.run(["umount", "-l", str(fs)])
    assert "PASS" in out and p.returncode == 1, f"rc={p.returncode}\n{out[-3000:]}\n{err[-3000:]}"
    assert "No space left on device): the VM pauses until it is resumed" in err, err
    events = [line.split("] ", 1)[1] for line in log.read_text().splitlines()]
    assert events[1:3] == ["paused: a disk stopped on an I/O error (werror/rerror); resume "
                           "submits its requests again", "resumed"], events


@pytest.mark.parametrize("policy", ["report", "ignore"])
def test_blk_full_host_disk_report_and_ignore(vessel_virtio, guests_dir, tmp_path, policy):
    """werror=report: the guest gets VIRTIO_BLK_S_IOERR; ignore: it is told
    the write worked (and finds the data missing when it reads back);
    neither pauses the VM."""
    fs, img = full_disk(tmp_path)
    log = tmp_path / "events.log"
    try:
        r = boot(vessel_virtio, guests_dir / "virtio" / "vblk.elf",
                 extra=["--disk", f"path={img},werror={policy}", "--event-log", str(log)])
    finally:
        subprocess.run(["umount", "-l", str(fs)])
    assert "PASS" not in r.stdout, r.stdout
    if policy == "report":
        assert "write failed: status 1" in r.stdout, r.stdout[-2000:]
    else:
        # told the writes worked, it finds what did not fit missing when it reads back
        assert "write failed" not in r.stdout and "FAIL" in r.stdout, r.stdout[-2000:]
    assert "paused" not in log.read_text()
