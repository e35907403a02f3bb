# The memory balloon with Linux's virtio_balloon driver (issue 13,
# docs/memory.md): VMs started by `vessel start`, driven with
# `vessel setmem` and `vessel dommemstat`, and the memory the host gets
# back measured from outside, as the VMM's resident set in /proc.
#
# The guests need a /dev/kvm that boots Linux: on this machine they skip
# here and scripts/kvm-in-l1.py runs them in the L1 host.  The guest side
# is the balloon check of tests/linux/guest.sh.
import json
import re
import sys
import time

import pytest

from conftest import BUILD, ROOT, kvm_usable

sys.path.insert(0, str(ROOT / "tests" / "linux"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
import launch  # noqa: E402
from mgmt_helpers import Manager, api  # noqa: E402

MiB = 1 << 20
CMDLINE = "console=ttyS0 reboot=k panic=-1 quiet lane.check=balloon"


@pytest.fixture
def lane(tmp_path):
    why = kvm_usable()
    if why:
        pytest.skip(why)
    images = launch.build_images(ROOT / "images" / "lane", BUILD / "vessel")
    state = tmp_path / "st"
    state.mkdir()
    m = Manager(BUILD / "vessel", state, images / "vmlinuz")
    m.initrd = images / "l2.img"
    yield m
    for name in ("bal",):
        m.run("destroy", name, timeout=30)
    m.cleanup()


def start(m, tmp_path, balloon, args="", memory=None):
    console = tmp_path / "bal.console"
    mem = {"size": "1G", "balloon": balloon}
    mem.update(memory or {})
    m.define("bal", {"cpus": 1, "memory": mem, "initrd": str(m.initrd),
                     "cmdline": f"{CMDLINE} {args}",
                     "console": {"mode": "file", "path": str(console)}})
    m.run("start", "bal", check=True)
    return console


def console_text(path):
    try:
        return path.read_text(errors="replace").replace("\r", "")
    except OSError:
        return ""


def wait_console(path, pattern, timeout=240):
    end = time.time() + timeout
    while time.time() < end:
        hit = re.search(pattern, console_text(path), re.M)
        if hit:
            return hit
        time.sleep(0.5)
    raise AssertionError(f"no '{pattern}' within {timeout} s:\n{console_text(path)[-3000:]}")


def guest_mem(path):
    """The guest's last (MemTotal, MemFree) line, in KiB."""
    got = re.findall(r"^G mem total=(\d+) free=(\d+)", console_text(path), re.M)
    return tuple(map(int, got[-1])) if got else (0, 0)


def rss(m):
    with open(f"/proc/{m.pid('bal')}/status") as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024


def dommemstat(m):
    out = m.run("dommemstat", "bal", check=True).stdout
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


def until(fn, timeout, step=1.0):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def test_setmem_shrinks_the_vmm_and_deflate_gives_it_back(lane, tmp_path):
    """A 1 GiB guest whose memory is all resident (prealloc): setmem 256M
    inflates the balloon until the guest has 256 MiB, and the VMM's
    resident set, as /proc counts it, falls by most of the rest; stats
    show up in dommemstat in virsh's names; setmem 1G deflates, and the
    guest sees its memory again."""
    m = lane
    console = start(m, tmp_path, {"stats_period": 1, "floor": "128M"},
                    memory={"prealloc": True})
    wait_console(console, r"^G balloon_driver=virtio_balloon")
    wait_console(console, r"^G mem total=")
    total0 = guest_mem(console)[0]
    before = rss(m)
    assert before > 900 * MiB, before
    st = until(lambda: (s := dommemstat(m)) and "usable" in s and s, 30)
    assert st["actual"] == 1024 * 1024, st
    for k in ("swap_in", "swap_out", "major_fault", "minor_fault", "unused", "available",
              "usable", "last_update", "disk_caches", "rss"):
        assert k in st, st
    assert abs(st["available"] - total0) < 1024, (st, total0)
    assert abs(time.time() - st["last_update"]) < 30, st

    r = m.run("setmem", "bal", "256M", check=True)
    assert "memory target 256M (was 1G)" in r.stdout, r.stdout
    st = until(lambda: (s := dommemstat(m))["actual"] <= 256 * 1024 + 4096 and s, 180)
    assert st["actual"] <= 256 * 1024 + 4096, st
    after = until(lambda: (v := rss(m)) < before - 600 * MiB and v, 30)
    assert after and after < before - 600 * MiB, (before, rss(m))
    # Linux takes the pages out of MemTotal as it inflates.
    total = until(lambda: (t := guest_mem(console)[0]) < 320 * 1024 and t, 30)
    assert total and total < 320 * 1024, guest_mem(console)
    o = api(m.sock("bal"), "GET", "/vm/memory")[2]
    assert o["target"] == 256 * MiB and o["balloon"]["driver"] is True, o
    print(f"rss before {before // MiB} MiB, after setmem 256M {after // MiB} MiB")

    m.run("setmem", "bal", "1G", check=True)
    st = until(lambda: (s := dommemstat(m))["actual"] == 1024 * 1024 and s, 180)
    assert st["actual"] == 1024 * 1024, st
    total = until(lambda: (t := guest_mem(console)[0]) > total0 - 8 * 1024 and t, 30)
    assert total and total > total0 - 8 * 1024, (guest_mem(console), total0)

    # The floor and the VM's size bound setmem; each refusal is one line.
    for size, why in (("64M", "below the balloon's floor (128M)"),
                      ("2G", "more than the VM's memory (1G)")):
        r = m.run("setmem", "bal", size)
        assert r.returncode != 0 and why in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_free_page_reporting_returns_freed_memory(lane, tmp_path):
    """With free_page_reporting, memory the guest frees goes back to the
    host without any setmem: 400 MiB written to tmpfs raise the VMM's
    resident set, and once the guest deletes it the resident set falls
    again, measured from outside."""
    m = lane
    console = start(m, tmp_path, {"free_page_reporting": True, "stats_period": 0},
                    args="lane.fill=400")
    wait_console(console, r"^G-FILLED")
    full = rss(m)
    assert full > 400 * MiB, full
    wait_console(console, r"^G-FREED")
    low = until(lambda: (v := rss(m)) < full - 250 * MiB and v, 60)
    assert low and low < full - 250 * MiB, (full, rss(m))
    stats = api(m.sock("bal"), "GET", "/vm/stats")[2]["devices"]["virtio-balloon0"]
    assert stats["reported_bytes"] >= 250 * MiB, stats
    assert stats["bad_pfns"] == 0 and stats["discard_errors"] == 0, stats
    o = api(m.sock("bal"), "GET", "/vm/memory")[2]
    assert o["balloon"]["free_page_reporting"] is True, o
    print(f"rss filled {full // MiB} MiB, after the guest freed it {low // MiB} MiB")


def test_balloon_mistakes_are_one_line(lane, tmp_path):
    """setmem on a VM without a balloon, and definitions a balloon cannot
    serve, are refused in one line."""
    m = lane
    console = tmp_path / "bal.console"
    m.define("bal", {"cpus": 1, "memory": "256M", "initrd": str(m.initrd),
                     "cmdline": CMDLINE, "console": {"mode": "file", "path": str(console)}})
    m.run("start", "bal", check=True)
    r = m.run("setmem", "bal", "128M")
    assert r.returncode != 0 and "has no balloon" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    bad = tmp_path / "bad.json"
    for mem, why in (({"size": "1G", "backing": "hugetlb", "balloon": {}}, "huge pages"),
                     ({"size": "256M", "balloon": {"floor": "1G"}}, "floor is larger"),
                     ({"size": "256M", "balloon": {"stats_period": -1}}, "stats_period")):
        bad.write_text(json.dumps({"kernel": str(m.guest), "memory": mem}))
        r = m.run("define", "x", "--config", bad)
        assert r.returncode != 0 and why in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_admission_refuses_what_the_host_cannot_hold(lane, tmp_path):
    """host.json's policy leaves 1 GiB for VMs: a 768 MiB VM beside a
    running 512 MiB one is refused with the figures, and so is a 640 MiB
    prealloc VM (never overcommitted, so the running one would have only
    384 MiB); after setmem 256M on the first,
    the 768 MiB VM starts; vessel host --capacity shows the sums."""
    m = lane
    with open("/proc/meminfo") as f:
        info = {k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in f)}
    reserve = info["MemTotal"] - info.get("Hugetlb", 0) - 1024 * MiB
    (m.state / "lib").mkdir(mode=0o700, exist_ok=True)
    (m.state / "lib" / "host.json").write_text(json.dumps(
        {"memory": {"overcommit_ratio": 1.0, "reserve": str(reserve)}}))
    console = start(m, tmp_path, {"stats_period": 1}, memory={"size": "512M"})
    wait_console(console, r"^G mem total=")
    vm = {"cpus": 1, "initrd": str(m.initrd), "cmdline": CMDLINE}
    m.define("big", dict(vm, memory="768M",
                         console={"mode": "file", "path": str(tmp_path / "big.console")}))
    m.define("pre", dict(vm, memory={"size": "640M", "prealloc": True},
                         console={"mode": "file", "path": str(tmp_path / "pre.console")}))
    try:
        r = m.run("start", "big")
        lines = r.stderr.strip().splitlines()
        assert r.returncode != 0 and len(lines) == 1, r.stderr
        assert ("cannot start 'big': the host's memory policy refuses it: 768M more on top "
                "of 512M committed to overcommittable VMs exceeds 1G") in lines[0], lines
        r = m.run("start", "pre")
        assert r.returncode != 0 and ("640M more for a VM that is not overcommitted leaves "
                                      "384M for the 512M committed") in r.stderr, r.stderr
        cap = json.loads(m.run("host", "--capacity", "--json", check=True).stdout)
        assert cap["vms"] == 1 and cap["committed_soft"] == 512 * MiB, cap
        assert cap["capacity"] == 1024 * MiB and cap["policy_file"] is True, cap
        m.run("setmem", "bal", "256M", check=True)
        cap = json.loads(m.run("host", "--capacity", "--json", check=True).stdout)
        assert cap["committed_soft"] == 256 * MiB and cap["committed_soft_size"] == 512 * MiB
        m.run("start", "big", check=True)
        cap = json.loads(m.run("host", "--capacity", "--json", check=True).stdout)
        assert cap["vms"] == 2 and cap["room_soft"] == 0, cap
        # Growing back would take what big now has: refused, in one line.
        r = m.run("setmem", "bal", "512M")
        lines = r.stderr.strip().splitlines()
        assert r.returncode != 0 and len(lines) == 1, r.stderr
        assert "setmem 'bal': the host's memory policy refuses it" in lines[0], lines
    finally:
        m.run("destroy", "big", timeout=30)
