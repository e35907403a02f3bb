# The daemonless manager end to end: define/start/list/info/pause/resume/
# reboot/shutdown/destroy/undefine with several VMs at once, crashes
# (SIGKILL of the VMM, stale state), refused definitions, concurrent CLIs
# and the console.  Each test has its own VESSEL_STATE_DIR.
import json
import os
import pathlib
import re
import signal
import subprocess
import threading
import time

from mgmt_helpers import api, mgr, wait_for  # noqa: F401  (mgr is a fixture)


def test_define_refuses_bad_definitions(mgr, tmp_path):
    cases = [
        ({"cpu": 2}, 'unknown key "cpu"'),
        ({"memory": "12X"}, 'memory: "12X" is not a size'),
        ({"disks": [{"path": "/a"}, {"format": "raw"}]}, "disks[1].path: missing"),
        ({"memory": {"size": "1G", "backing": "hugetlb", "mergeable": True}},
         "memory.mergeable: KSM cannot merge huge pages"),
        ({"cpus": {"count": 2, "pinning": {"7": "0"}}}, 'cpus.pinning."7": vCPU 7 does not exist'),
    ]
    for cfg, msg in cases:
        d = {"kernel": str(mgr.guest)}
        d.update(cfg)
        f = tmp_path / "bad.json"
        f.write_text(json.dumps(d))
        p = mgr.run("define", "bad", "--config", f)
        assert p.returncode == 1, p.stdout
        assert msg in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    f.write_text("{\"cpus\": ")
    p = mgr.run("define", "bad", "--config", f)
    assert p.returncode == 1 and "invalid JSON" in p.stderr
    assert mgr.run("list", "--all").stdout.strip().splitlines()[1:] == []
    p = mgr.run("start", "nope")
    assert p.returncode == 1 and "not defined" in p.stderr
    p = mgr.run("define", "../x", "--config", f)
    assert p.returncode == 1 and "not a VM name" in p.stderr


def test_two_vms_full_lifecycle(mgr):
    mgr.define("a", cmdline="fill=4")
    mgr.define("b", cpus=1, memory="64M")
    assert mgr.state_of("a") == "shut off"
    mgr.run("start", "a", check=True)
    mgr.run("start", "b", check=True)
    out = mgr.run("list", check=True).stdout
    rows = {l.split()[0]: l.split() for l in out.splitlines()[1:]}
    assert rows["a"][1] == "running" and rows["a"][2] == "2" and rows["a"][3] == "128M"
    assert rows["b"][1] == "running" and rows["b"][2] == "1" and rows["b"][3] == "64M"
    assert int(rows["a"][4]) == mgr.pid("a") and int(rows["b"][4]) == mgr.pid("b")
    p = mgr.run("start", "a")
    assert p.returncode == 1 and "already running" in p.stderr

    info = mgr.run("info", "a", check=True).stdout
    assert "State:           running" in info and "CPU(s):          2" in info
    i = json.loads(mgr.run("info", "a", "--json", check=True).stdout)
    assert i["state"] == "running" and i["pid"] == mgr.pid("a") and i["uptime_s"] >= 0, i
    assert i["api_socket"] == mgr.sock("a") and i["cpu_time_ns"] > 0, i
    vms = {v["name"]: v for v in json.loads(mgr.run("list", "--json", check=True).stdout)}
    assert vms["b"]["state"] == "running" and vms["b"]["memory"] == 64 << 20, vms
    # --live: what it runs with, less what start added; define takes it back.
    live = json.loads(mgr.run("dumpconfig", "a", "--live", check=True).stdout)
    assert "api_socket" not in live and live["console"] == {"mode": "stdio"}, live
    assert live == json.loads(mgr.run("dumpconfig", "a", check=True).stdout)

    mgr.run("pause", "a", check=True)
    assert mgr.state_of("a") == "paused"
    assert mgr.state_of("b") == "running"
    p = mgr.run("pause", "a")
    assert p.returncode == 1 and "cannot pause" in p.stderr
    # A paused guest cannot answer the power button: said at once, not waited out.
    t = time.monotonic()
    p = mgr.run("shutdown", "a", "--timeout", "20")
    assert p.returncode == 1 and "'a' is paused" in p.stderr and time.monotonic() - t < 5, p
    assert mgr.state_of("a") == "paused"
    mgr.run("resume", "a", check=True)
    assert mgr.state_of("a") == "running"

    pid_b = mgr.pid("b")
    mgr.run("reboot", "b", check=True)
    st, _, vm = api(mgr.sock("b"), "GET", "/vm")
    assert st == 200 and mgr.pid("b") == pid_b

    # The idle guest answers the ACPI power button by powering off.
    p = mgr.run("shutdown", "a", "--timeout", "20", check=True)
    assert "shut down" in p.stdout
    assert mgr.state_of("a") == "shut off"
    assert "Last exit:       shutoff exit status 0" in mgr.run("info", "a").stdout

    mgr.run("destroy", "b", check=True)
    assert wait_for(lambda: mgr.state_of("b") == "shut off")
    p = mgr.run("destroy", "b")
    assert p.returncode == 1 and "not running" in p.stderr

    # Both start again, and undefine refuses a running VM.
    mgr.run("start", "a", check=True)
    p = mgr.run("undefine", "a")
    assert p.returncode == 1 and "running" in p.stderr
    mgr.run("destroy", "a", check=True)
    mgr.run("undefine", "a", check=True)
    mgr.run("undefine", "b", check=True)
    assert mgr.run("list", "--all").stdout.strip().splitlines()[1:] == []


