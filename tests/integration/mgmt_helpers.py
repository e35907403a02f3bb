# Shared helpers of the VM-management tests (test_lifecycle.py, test_api.py,
# test_placement.py): a private state directory per test, the idle guest,
# raw HTTP over the API socket, and cleanup of every VMM a test started.
import http.client
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import BUILD, kvm_usable


def vessel_supports_config(exe):
    try:
        out = subprocess.run([exe, "run", "--help"], capture_output=True, text=True,
                             timeout=10).stdout
    except OSError:
        return False
    return "--config" in out


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def api(sock, method, path, body=None, raw_body=None):
    """One request; returns (status, headers dict, parsed JSON or None)."""
    c = UnixHTTPConnection(sock)
    data = raw_body if raw_body is not None else (json.dumps(body) if body is not None
                                                   else None)
    headers = {"Content-Type": "application/json"} if data is not None else {}
    c.request(method, path, body=data, headers=headers)
    r = c.getresponse()
    text = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, (json.loads(text) if text else None)


class Manager:
    """Runs `vessel` with VESSEL_STATE_DIR pointing at a private directory."""

    def __init__(self, exe, state_dir, guest):
        self.exe = exe
        self.state = state_dir
        self.guest = guest
        self.env = dict(os.environ, VESSEL_STATE_DIR=str(state_dir))

    def run(self, *args, timeout=60, check=False, stdin=None):
        p = subprocess.run([self.exe, *map(str, args)], capture_output=True, text=True,
                           timeout=timeout, env=self.env, stdin=stdin or subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(f"vessel {' '.join(map(str, args))}: rc={p.returncode}\n"
                                 f"{p.stdout}{p.stderr}")
        return p

    def define(self, name, cfg=None, **kw):
        d = {"kernel": str(self.guest), "cpus": 2, "memory": "128M"}
        d.update(cfg or {})
        d.update(kw)
        path = self.state.parent / f"{name}-def.json"
        path.write_text(json.dumps(d))
        return self.run("define", name, "--config", path, check=True)

    def rundir(self, name):
        return self.state / "run" / name

    def sock(self, name):
        return str(self.rundir(name) / "api.sock")

    def pid(self, name):
        try:
            return int((self.rundir(name) / "pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def state_of(self, name):
        out = self.run("list", "--all", check=True).stdout
        for line in out.splitlines()[1:]:
            f = line.split()
            if f and f[0] == name:
                return " ".join(f[1:3]) if f[1] == "shut" else f[1]
        return None

    def console_output(self, name, wait=1.0, until=None):
        """What the serial console socket replays and prints within `wait` s."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(str(self.rundir(name) / "console.sock"))
        s.settimeout(0.2)
        buf = b""
        end = time.time() + wait
        while time.time() < end:
            try:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
                if until and until.encode() in buf:
                    break
            except socket.timeout:
                pass
        s.close()
        return buf.decode(errors="replace")

    def cleanup(self):
        run = self.state / "run"
        if not run.exists():
            return
        for d in run.iterdir():
            pidf = d / "pid"
            if d.is_dir() and pidf.exists():
                try:
                    pid = int(pidf.read_text().split()[0])
                    os.kill(pid, signal.SIGKILL)
                except (OSError, ValueError, IndexError):
                    pass
        time.sleep(0.1)


def threads_of(pid):
    return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))


def wait_for(fn, timeout=10.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


@pytest.fixture
def mgr(tmp_path, vessel_bin):
    reason = kvm_usable()
    if reason:
        pytest.skip(reason)
    if not vessel_supports_config(vessel_bin):
        pytest.skip("this vessel's `run` has no --config (VM-management wiring missing)")
    guest = BUILD / "tests" / "guests" / "mgmt" / "idle.elf"
    if not guest.exists():
        pytest.fail(f"{guest} not built")
    state = tmp_path / "st"
    state.mkdir()
    m = Manager(vessel_bin, state, guest)
    yield m
    m.cleanup()
