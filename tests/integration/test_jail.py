# The jailer (docs/jail.md), checked from outside the VMM as an operator
# would: per thread in /proc (Seccomp 2, NoNewPrivs 1, CapEff 0, the jail's
# uid and gid), the VMM's root, its namespaces and its cgroup's limits;
# and that code which took over a jailed VMM reaches no host file.
import json
import os
import re
import signal
import socket
import subprocess

import pytest

from mgmt_helpers import mgr, wait_for  # noqa: F401  (mgr is a fixture)

JAIL_ID_BASE = 1700000000


def status_of(pid, tid=None):
    path = f"/proc/{pid}/task/{tid}/status" if tid else f"/proc/{pid}/status"
    with open(path) as fh:
        return {k: v.strip() for k, v in
                (l.split(":", 1) for l in fh.read().splitlines() if ":" in l)}


def one_line(r, *needles):
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert r.returncode != 0 and len(lines) == 1, (r.returncode, r.stderr)
    for n in needles:
        assert n in lines[0], lines[0]


# ---- without KVM: the spec and the privileges -------------------------------

def test_jail_spec_is_checked(vessel_bin, tmp_path):
    r = subprocess.run([vessel_bin, "run", "--jail=sometimes", "--kernel", "x"],
                       capture_output=True, text=True, timeout=10)
    one_line(r, "--jail 'sometimes'", "mode")
    r = subprocess.run([vessel_bin, "run", "--jail=uid=root", "--kernel", "x"],
                       capture_output=True, text=True, timeout=10)
    one_line(r, "--jail 'uid=root'", "uid")
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"kernel": "x", "jail": 5}))
    r = subprocess.run([vessel_bin, "run", "--config", str(cfg)], capture_output=True,
                       text=True, timeout=10)
    one_line(r, "jail", "must be true, false")
    cfg.write_text(json.dumps({"kernel": "x", "jail": {"pids_max": "many"}}))
    r = subprocess.run([vessel_bin, "run", "--config", str(cfg)], capture_output=True,
                       text=True, timeout=10)
    one_line(r, "jail.pids_max")
    # dumped back as read, for the definition's round trip
    cfg.write_text(json.dumps({"kernel": "x", "jail": {"uid": 4000, "memory_max": "1G"}}))
    r = subprocess.run([vessel_bin, "dumpconfig", "--config", str(cfg)], capture_output=True,
                       text=True, timeout=10)
    if r.returncode == 0:
        j = json.loads(r.stdout)["jail"]
        assert j["mode"] == "on" and j["uid"] == 4000, j


def test_jail_without_privileges_names_what_is_missing(vessel_bin, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to an unprivileged user")
    # nobody, with no capabilities at all
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", "--bounding-set=-all", vessel_bin, "run", "--jail",
                        "--kernel", "/nonexistent"],
                       capture_output=True, text=True, timeout=10)
    one_line(r, "cannot jail the VMM: it needs CAP_SYS_ADMIN", "CAP_SETUID", "run as root")
    # auto: runs unjailed and says why (here: to the missing kernel)
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", "--bounding-set=-all", vessel_bin, "run",
                        "--jail=auto", "--kernel", "/nonexistent"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode != 0 and "not jailed: needs CAP_SYS_ADMIN" in r.stderr, r.stderr
    assert "cannot open kernel '/nonexistent'" in r.stderr, r.stderr


# ---- a VM: needs /dev/kvm (the Linux lane's L1 on PVM hosts) ----------------

def cgroup_of(pid):
    with open(f"/proc/{pid}/cgroup") as fh:
        for line in fh:
            if line.startswith("0::"):
                return line[3:].strip()
    return None


def cgroup2_root():
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            f = line.split()
            if f[f.index("-") + 1] == "cgroup2" and f[3] == "/":
                return f[4]
    return None