def test_a_stopped_vmm_is_unresponsive_at_once(mgr):
    """SIGSTOP: list and info say 'unresponsive' without waiting out the
    API timeout; SIGCONT brings it back to running."""
    mgr.define("s", cpus=1, memory="64M")
    mgr.run("start", "s", check=True)
    os.kill(mgr.pid("s"), signal.SIGSTOP)
    try:
        t = time.monotonic()
        assert mgr.state_of("s") == "unresponsive"
        assert "State:           unresponsive" in mgr.run("info", "s", check=True).stdout
        assert time.monotonic() - t < 2.5
    finally:
        os.kill(mgr.pid("s"), signal.SIGCONT)
    assert wait_for(lambda: mgr.state_of("s") == "running")
    mgr.run("destroy", "s", check=True)


def events_of(mgr, name):
    """The lifecycle log's events, without their timestamps and pids."""
    path = mgr.state / "lib" / f"{name}.log"
    lines = path.read_text().splitlines()
    pat = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000 \[pid \d+\] "
    assert all(re.match(pat, l) for l in lines), lines
    return [re.sub(pat, "", l) for l in lines]


def test_lifecycle_log_has_a_line_per_event(mgr):
    mgr.define("ev")
    mgr.run("start", "ev", check=True)
    info = mgr.run("info", "ev", check=True).stdout
    log = str(mgr.state / "lib" / "ev.log")
    assert f"Log:             {log}" in info, info
    assert json.loads(mgr.run("info", "ev", "--json", check=True).stdout)["log"] == log
    mgr.run("pause", "ev", check=True)
    mgr.run("resume", "ev", check=True)
    st, _, _ = api(mgr.sock("ev"), "PUT", "/vm/nosuch%0Aforged")
    assert st == 404
    mgr.run("reboot", "ev", check=True)
    assert wait_for(lambda: "guest reset (boot 2)" in events_of(mgr, "ev"))
    mgr.run("shutdown", "ev", "--timeout", "20", check=True)
    # the monitor writes its line once it sees the VMM gone
    assert wait_for(lambda: events_of(mgr, "ev")[-1].startswith("VMM exited"))
    mgr.run("start", "ev", check=True)
    os.kill(mgr.pid("ev"), signal.SIGKILL)
    assert wait_for(lambda: events_of(mgr, "ev")[-1].startswith("crashed"))
    mgr.run("start", "ev", check=True)
    mgr.run("destroy", "ev", check=True)
    uid = os.getuid()
    ev = events_of(mgr, "ev")
    assert ev == [
        f"start requested (vessel start, uid {uid})",
        "started: 2 vCPU(s), 128 MiB",
        "paused",
        "resumed",
        "api error: PUT /vm/nosuch?forged -> 404 no such resource: /vm/nosuch?forged",
        "guest reset (boot 2)",
        # the idle guest polls PWRBTN_STS with the event disabled
        "shutdown requested (ACPI power button); the guest has not enabled it yet",
        "stopped: the guest powered off",
        "VMM exited: exit status 0 (shut off)",
        f"start requested (vessel start, uid {uid})",
        "started: 2 vCPU(s), 128 MiB",
        "crashed: the VMM was killed by signal 9 (Killed)",
        f"start requested (vessel start, uid {uid})",
        "started: 2 vCPU(s), 128 MiB",
        "stopped: destroyed (signal, console quit or API)",
        f"destroyed (vessel destroy, uid {uid})",
    ], ev
    # kept after undefine, as libvirt keeps qemu/NAME.log
    mgr.run("undefine", "ev", check=True)
    assert events_of(mgr, "ev") == ev


