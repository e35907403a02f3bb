# Per-thread seccomp filters (docs/seccomp.md): the documented lists are
# the filters' own, every VMM thread runs filtered, and a forbidden call
# from each role stops the VMM with one line naming the role and the call.
import json
import os
import pathlib
import re
import signal
import subprocess

import pytest

from mgmt_helpers import mgr, wait_for  # noqa: F401  (mgr is a fixture)

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "seccomp.md"
# Firecracker's published per-thread filters on x86_64 (VMM, API, vCPU).
FIRECRACKER = {"vmm": 50, "api": 31, "vcpu": 27}


def filters(vessel_bin):
    r = subprocess.run([vessel_bin, "host", "--seccomp", "--json"], capture_output=True,
                       text=True, timeout=10, check=True)
    return json.loads(r.stdout)


def doc_counts():
    text = DOC.read_text()
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"^\| (main|vcpu|iothread|block|vhost|api) \| (\d+) \|", text, re.M)}


def doc_calls():
    """syscall -> set of roles, from the document's table."""
    out = {}
    for m in re.finditer(r"^\| `(\w+)` \| ([a-z, ]+) \|", DOC.read_text(), re.M):
        roles = m.group(2).strip()
        out[m.group(1)] = ({"main", "vcpu", "iothread", "block", "vhost", "api"} if roles == "all"
                           else {r.strip() for r in roles.split(",")})
    return out


def test_documented_lists_are_the_filters_and_compare_with_firecracker(vessel_bin):
    f = filters(vessel_bin)
    counts = {role: len(calls) for role, calls in f.items()}
    assert counts == doc_counts(), "docs/seccomp.md's table is not the filters' counts"
    calls = doc_calls()
    for role, names in f.items():
        assert len(set(names)) == len(names), role
        for n in names:
            assert n in calls and role in calls[n], f"{n} ({role}) is not documented"
    for n, roles in calls.items():
        for role in roles:
            assert n in f[role], f"documented {n} for {role}, which the filter does not allow"
    print(f"vessel main {counts['main']} (Firecracker VMM {FIRECRACKER['vmm']}), "
          f"api {counts['api']} (Firecracker {FIRECRACKER['api']}), vcpu {counts['vcpu']} "
          f"(Firecracker {FIRECRACKER['vcpu']}), iothread {counts['iothread']}, "
          f"block {counts['block']}, vhost {counts['vhost']}")
    # The thread that parses what API clients send has the smallest list of all.
    assert counts["api"] <= FIRECRACKER["api"]
    assert counts["api"] == min(counts.values()), counts
    api = set(f["api"])
    assert "ioctl" not in api and not {"openat", "fstat", "newfstatat"} & api, sorted(api)
    # Nothing anyone may use to leave: processes, new sockets, exec, files.
    for names in f.values():
        for bad in ("execve", "execveat", "fork", "vfork", "clone", "clone3", "socket",
                    "connect", "bind", "open", "openat", "openat2", "ptrace", "mount",
                    "setuid", "io_uring_setup", "bpf", "userfaultfd", "kill"):
            assert bad not in names


def status_of(pid, tid):
    with open(f"/proc/{pid}/task/{tid}/status") as fh:
        return dict(l.split(":", 1) for l in fh.read().splitlines() if ":" in l)