def test_started_vm_is_jailed(mgr):
    limits = {"cpu_max": "50000 100000", "memory_max": "1G", "pids_max": 100}
    mgr.define("j", cpus=2, jail=limits)
    mgr.run("start", "j", check=True)
    pid = mgr.pid("j")
    st = status_of(pid)
    uid = int(st["Uid"].split()[0])
    assert uid >= JAIL_ID_BASE, st["Uid"]
    # every thread, vCPUs included
    tids = os.listdir(f"/proc/{pid}/task")
    names = set()
    for tid in tids:
        t = status_of(pid, tid)
        names.add(t["Name"])
        assert t["Seccomp"] == "2" and t["NoNewPrivs"] == "1", (tid, t)
        assert t["CapEff"] == t["CapPrm"] == t["CapBnd"] == "0000000000000000", (tid, t)
        assert t["Uid"].split() == [str(uid)] * 4, (tid, t["Uid"])
        assert t["Gid"].split() == [str(uid)] * 4, (tid, t["Gid"])
        assert t["Groups"] == "", (tid, t["Groups"])
    assert {"vcpu0", "vcpu1"} <= names, names
    # its own pid namespace, in which it is init
    assert st["NSpid"].split() == [str(pid), "1"], st["NSpid"]
    for ns in ("mnt", "pid", "ipc", "uts", "net"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
    # its root: the jail, holding the device it uses and nothing else
    assert os.listdir(f"/proc/{pid}/root") == ["dev"]
    assert os.listdir(f"/proc/{pid}/root/dev") == ["kvm"]
    assert os.stat(f"/proc/{pid}/root").st_dev != os.stat("/").st_dev
    # the cgroup leaf and its limits
    cg = cgroup_of(pid)
    assert cg == "/vessel/j", cg
    leaf = os.path.join(cgroup2_root(), cg.lstrip("/"))
    assert open(f"{leaf}/cpu.max").read().split() == ["50000", "100000"]
    assert open(f"{leaf}/memory.max").read().strip() == str(1 << 30)
    assert open(f"{leaf}/pids.max").read().strip() == "100"
    assert int(open(f"{leaf}/pids.current").read()) >= len(tids)
    # what the operator sees; the tids the API gives are the host's
    info = mgr.run("info", "j", check=True).stdout
    print(info)
    assert re.search(rf"Jail:\s+yes: uid {uid} gid {uid}, namespaces mnt,pid,ipc,uts,net, "
                     rf"root \w+, cgroup [^,]*/vessel/j, Landlock", info), info
    assert re.search(r"Seccomp:\s+on", info), info
    vi = mgr.run("vcpuinfo", "j", check=True).stdout
    for m in re.finditer(r"\btid\D+(\d+)", vi, re.I):
        assert m.group(1) in tids, (vi, tids)
    assert mgr.run("pause", "j").returncode == 0 and mgr.run("resume", "j").returncode == 0
    ids = mgr.state / "run" / "jail-ids"
    assert (ids / str(uid)).read_text() == "j"
    sock = mgr.sock("j")
    mgr.run("destroy", "j", check=True)
    assert wait_for(lambda: mgr.state_of("j") == "shut off")
    # the outer half cleaned up what the jailed VMM could not
    assert wait_for(lambda: not os.path.exists(leaf), timeout=5), leaf
    assert wait_for(lambda: not os.path.exists(sock), timeout=5)
    assert not (ids / str(uid)).exists()


def test_two_vms_get_their_own_uids(mgr):
    mgr.define("a")
    mgr.define("b")
    mgr.run("start", "a", check=True)
    mgr.run("start", "b", check=True)
    ua = status_of(mgr.pid("a"))["Uid"].split()[0]
    ub = status_of(mgr.pid("b"))["Uid"].split()[0]
    assert ua != ub and min(int(ua), int(ub)) >= JAIL_ID_BASE, (ua, ub)
    # a clean shutdown too: the guest powers off, the monitor tidies up
    mgr.run("destroy", "a", check=True)
    mgr.run("destroy", "b", check=True)


def test_jail_off_in_the_definition(mgr):
    mgr.define("o", jail=False)
    mgr.run("start", "o", check=True)
    pid = mgr.pid("o")
    st = status_of(pid)
    assert st["Uid"].split()[0] == "0"
    assert os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink("/proc/self/ns/mnt")
    assert re.search(r"Jail:\s+no", mgr.run("info", "o", check=True).stdout)
    mgr.run("destroy", "o", check=True)


def secret_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(b"host secret, never for a guest\n" * 64)
    secret.chmod(0o600)
    return secret


@pytest.mark.parametrize("seccomp", ["on", "off"])
def test_jailed_vmm_reaches_no_host_file(mgr, tmp_path, seccomp):
    """Code that took over the VMM tries to open a root-only host file (the
    hostile-input issue's backing-file target): the jail alone stops it."""
    secret = secret_file(tmp_path)
    mgr.env["VESSEL_JAIL_SELFTEST"] = str(secret)
    mgr.define("h", seccomp=seccomp)
    mgr.run("start", "h", check=True)
    pid = mgr.pid("h")
    log = mgr.rundir("h") / "vmm.log"
    assert wait_for(lambda: "jail selftest" in log.read_text(), timeout=10), log.read_text()
    line = [l for l in log.read_text().splitlines() if "jail selftest" in l][0]
    assert f"open {secret}: " in line and "opened" not in line, line
    # the file is not even there in the VMM's view of the file system
    assert not os.path.exists(f"/proc/{pid}/root{secret}")
    assert mgr.state_of("h") == "running"
    mgr.run("destroy", "h", check=True)


def test_forbidden_call_stops_a_jailed_vmm(vessel_bin, guests_dir, tmp_path, need_kvm):
    """`vessel run --jail`: this process stays outside and the VMM runs in its
    child, its pid namespace's init, which its own SIGSYS cannot kill: it
    exits as a shell reports a death by SIGSYS (128 + 31), passed on."""
    disk = tmp_path / "d.raw"
    disk.write_bytes(b"\0" * (1 << 20))
    env = {**os.environ, "VESSEL_SECCOMP_SELFTEST": "vcpu"}
    r = subprocess.run([vessel_bin, "run", "--jail", "--kernel",
                        str(guests_dir / "mgmt" / "idle.elf"), "--serial", "none",
                        "--disk", f"path={disk}", "--memory", "64M"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 128 + signal.SIGSYS, (r.returncode, r.stderr)
    assert "(role vcpu) made a system call its filter refuses: socket (41)" in r.stderr, r.stderr
    # the foreground run's cgroup leaf is gone with it
    root = cgroup2_root()
    if root and os.path.isdir(f"{root}/vessel"):
        assert not [d for d in os.listdir(f"{root}/vessel") if d.startswith("run-")]


def test_run_jail_clean_exit(vessel_bin, guests_dir, tmp_path, need_kvm):
    """A guest that powers off: the jailed VMM's exit status comes through."""
    r = subprocess.run([vessel_bin, "run", "--jail=uid=4242,gid=4242", "--kernel",
                        str(guests_dir / "poweroff.elf"), "--serial", "none", "--memory",
                        "64M"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (r.returncode, r.stderr)


def vmm_children(pid):
    """The jailed VMM: the outer `vessel run`'s child (its pid namespace's init)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(c) for c in fh.read().split()]
    except FileNotFoundError:
        return []


def test_killed_run_jail_ends_the_vm(vessel_bin, guests_dir, tmp_path, need_kvm):
    """SIGKILL of the foreground `vessel run --jail` ends its VM as it would
    without the jail: the VMM has SIGKILL as its parent-death signal, re-armed
    after its uid drop (which clears it)."""
    p = subprocess.Popen([vessel_bin, "run", "--jail", "--kernel",
                          str(guests_dir / "mgmt" / "idle.elf"), "--serial", "none",
                          "--memory", "64M"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: vmm_children(p.pid), timeout=20), "no VMM child"
        vmm = vmm_children(p.pid)[0]
        # past the lockdown: the VMM runs as the jail's uid
        assert wait_for(lambda: status_of(vmm)["Uid"].split()[0] != "0", timeout=20), \
            status_of(vmm)
        assert status_of(vmm)["NoNewPrivs"] == "1"
        p.kill()
        p.wait(timeout=10)
        assert wait_for(lambda: not os.path.exists(f"/proc/{vmm}/status") or
                        status_of(vmm)["State"].startswith("Z"), timeout=10), \
            f"the jailed VMM {vmm} outlived its killed vessel run"
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


def test_jailed_run_with_handed_fds(vessel_bin, guests_dir, tmp_path, need_kvm):
    """A caller that opens what the VM needs and hands the fds over: the disk
    (path=fd:N) and the API's listening socket (--api-socket fd:M). The jailed
    VMM serves the API through the caller's socket and has the disk open."""
    from mgmt_helpers import api
    disk = tmp_path / "d.raw"
    disk.write_bytes(b"\0" * (1 << 20))
    sock = tmp_path / "api.sock"
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(str(sock))
    ls.listen(8)
    dfd = os.open(disk, os.O_RDWR)
    p = subprocess.Popen([vessel_bin, "run", "--jail", "--kernel",
                          str(guests_dir / "mgmt" / "idle.elf"), "--serial", "none",
                          "--memory", "64M", "--disk", f"path=fd:{dfd}",
                          "--api-socket", f"fd:{ls.fileno()}"],
                         pass_fds=(dfd, ls.fileno()), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    ls.close()
    os.close(dfd)
    try:
        st = wait_for(lambda: p.poll() is None and api(str(sock), "GET", "/vm"), timeout=30)
        assert st and st[0] == 200, (st, p.poll())
        vm = st[2]
        assert vm["jail"]["jailed"], vm["jail"]
        vmm = vm["pid"]
        links = [os.readlink(f"/proc/{vmm}/fd/{f}") for f in os.listdir(f"/proc/{vmm}/fd")]
        assert str(disk) in links, links
        assert status_of(vmm)["NoNewPrivs"] == "1"
        p.terminate()
        assert p.wait(timeout=20) == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert sock.exists(), "the caller's socket was removed"
