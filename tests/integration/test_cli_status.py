# Exit statuses of every vessel command, as scripts rely on them (README,
# "Exit status"): 0 success, 1 the operation failed, 2 the command line is
# malformed; each failure is one line on stderr.  `vessel img` keeps
# qemu-img's statuses and is tested in test_img.py.  No KVM is needed: the
# VMs here are defined, never started.
import subprocess
import threading

from conftest import BUILD
from mgmt_helpers import Manager

# Commands that take a VM name, with a well-formed line naming it (NAME is
# replaced), and a malformed one.
NAMED = {
    "undefine": (["NAME"], ["NAME", "extra"]),
    "start": (["NAME"], []),
    "info": (["NAME"], ["NAME", "extra"]),
    "console": (["NAME"], []),
    "pause": (["NAME"], []),
    "resume": (["NAME"], ["NAME", "extra"]),
    "shutdown": (["NAME"], ["NAME", "--timeout"]),
    "destroy": (["NAME"], []),
    "reboot": (["NAME"], []),
    "vcpuinfo": (["NAME"], ["--bogus", "NAME"]),
    "vcpupin": (["NAME"], ["NAME", "0", "1", "2"]),
    "emulatorpin": (["NAME"], ["NAME", "0", "1"]),
    "numatune": (["NAME"], ["NAME", "--mode"]),
    "setmem": (["NAME", "64M"], ["NAME"]),
    "dommemstat": (["NAME"], []),
    "numastat": (["NAME"], ["NAME", "--all"]),
    "dumpconfig": (["NAME"], ["NAME", "--bogus"]),
    "domblklist": (["NAME"], []),
    "domiflist": (["NAME"], ["NAME", "extra"]),
}


def one_line(r):
    return len(r.stderr.strip().splitlines()) == 1


def test_every_command_status(tmp_path):
    """Malformed: 2 with one 'usage' line; an undefined VM: 1, 'not
    defined'; a defined one that is not running, where the command needs it
    running: 1; --help: 0 with the usage on stdout."""
    state = tmp_path / "st"
    state.mkdir()
    m = Manager(BUILD / "vessel", state, "/nonexistent")
    m.define("idle")
    for cmd, (good, bad) in NAMED.items():
        r = m.run(cmd, *bad)
        assert r.returncode == 2 and one_line(r) and "usage: vessel " + cmd in r.stderr, \
            (cmd, bad, r.returncode, r.stderr)
        r = m.run(cmd, *[a.replace("NAME", "nope") for a in good])
        assert r.returncode == 1 and one_line(r) and "VM 'nope' is not defined" in r.stderr, \
            (cmd, r.returncode, r.stderr)
        r = m.run(cmd, "--help")
        assert r.returncode == 0 and "vessel " + cmd in r.stdout and not r.stderr, (cmd, r)
    for cmd in ["pause", "resume", "reboot", "shutdown", "destroy", "setmem", "dommemstat",
                "console", "numastat"]:
        r = m.run(cmd, *[a.replace("NAME", "idle") for a in NAMED[cmd][0]])
        assert r.returncode == 1 and one_line(r) and "'idle' is not running" in r.stderr, \
            (cmd, r.returncode, r.stderr)
    # Asking about a name that was never defined leaves nothing behind.
    assert not (state / "run" / "nope.lock").exists()
    # Commands that need no running VM succeed on a defined one.
    for cmd in ["info", "vcpupin", "emulatorpin", "numatune", "dumpconfig", "domblklist",
                "domiflist"]:
        r = m.run(cmd, "idle")
        assert r.returncode == 0 and not r.stderr, (cmd, r.returncode, r.stderr)