def thread_filters(pid):
    """{thread name: (Seccomp, NoNewPrivs)} for every thread of pid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        st = status_of(pid, tid)
        out[f"{st['Name'].strip()}/{tid}"] = (st["Seccomp"].strip(), st["NoNewPrivs"].strip())
    return out


def start_backend(vessel_bin, tmp_path, *extra, env=None, fmt="qcow2"):
    disk = tmp_path / f"d.{fmt}"
    if fmt == "qcow2":
        subprocess.run([vessel_bin, "img", "create", "-f", "qcow2", str(disk), "16M"],
                       check=True, capture_output=True)
    else:
        disk.write_bytes(b"\0" * (1 << 20))
    sock = tmp_path / "vu.sock"
    p = subprocess.Popen([vessel_bin, "vhost-user-blk", "--socket", str(sock), "--disk",
                          str(disk), *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env={**os.environ, **(env or {})})
    return p, sock


def wait_listening(p, sock):
    assert wait_for(lambda: sock.exists() or p.poll() is not None, timeout=10)


@pytest.mark.parametrize("fmt", ["qcow2", "raw"])
def test_every_backend_thread_is_filtered(vessel_bin, tmp_path, fmt):
    p, sock = start_backend(vessel_bin, tmp_path, fmt=fmt)
    try:
        wait_listening(p, sock)
        assert wait_for(lambda: all(v == ("2", "1") for v in thread_filters(p.pid).values()),
                        timeout=5), thread_filters(p.pid)
        t = thread_filters(p.pid)
        # the serving thread, the disk's I/O thread, and qcow2's worker
        assert len(t) >= (3 if fmt == "qcow2" else 2), t
        assert all(v == ("2", "1") for v in t.values()), t
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
    assert p.returncode == 0, err
    assert "seccomp" not in err, err
    # the cleanup helper removed the socket the filtered backend could not
    assert not sock.exists()


def test_seccomp_off_runs_unfiltered(vessel_bin, tmp_path):
    p, sock = start_backend(vessel_bin, tmp_path, "--seccomp", "off")
    try:
        wait_listening(p, sock)
        assert all(v[0] == "0" for v in thread_filters(p.pid).values())
    finally:
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=10)
    assert p.returncode == 0 and not sock.exists()
    r = subprocess.run([vessel_bin, "vhost-user-blk", "--seccomp", "sometimes", "--socket",
                        str(sock), "--disk", "x"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "expected on, log or off" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def refused_line(err, role):
    lines = [l for l in err.splitlines() if "vessel: seccomp:" in l]
    assert any(f"(role {role}) may not open files: /etc/hostname refused (EACCES)" in l
               for l in lines), err
    assert any(f"(role {role}) made a system call its filter refuses: socket (41); "
               "stopping the VMM" in l for l in lines), err


@pytest.mark.parametrize("role", ["vhost", "iothread", "block"])
def test_forbidden_call_in_the_backend_stops_it(vessel_bin, tmp_path, role):
    p, sock = start_backend(vessel_bin, tmp_path, env={"VESSEL_SECCOMP_SELFTEST": role})
    try:
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == -signal.SIGSYS, (p.returncode, err)
    refused_line(err, role)
    assert wait_for(lambda: not sock.exists(), timeout=5)


def test_log_mode_lets_the_call_through(vessel_bin, tmp_path):
    p, sock = start_backend(vessel_bin, tmp_path, "--seccomp", "log",
                            env={"VESSEL_SECCOMP_SELFTEST": "vhost"})
    try:
        wait_listening(p, sock)
        assert p.poll() is None
        # the serving thread installs its filter just after it listens
        assert wait_for(lambda: all(v == ("2", "1") for v in thread_filters(p.pid).values()),
                        timeout=5), thread_filters(p.pid)
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
    assert p.returncode == 0 and "seccomp" not in err, err


# ---- a VM: needs /dev/kvm (the Linux lane's L1 on PVM hosts) ----------------


def test_vm_threads_are_filtered_and_info_says_so(mgr):
    mgr.define("s", cpus=2)
    mgr.run("start", "s", check=True)
    pid = mgr.pid("s")
    t = thread_filters(pid)
    names = {k.split("/")[0] for k in t}
    assert {"vcpu0", "vcpu1", "vessel-api"} <= names, t
    assert all(v == ("2", "1") for v in t.values()), t
    info = mgr.run("info", "s", check=True).stdout
    assert re.search(rf"Seccomp:\s+on, {len(t)} threads filtered", info), info
    i = json.loads(mgr.run("list", "--json", check=True).stdout)[0]
    assert i["seccomp"] == f"on, {len(t)} threads filtered", i
    # API use, pinning and statistics under the filter, then a clean stop
    assert mgr.run("vcpuinfo", "s", check=True).stdout
    assert mgr.run("dommemstat", "s").returncode in (0, 1)
    sock = mgr.sock("s")
    mgr.run("destroy", "s", check=True)
    assert wait_for(lambda: mgr.state_of("s") == "shut off")
    assert not os.path.exists(sock)


def test_vm_seccomp_off_in_the_definition(mgr):
    mgr.define("o", cfg={"seccomp": "off"})
    mgr.run("start", "o", check=True)
    t = thread_filters(mgr.pid("o"))
    assert all(v[0] == "0" for v in t.values()), t
    assert re.search(r"Seccomp:\s+off, 0 threads filtered", mgr.run("info", "o").stdout)
    mgr.run("destroy", "o", check=True)


@pytest.mark.parametrize("role", ["main", "vcpu", "iothread", "api"])
def test_forbidden_call_in_a_vm_stops_it(vessel_bin, guests_dir, tmp_path, need_kvm, role):
    disk = tmp_path / "d.raw"
    disk.write_bytes(b"\0" * (1 << 20))
    guest = guests_dir / "mgmt" / "idle.elf"
    env = {**os.environ, "VESSEL_SECCOMP_SELFTEST": role}
    r = subprocess.run([vessel_bin, "run", "--kernel", str(guest), "--serial", "none",
                        "--disk", f"path={disk}", "--memory", "64M",
                        "--api-socket", str(tmp_path / "api.sock")],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == -signal.SIGSYS, (r.returncode, r.stderr)
    refused_line(r.stderr, role)
