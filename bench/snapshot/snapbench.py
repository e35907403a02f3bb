#!/usr/bin/python3
"""bench/snapshot: save and restore of a whole Linux VM, vessel vs QEMU.

The same guest on each VMM (Debian's cloud kernel, the Linux lane's
initramfs, lane.check=snapbench in tests/linux/guest.sh) fills half its
memory with page cache, says "ready" and waits for "go" at the start of
its 'data' disk.  Then:

  save     vessel: `vessel save NAME FILE --stop` (FILE and the sparse
           FILE.mem); QEMU: QMP stop + migrate "exec:cat > FILE" (as
           virsh save does), until query-migrate says completed.
  restore  the host writes "go" into the disk, then starts the restore
           (vessel: `vessel restore FILE`, lazy MAP_PRIVATE memory;
           QEMU: -incoming "exec:cat FILE") and waits for the guest's
           "done": it has read back every page it filled, so the faults
           of a lazy restore are counted.

Per run: save time, the files' size on disk, the time from the restore
command to "done", and the guest's own time for the read-back.  vessel
also reports its restore to running vCPUs (the event log's "restored:"
line: state loaded in N ms, running N ms after the VMM started): the
time to the first guest instruction.  Shapes: 1 vCPU 256 MiB, 1 vCPU
1 GiB, 2 vCPUs 512 MiB; VMMs interleaved round by round.  Prints
medians and the qemu/vessel ratios (> 1: vessel ahead).

usage: bench/snapshot/snapbench.py --build BUILD [--rounds N] [--shapes 1:256,2:512]
Needs a /dev/kvm that boots Linux: bench/snapshot/run.sh goes through
bench/in-l1.py (the Linux lane's L1 host) where this host's cannot.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "linux"))
import launch  # noqa: E402

CMD = "console=ttyS0 reboot=k panic=-1 quiet lane.check=snapbench lane.touch={touch}"
TIMEOUT = 600


def wait_line(path, pattern, timeout):
    """The first line of PATH matching PATTERN (a regex), waiting for it."""
    end = time.monotonic() + timeout
    rx = re.compile(pattern)
    while time.monotonic() < end:
        try:
            with open(path, errors="replace") as f:
                for line in f:
                    if rx.search(line):
                        return line.strip()
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"no '{pattern}' in {path} after {timeout} s")


def disk_used(*paths):
    return sum(os.stat(p).st_blocks * 512 for p in paths if os.path.exists(p))


def go(disk):
    with open(disk, "r+b") as f:
        f.write(b"go")
        f.flush()
        os.fsync(f.fileno())


def work_s(done):
    # "G snapbench done N t0 t1" (guest uptime)
    f = done.split()
    return float(f[5]) - float(f[4])


def run_vessel(vessel, d, cpus, mem, touch):
    env = dict(os.environ, XDG_RUNTIME_DIR=f"{d}/run", XDG_DATA_HOME=f"{d}/data")
    for sub in ("run", "data"):
        os.makedirs(f"{d}/{sub}", mode=0o700, exist_ok=True)
    name = f"snapbench{os.getpid()}"
    con, disk, save = f"{d}/console.log", f"{d}/data.raw", f"{d}/vm.sav"
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    cfg = {"name": name, "cpus": cpus, "memory": f"{mem}M", "kernel": KERNEL, "initrd": INITRD,
           "cmdline": CMD.format(touch=touch), "console": {"mode": "file", "path": con},
           "disks": [{"path": disk, "format": "raw", "serial": "data"}]}
    with open(f"{d}/vm.json", "w") as f:
        json.dump(cfg, f)

    def v(*args, check=True):
        r = subprocess.run([vessel, *args], env=env, capture_output=True, text=True, timeout=TIMEOUT)
        if check and r.returncode:
            raise RuntimeError(f"vessel {' '.join(args)}: {(r.stderr or r.stdout).strip()[-300:]}")
        return r.stdout

    v("define", name, "--config", f"{d}/vm.json")
    try:
        v("start", name)
        wait_line(con, r"^G snapbench ready", TIMEOUT)
        log = re.search(r"^Log:\s*(\S+)", v("info", name), re.M).group(1)
        t0 = time.monotonic()
        v("save", name, save, "--stop")
        save_s = time.monotonic() - t0
        size = disk_used(save, save + ".mem")
        go(disk)
        os.rename(con, f"{d}/console-before.log")
        t0 = time.monotonic()
        v("restore", save)
        done = wait_line(con, r"^G snapbench done", TIMEOUT)
        restore_s = time.monotonic() - t0
        with open(log, errors="replace") as f:
            ev = [line for line in f if "restored:" in line][-1]
        m = re.search(r"state loaded in ([\d.]+) ms, running ([\d.]+) ms", ev)
        return dict(save_s=save_s, size=size, restore_s=restore_s, work_s=work_s(done),
                    load_ms=float(m.group(1)), running_ms=float(m.group(2)))
    finally:
        v("destroy", name, check=False)
        v("undefine", name, check=False)


class Qmp:
    def __init__(self, path):
        for _ in range(500):
            if os.path.exists(path):
                break
            time.sleep(0.01)
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(TIMEOUT)
        self.s.connect(path)
        self.f = self.s.makefile("rw")
        self.f.readline()
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        while True:
            reply = json.loads(self.f.readline())
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RuntimeError(f"QMP {name}: {reply['error'].get('desc')}")


def run_qemu(qemu, d, cpus, mem, touch):
    con, disk, save, ctl = f"{d}/console.log", f"{d}/data.raw", f"{d}/vm.mig", f"{d}/qmp.sock"
    with open(disk, "wb") as f:
        f.truncate(1 << 20)
    base = [qemu, "-accel", "kvm", "-M", "q35", "-cpu", "host", "-smp", str(cpus), "-m", f"{mem}M",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-serial", f"file:{con}", "-kernel", KERNEL, "-initrd", INITRD,
            "-append", CMD.format(touch=touch),
            "-drive", f"file={disk},format=raw,if=none,id=d0,cache=none",
            "-device", "virtio-blk-pci,drive=d0,serial=data,disable-legacy=on",
            "-qmp", f"unix:{ctl},server=on,wait=off"]
    p = subprocess.Popen(base, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        q = Qmp(ctl)
        wait_line(con, r"^G snapbench ready", TIMEOUT)
        t0 = time.monotonic()
        q.cmd("stop")
        q.cmd("migrate", uri=f"exec:cat > {save}")
        while True:
            st = q.cmd("query-migrate").get("status")
            if st == "completed":
                break
            if st in ("failed", "cancelled"):
                raise RuntimeError(f"QEMU migrate to file: {st}")
            time.sleep(0.01)
        save_s = time.monotonic() - t0
        q.cmd("quit")
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    size = disk_used(save)
    go(disk)
    os.rename(con, f"{d}/console-before.log")
    os.unlink(ctl) if os.path.exists(ctl) else None
    t0 = time.monotonic()
    p = subprocess.Popen(base + ["-incoming", f"exec:cat {save}"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        done = wait_line(con, r"^G snapbench done", TIMEOUT)
        restore_s = time.monotonic() - t0
    finally:
        p.kill()
        p.wait()
    return dict(save_s=save_s, size=size, restore_s=restore_s, work_s=work_s(done))


def median(v):
    v = sorted(x for x in v if x is not None)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def main():
    global KERNEL, INITRD
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shapes", default="1:256,1:1024,2:512", help="CPUS:MiB,...")
    ap.add_argument("--prepare", action="store_true", help="only build the guest image")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    images = launch.build_images(os.path.join(ROOT, "images", "lane"),
                                 os.path.join(build, "vessel"))
    KERNEL, INITRD = str(images / "vmlinuz"), str(images / "l2.img")
    if a.prepare:
        return 0
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as e:
        print(f"FAILED: /dev/kvm: {e.strerror} (run through bench/snapshot/run.sh)")
        return 1
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        print("FAILED: qemu-system-x86_64 not installed (Debian's qemu-system-x86)")
        return 1
    shapes = [tuple(int(x) for x in s.split(":")) for s in a.shapes.split(",")]
    res = {}
    for i in range(a.rounds):
        for cpus, mem in shapes:
            for vmm in ("vessel", "qemu"):
                d = tempfile.mkdtemp(prefix=f"snapbench-{vmm}-")
                try:
                    if vmm == "vessel":
                        r = run_vessel(os.path.join(build, "vessel"), d, cpus, mem, mem // 2)
                    else:
                        r = run_qemu(qemu, d, cpus, mem, mem // 2)
                except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                    print(f"round {i + 1} {vmm} {cpus}x{mem}M: FAILED: {e}", flush=True)
                    continue
                finally:
                    shutil.rmtree(d, ignore_errors=True)
                res.setdefault((vmm, cpus, mem), []).append(r)
                extra = ""
                if "load_ms" in r:
                    extra = f", state loaded {r['load_ms']:.1f} ms, running {r['running_ms']:.1f} ms"
                print(f"round {i + 1} {vmm} {cpus}x{mem}M: save {r['save_s']:.2f} s, "
                      f"{r['size'] / 2**20:.0f} MiB on disk, restore to done {r['restore_s']:.2f} s "
                      f"(read-back {r['work_s']:.2f} s){extra}", flush=True)
    ok = True
    print(f"\nsave/restore, same Linux guest, half its memory filled, median of {a.rounds}")
    print(f"{'shape':10}{'figure':26}{'vessel':>10}{'qemu':>10}{'qemu/vessel':>13}")
    for cpus, mem in shapes:
        v, q = res.get(("vessel", cpus, mem)), res.get(("qemu", cpus, mem))
        if not v or not q:
            print(f"{cpus}x{mem}M: FAILED: no results for both VMMs")
            ok = False
            continue
        for key, label, scale in (("save_s", "save (s)", 1), ("size", "files on disk (MiB)", 2**-20),
                                  ("restore_s", "restore to done (s)", 1),
                                  ("work_s", "read-back in guest (s)", 1)):
            mv = median([r[key] for r in v]) * scale
            mq = median([r[key] for r in q]) * scale
            print(f"{cpus}x{mem}M{'':{10 - len(f'{cpus}x{mem}M')}}{label:26}{mv:>10.2f}{mq:>10.2f}"
                  f"{mq / mv if mv else float('nan'):>12.2f}x")
        print(f"{cpus}x{mem}M{'':{10 - len(f'{cpus}x{mem}M')}}{'vessel to running (ms)':26}"
              f"{median([r['running_ms'] for r in v]):>10.1f}   (state loaded in "
              f"{median([r['load_ms'] for r in v]):.1f} ms)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