def test_groups_and_top_level(tmp_path):
    """vessel itself, define, list, net, host, run, vhost-user-blk."""
    state = tmp_path / "st"
    state.mkdir()
    m = Manager(BUILD / "vessel", state, "/nonexistent")
    cases = [
        ([], 2), (["--bogus"], 2), (["bogus"], 2), (["define"], 2), (["define", "x"], 2),
        (["list", "extra"], 2), (["net"], 2), (["net", "bogus"], 2), (["net", "info"], 2),
        (["net", "create"], 2), (["net", "create", "n", "--bogus"], 2), (["host", "--bogus"], 2),
        (["run"], 2), (["run", "--bogus"], 2), (["vhost-user-blk"], 2),
        (["define", "x", "--config", tmp_path / "missing.json"], 1),
        (["net", "info", "nope"], 1), (["net", "start", "nope"], 1),
    ]
    for args, want in cases:
        r = m.run(*args)
        assert r.returncode == want, (args, r.returncode, r.stderr)
        assert r.stderr.startswith("vessel: ") or r.stderr.startswith("usage: vessel"), \
            (args, r.stderr)
        # With no command at all, the usage lists them.
        if args and args != ["net"]:
            assert one_line(r), (args, r.stderr)
    for args in [["--help"], ["--version"], ["version"], ["list"], ["list", "--all"],
                 ["net", "--help"], ["net", "list"], ["run", "--help"]]:
        r = m.run(*args)
        assert r.returncode == 0 and not r.stderr, (args, r.stderr)


def test_status_is_never_an_errno(tmp_path):
    """A command that fails on a system call still exits 1: an unwritable
    state directory makes every command fail at its first step."""
    state = tmp_path / "st"
    state.mkdir()
    (state / "lib").write_text("not a directory\n")
    m = Manager(BUILD / "vessel", state, "/nonexistent")
    for args in [["list"], ["info", "x"], ["start", "x"], ["net", "list"]]:
        r = m.run(*args)
        assert r.returncode == 1 and one_line(r), (args, r.returncode, r.stderr)
    r = subprocess.run([BUILD / "vessel", "img", "info", tmp_path / "missing"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and one_line(r), r.stderr


def test_quiet_silences_the_informational_lines(tmp_path):
    """-q: only errors; without it, one line saying what was done."""
    state = tmp_path / "st"
    state.mkdir()
    m = Manager(BUILD / "vessel", state, "/nonexistent")
    f = tmp_path / "d.json"
    f.write_text('{"kernel": "/nonexistent"}')
    r = m.run("define", "x", "--config", f, check=True)
    assert r.stdout == f"VM 'x' defined from {f}\n", r.stdout
    r = m.run("-q", "undefine", "x", check=True)
    assert r.stdout == "" and r.stderr == "", r
    r = m.run("-q", "define", "x", "--config", f, check=True)
    assert r.stdout == "", r.stdout
    r = m.run("-q", "start", "nope")
    assert r.returncode == 1 and "not defined" in r.stderr, r.stderr
    # -q leaves what was asked for: a read command's output.
    assert m.run("-q", "list", "--all", check=True).stdout.startswith("NAME ")


def test_lock_files_come_and_go_under_concurrency(tmp_path):
    """define/undefine/info of one name from several processes at once,
    while the lock file is removed whenever nothing of the VM is left:
    every command succeeds or says the VM is not defined, in one line, none
    waits out the lock timeout, and nothing of the name is left at the end.
    (That a waiter on a removed lock file retries on the new one, so two
    never hold it together, is test_state.c test_lock_drop_hands_over.)"""
    state = tmp_path / "st"
    state.mkdir()
    m = Manager(BUILD / "vessel", state, "/nonexistent")
    f = tmp_path / "d.json"
    f.write_text('{"kernel": "/nonexistent"}')
    bad = []

    def worker(k):
        for i in range(6):
            args = [["define", "x", "--config", f], ["undefine", "x"],
                    ["info", "x"]][(i + k) % 3]
            r = m.run(*args, timeout=60)
            ok = r.returncode == 0 or "is not defined" in r.stderr
            if not ok or len(r.stderr.strip().splitlines()) > 1:
                bad.append((args, r.returncode, r.stderr))

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not bad, bad
    m.run("undefine", "x")
    # The host-wide files of the dedicated CPU policy stay; nothing of 'x'.
    left = sorted(p.name for p in (state / "run").iterdir())
    assert left == ["dedicated", "dedicated.lock", "uuid.lock"], left

