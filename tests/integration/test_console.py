# The serial console backends of `vessel run` (src/devices/console.c):
# stdio on a terminal (raw mode, Ctrl-A escapes, terminal restored),
# stdio from a pipe (EOF does not stop the VM), file, pty and socket.
# The guests are the freestanding test guests; without --debug-exit they
# halt after printing PASS, so the VM keeps running until told to stop.
import fcntl
import os
import select
import signal
import socket
import subprocess
import termios
import time

import pytest


def guest(guests_dir, name):
    path = guests_dir / f"{name}.elf"
    if not path.exists():
        pytest.skip(f"{path} not built")
    return str(path)


def read_until(fd, needle, timeout=20.0):
    """Read from fd until needle shows up; return everything read."""
    out = b""
    deadline = time.monotonic() + timeout
    while needle not in out:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    return out


def stop(p):
    if p.poll() is None:
        p.kill()
        p.wait(timeout=10)


@pytest.fixture
def terminal():
    """A pty pair; the test's vessel gets the slave as its controlling tty."""
    master, slave = os.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)


def spawn_on_tty(cmd, slave):
    def become_foreground():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    return subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave,
                            preexec_fn=become_foreground, close_fds=True)


def test_stdio_tty_ctrl_a(vessel_bin, guests_dir, need_kvm, terminal):
    master, slave = terminal
    before = termios.tcgetattr(slave)
    assert before[3] & termios.ICANON and before[3] & termios.ECHO
    p = spawn_on_tty([vessel_bin, "run", "--kernel", guest(guests_dir, "boot")], slave)
    try:
        out = read_until(master, b"PASS")
        assert b"PASS" in out, out
        # Raw mode while the console is attached.
        now = termios.tcgetattr(slave)
        assert not now[3] & (termios.ICANON | termios.ECHO | termios.ISIG)
        # Ctrl-A h prints the help; the VM keeps running.
        os.write(master, b"\x01h")
        out = read_until(master, b"C-a C-a", timeout=10)
        assert b"C-a x" in out, out
        assert p.poll() is None
        # Ctrl-A x quits with status 0 and puts the terminal back.
        os.write(master, b"\x01x")
        assert p.wait(timeout=15) == 0
        assert termios.tcgetattr(slave) == before
    finally:
        stop(p)


def test_stdio_pipe_eof_keeps_running(vessel_bin, guests_dir, need_kvm):
    p = subprocess.Popen([vessel_bin, "run", "--kernel", guest(guests_dir, "boot")],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        p.stdin.close()  # EOF at once
        out = read_until(p.stdout.fileno(), b"PASS")
        assert b"PASS" in out, out
        time.sleep(1)
        assert p.poll() is None, "EOF on stdin stopped the VM"
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=15) == 0
    finally:
        stop(p)


def test_file_mode(vessel_bin, guests_dir, need_kvm, tmp_path):
    log = tmp_path / "console.log"
    log.write_text("earlier line\n")
    r = subprocess.run([vessel_bin, "run", "--kernel", guest(guests_dir, "reset"),
                        "--debug-exit", f"--serial=file={log}"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    # PASS through isa-debug-exit: (0 << 1) | 1.
    assert r.returncode == 1, r.stderr
    text = log.read_text()
    assert text.startswith("earlier line\n")  # appended, not truncated
    assert "reset: second boot" in text and "PASS" in text
    assert b"PASS" not in r.stdout


def test_pty_mode(vessel_bin, guests_dir, need_kvm):
    p = subprocess.Popen([vessel_bin, "run", "--kernel", guest(guests_dir, "boot"),
                          "--serial", "pty"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        err = read_until(p.stderr.fileno(), b"\n", timeout=20)
        assert b"console on /dev/pts/" in err, err
        path = err.split(b"console on ", 1)[1].split()[0].decode()
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        try:
            out = read_until(fd, b"PASS")
            assert b"PASS" in out, out
        finally:
            os.close(fd)
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=15) == 0
    finally:
        stop(p)


def test_socket_mode(vessel_bin, guests_dir, need_kvm, tmp_path):
    path = str(tmp_path / "console.sock")
    p = subprocess.Popen([vessel_bin, "run", "--kernel", guest(guests_dir, "boot"),
                          "--serial", f"socket={path}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(2)  # let the guest print before anyone connects
        c1 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c1.connect(path)
        # The history replays what the guest printed before we connected.
        out = read_until(c1.fileno(), b"PASS")
        assert b"PASS" in out, out
        # One client at a time.
        c2 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c2.connect(path)
        busy = read_until(c2.fileno(), b"\n", timeout=5)
        assert b"in use" in busy, busy
        c2.close()
        # Input from the client goes to the guest (which ignores it).
        c1.sendall(b"hello\r")
        c1.close()
        time.sleep(0.2)
        # A new client gets the console once the first is gone.
        c3 = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c3.connect(path)
        assert b"PASS" in read_until(c3.fileno(), b"PASS", timeout=5)
        c3.close()
        assert p.poll() is None
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=15) == 0
        assert not os.path.exists(path)
    finally:
        stop(p)