def test_autostart_boot_starts_the_marked_vms(mgr, tmp_path):
    """What vessel-autostart.service runs at host boot: every marked VM not
    running is started; one that cannot start is said, the others start."""
    kernel = tmp_path / "gone.elf"
    kernel.write_bytes(pathlib.Path(mgr.guest).read_bytes())
    mgr.define("a")
    mgr.define("b", kernel=str(kernel))
    mgr.define("c")
    mgr.define("d")
    for n in ("a", "b", "c"):
        mgr.run("autostart", n, check=True)
    mgr.run("start", "c", check=True)
    pid_c = mgr.pid("c")
    kernel.unlink()  # b can no longer start
    r = mgr.run("autostart", "--boot")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "autostart: 1 started, 1 failed, 3 marked" in r.stdout, r.stdout
    assert "cannot start 'b'" in r.stderr or "'b' failed to start" in r.stderr, r.stderr
    assert mgr.state_of("a") == "running" and mgr.pid("c") == pid_c
    assert mgr.state_of("b") == "shut off" and mgr.state_of("d") == "shut off"
    assert "autostart: starting at host boot" in events_of(mgr, "a")
    assert events_of(mgr, "b")[-1] == "autostart: the start failed", events_of(mgr, "b")
    # Run again with all of them up: nothing to do, exit 0.
    mgr.run("autostart", "--disable", "b", check=True)
    r = mgr.run("autostart", "--boot", check=True)
    assert "autostart: 0 started, 0 failed, 2 marked" in r.stdout, r.stdout
    for n in ("a", "c"):
        mgr.run("destroy", n, check=True)


def test_sigkill_vmm_shows_crashed_and_restarts(mgr):
    mgr.define("c")
    mgr.run("start", "c", check=True)
    pid = mgr.pid("c")
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: mgr.state_of("c") == "crashed")
    assert "killed by signal 9" in mgr.run("info", "c").stdout
    # The line stays in the default list so an operator sees it.
    assert "crashed" in mgr.run("list").stdout
    mgr.run("start", "c", check=True)
    assert mgr.pid("c") != pid and mgr.state_of("c") == "running"
    mgr.run("destroy", "c", check=True)


def test_stale_state_directory(mgr):
    mgr.define("s")
    mgr.run("start", "s", check=True)
    pid = mgr.pid("s")
    with open(f"/proc/{pid}/stat") as f:
        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
    # Kill the monitor first: nobody is left to clean up after the VMM.
    os.kill(ppid, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}"))
    assert (mgr.rundir("s") / "pid").exists()
    assert mgr.state_of("s") == "crashed"
    # A reused pid (a live process with another start time) is not the VM.
    (mgr.rundir("s") / "pid").write_text(f"{os.getpid()} 1\n")
    assert mgr.state_of("s") == "crashed"
    p = mgr.run("pause", "s")
    assert p.returncode == 1 and "not running" in p.stderr
    mgr.run("start", "s", check=True)
    assert mgr.state_of("s") == "running"
    mgr.run("destroy", "s", check=True)
    assert os.getpid() > 0  # we were not killed by destroy


def test_failed_start_reports_the_log(mgr, tmp_path):
    bad = tmp_path / "notakernel"
    bad.write_text("hello\n")
    mgr.define("f", kernel=str(bad))
    p = mgr.run("start", "f")
    assert p.returncode == 1
    assert "failed to start" in p.stderr and len(p.stderr.splitlines()) >= 2, p.stderr
    assert mgr.state_of("f") == "shut off"
    # Memory beyond the host's is refused before anything is spawned.
    mgr.define("huge", memory="64T")
    p = mgr.run("start", "huge")
    assert p.returncode == 1 and "memory: 64T is more than the host's" in p.stderr


