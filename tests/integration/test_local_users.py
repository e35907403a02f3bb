# Another local user against vessel (issue 9 item 5).  Without
# XDG_RUNTIME_DIR the run directory is /tmp/vessel-UID, which anyone can
# create first: vessel must refuse a run directory it does not own alone
# rather than put a VM's sockets (its console) there.  And every socket
# vessel listens on follows one policy: a file that is not a socket is
# never deleted, a live socket is never stolen, a stale one is replaced,
# and sockets are 0600 whatever the umask.
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time

import pytest

from conftest import run

# A uid with no account: setpriv does not need one, and no real user's
# /tmp/vessel-UID is touched.
UID = 64917
OTHER = 65534  # nobody
RUNDIR = f"/tmp/vessel-{UID}"


def one_line_error(r, *words):
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def remove(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


@pytest.fixture
def user(vessel_bin):
    """Runs vessel as UID with no XDG_RUNTIME_DIR, as a login without systemd."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as two users")
    remove(RUNDIR)
    home = tempfile.mkdtemp(prefix="vessel-home-", dir="/tmp")
    os.chown(home, UID, UID)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home}

    def vessel(*args):
        return subprocess.run(["setpriv", f"--reuid={UID}", f"--regid={UID}", "--clear-groups",
                               vessel_bin, *map(str, args)],
                              capture_output=True, text=True, timeout=30, env=env,
                              stdin=subprocess.DEVNULL)

    vessel.home = home
    yield vessel
    remove(RUNDIR)
    shutil.rmtree(home)


def test_fresh_run_dir_is_private(user):
    r = user("list")
    assert r.returncode == 0, r.stderr
    st = os.lstat(RUNDIR)
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == UID
    assert stat.S_IMODE(st.st_mode) == 0o700
    data = os.path.join(user.home, ".local", "share", "vessel")
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700


def test_world_writable_run_dir_refused(user):
    # The attack: someone makes our run dir before we do, open to all.
    os.mkdir(RUNDIR)
    os.chown(RUNDIR, UID, UID)
    os.chmod(RUNDIR, 0o777)
    one_line_error(user("list"), RUNDIR, "mode 0777", "0700")
    os.chmod(RUNDIR, 0o750)
    one_line_error(user("list"), RUNDIR, "mode 0750")
    # Ours and 0700: fine.
    os.chmod(RUNDIR, 0o700)
    assert user("list").returncode == 0


def test_run_dir_of_another_user_refused(user, tmp_path):
    os.mkdir(RUNDIR)
    os.chown(RUNDIR, OTHER, OTHER)
    os.chmod(RUNDIR, 0o777)
    d = tmp_path / "d.json"
    d.write_text('{"kernel": "/dev/null"}')
    os.chmod(tmp_path, 0o755)
    os.chmod(d, 0o644)
    one_line_error(user("list"), RUNDIR, f"owned by uid {OTHER}", f"uid {UID}")
    one_line_error(user("define", "web", "--config", d), RUNDIR, f"owned by uid {OTHER}")
    # Nothing of ours (a lock file, a VM directory) went into it.
    assert os.listdir(RUNDIR) == []


def test_symlinked_run_dir_refused(user):
    target = tempfile.mkdtemp(prefix="vessel-target-", dir="/tmp")
    try:
        os.chown(target, UID, UID)
        os.chmod(target, 0o700)
        os.symlink(target, RUNDIR)
        one_line_error(user("list"), RUNDIR, "symbolic link")
        assert os.listdir(target) == []
    finally:
        remove(RUNDIR)
        shutil.rmtree(target)


# --- the listener policy, through vhost-user-blk (no KVM needed) ---


def start_backend(vessel_bin, sock, disk, umask=None):
    def pre():
        if umask is not None:
            os.umask(umask)

    return subprocess.Popen([vessel_bin, "vhost-user-blk", "--socket", str(sock), "--disk",
                             f"path={disk},format=raw"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                            preexec_fn=pre)


def wait_listening(sock, proc, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, proc.stderr.read()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(sock))
            return
        except OSError:
            time.sleep(0.02)
        finally:
            s.close()
    raise AssertionError(f"{sock} never accepted a connection")


def stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def disk(tmp_path):
    d = tmp_path / "disk.raw"
    d.write_bytes(b"\0" * (1 << 20))
    return d


def test_vhost_socket_policy(vessel_bin, tmp_path, disk):
    sock = tmp_path / "vhost.sock"
    # A regular file at the socket path is neither deleted nor replaced.
    sock.write_text("precious")
    r = run([vessel_bin, "vhost-user-blk", "--socket", str(sock), "--disk",
             f"path={disk},format=raw"], timeout=20)
    one_line_error(r, str(sock), "not a socket")
    assert sock.read_text() == "precious"
    sock.unlink()

    # Under umask 0 the socket is still the owner's alone.
    p = start_backend(vessel_bin, sock, disk, umask=0)
    try:
        wait_listening(sock, p)
        st = os.lstat(sock)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
        # A second backend on the live socket is refused and takes nothing
        # (its own disk: the first backend's is locked).
        other = tmp_path / "other.raw"
        other.write_bytes(b"\0" * 65536)
        r = run([vessel_bin, "vhost-user-blk", "--socket", str(sock), "--disk",
                 f"path={other},format=raw,readonly=on"], timeout=20)
        one_line_error(r, str(sock))
        assert p.poll() is None
        wait_listening(sock, p)
    finally:
        stop(p)


def test_vhost_stale_socket_replaced(vessel_bin, tmp_path, disk):
    sock = tmp_path / "vhost.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(sock))
    s.close()  # bound, never listening: what a killed backend leaves behind
    p = start_backend(vessel_bin, sock, disk)
    try:
        wait_listening(sock, p)
    finally:
        stop(p)


# --- the VMM's own sockets (need KVM: vessel run builds the VM first) ---


def run_vm(vessel_bin, guest, *extra):
    return run([vessel_bin, "run", "--kernel", str(guest), "--memory", "64M",
                *map(str, extra)], timeout=30, stdin=subprocess.DEVNULL)


@pytest.fixture
def guest(guests_dir):
    g = guests_dir / "boot.elf"
    if not g.exists():
        pytest.skip(f"{g} not built")
    return g


@pytest.mark.parametrize("opt", ["--api-socket", "--console", "--serial"])
def test_vm_socket_keeps_regular_file(need_kvm, vessel_bin, guest, tmp_path, opt):
    path = tmp_path / "not-a-socket"
    path.write_text("precious")
    if opt == "--api-socket":
        args = ["--serial", "none", opt, path]
    elif opt == "--console":
        args = ["--serial", "none", "--console", f"socket={path}"]
    else:
        args = ["--serial", f"socket={path}"]
    r = run_vm(vessel_bin, guest, *args)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "not a socket" in r.stderr, r.stderr
    assert path.read_text() == "precious"


def test_vm_api_socket_live_refused(need_kvm, vessel_bin, guest, tmp_path):
    path = tmp_path / "api.sock"
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(str(path))
    other.listen(1)
    try:
        r = run_vm(vessel_bin, guest, "--api-socket", path)
        one_line_error(r, str(path), "another process is listening")
        # The other server still owns its socket.
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(str(path))
        c.close()
    finally:
        other.close()