def test_concurrent_cli_calls(mgr):
    mgr.define("x")
    results = []

    def start():
        results.append(mgr.run("start", "x"))

    ts = [threading.Thread(target=start) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    ok = [r for r in results if r.returncode == 0]
    assert len(ok) == 1, [r.stderr for r in results]
    assert all("already running" in r.stderr for r in results if r.returncode)

    # Pause/resume storms from several CLIs never corrupt the state.
    def toggle(n):
        for _ in range(n):
            mgr.run("pause", "x")
            mgr.run("resume", "x")

    ts = [threading.Thread(target=toggle, args=(5,)) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    mgr.run("resume", "x")
    assert mgr.state_of("x") == "running"

    # Start and destroy racing: the end state is consistent either way.
    names = [f"y{i}" for i in range(3)]
    for n in names:
        mgr.define(n, cpus=1, memory="64M")
    procs = [subprocess.Popen([mgr.exe, "start", n], env=mgr.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for n in names]
    procs += [subprocess.Popen([mgr.exe, "destroy", n], env=mgr.env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE) for n in names]
    for p in procs:
        p.communicate(timeout=60)
    for n in names:
        st = mgr.state_of(n)
        assert st in ("running", "shut off"), st
        if st == "running":
            assert api(mgr.sock(n), "GET", "/vm")[0] == 200
            mgr.run("destroy", n, check=True)
    mgr.run("destroy", "x", check=True)


def test_console_attach_and_detach(mgr):
    mgr.define("k", cmdline="fill=2")
    mgr.run("start", "k", check=True)
    r, w = os.pipe()
    p = subprocess.Popen([mgr.exe, "console", "k"], env=mgr.env, stdin=r,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(r)
    time.sleep(1.0)
    # A second client is refused: one line, exit 1, the first keeps it.
    second = mgr.run("console", "k", timeout=10)
    assert second.returncode == 1 and second.stdout == "", second
    assert second.stderr.strip().splitlines()[-1] == \
        "vessel: VM 'k': its console is in use by another client", second.stderr
    os.write(w, b"\x1d")  # Ctrl-]
    out, err = p.communicate(timeout=10)
    os.close(w)
    assert p.returncode == 0
    assert b"Connected to VM 'k'" in err and b"Detached" in err
    # The console replays what the guest printed before we attached.
    assert b"mgmt: ready" in out, out
    assert mgr.state_of("k") == "running"
    mgr.run("destroy", "k", check=True)


def test_console_on_a_pty(mgr):
    mgr.define("pt", console="pty")
    mgr.run("start", "pt", check=True)
    info = mgr.run("info", "pt", check=True).stdout
    assert re.search(r"^Console:\s+/dev/pts/\d+$", info, re.M), info
    r, w = os.pipe()
    p = subprocess.Popen([mgr.exe, "console", "pt"], env=mgr.env, stdin=r,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(r)
    time.sleep(0.5)
    os.write(w, b"\x01x")  # Ctrl-A x
    out, err = p.communicate(timeout=10)
    os.close(w)
    assert p.returncode == 0 and b"Detached" in err, err
    assert mgr.state_of("pt") == "running"
    mgr.run("destroy", "pt", check=True)


def test_readme_walkthrough_works_as_written(mgr, tmp_path):
    """README's "A first VM": every line as printed, in a shell, with vessel
    on PATH; the comments say what each shows."""
    root = pathlib.Path(__file__).resolve().parents[2]
    text = (root / "README.md").read_text()
    block = text.split("A first VM,")[1].split("docs/manager.md")[0]
    lines = [line[4:] for line in block.splitlines() if line.startswith("    ")]
    assert len(lines) >= 8 and lines[1].startswith("vessel define idle"), lines
    env = dict(mgr.env, PATH=f"{pathlib.Path(mgr.exe).parent}:{os.environ['PATH']}", PWD=str(root))
    seen = ""
    for line in lines:
        cmd = line.split("#")[0].replace("$PWD", str(root))
        p = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, (line, p.stdout, p.stderr)
        seen += p.stdout
    assert "mgmt: ready" in seen and "State:           paused" in seen, seen
    assert "VM 'idle' shut down" in seen and "VM 'idle' undefined" in seen, seen
    assert mgr.state_of("idle") is None
