#!/usr/bin/python3
"""bench/balloon: how fast the host gets memory back, vessel vs QEMU.

Boots the same Linux guest (Debian's cloud kernel, the lane's initramfs
with bench/balloon/guest.sh and memtouch) with 1 GiB and a virtio-balloon
on each VMM, interleaved round by round, in two modes:

  inflate  the guest fills 700 MiB of tmpfs and frees it (free in the
           guest, resident on the host); the host sets the balloon's
           target to 256 MiB (vessel: PUT /vm/memory/target; QEMU: QMP
           balloon) and watches the VMM's resident set (/proc/PID/status
           VmRSS) fall.  Meanwhile the guest times passes of memtouch
           (64 MiB of fresh memory written a page at a time): the
           guest-visible cost of inflation, against passes timed before.
  report   free page reporting on; the guest fills 700 MiB and frees it,
           and the host watches the resident set fall as the guest
           reports the free pages.

The rate is MiB given back per second, from the request (or the guest's
free) until the resident set has fallen by 90% of its final drop.  Free
page reporting waits 2 s in the guest before it reports
(PAGE_REPORTING_DELAY), which both VMMs pay.  Prints medians and
vessel/QEMU ratios (> 1: vessel ahead).

usage: bench/balloon/balloonbench.py --build BUILD [--rounds N] [--image K I]
Needs /dev/kvm that boots Linux: bench/balloon/run.sh goes through
bench/in-l1.py, which runs it in the Linux lane's L1 host where this
host's KVM cannot.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MiB = 1 << 20
MEM, TARGET, FILL = "1G", 256 * MiB, 700


def image(build):
    """The L2 initramfs with memtouch and the bench script; (kernel, initrd)."""
    out = os.path.join(build, "bench-balloon-l2.img")
    memtouch = os.path.join(build, "bench", "balloon", "memtouch")
    if not os.access(memtouch, os.X_OK):
        raise SystemExit(f"bench/balloon: {memtouch} not built (meson -Dbench=true)")
    r = subprocess.run([os.path.join(ROOT, "tests", "vhost", "mkinitramfs.sh"), out,
                        os.path.join(ROOT, "bench", "balloon", "guest.sh"), memtouch],
                       capture_output=True, text=True, timeout=600)
    if r.returncode:
        raise SystemExit(f"bench/balloon: mkinitramfs.sh: {r.stderr.strip()[-500:]}")
    return r.stdout.strip(), out


def rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024
    except (OSError, AttributeError):
        return None


class Console:
    """The VMM's serial console on stdout: lines with their arrival time."""

    def __init__(self, p):
        self.lines, self.cv = [], threading.Condition()
        self.t = threading.Thread(target=self._read, args=(p,), daemon=True)
        self.t.start()

    def _read(self, p):
        for line in p.stdout:
            with self.cv:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self.cv.notify_all()

    def wait(self, pattern, timeout):
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                for t, line in self.lines:
                    if re.search(pattern, line):
                        return t, line
                    if "BENCH-FAIL" in line:
                        raise RuntimeError(line)
                left = end - time.monotonic()
                if left <= 0:
                    tail = "\n".join(x for _, x in self.lines[-20:])
                    raise RuntimeError(f"no '{pattern}' within {timeout} s:\n{tail}")
                self.cv.wait(left)

    def work(self, tag, t0=None, t1=None):
        """memtouch pass times (ms) with this tag, finished within [t0, t1]."""
        with self.cv:
            return [float(m.group(1)) for t, x in self.lines
                    if (m := re.search(rf"WORK {tag} ms=([\d.]+)", x))
                    and (t0 is None or t0 <= t <= t1)]


def watch(pid, t0, timeout=120, settle=3.0):
    """Sample the resident set until it has not fallen for `settle` s;
    returns (MiB/s to 90% of the drop, the drop in bytes)."""
    r0 = rss(pid)
    samples = [(t0, r0)]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        time.sleep(0.02)
        now, r = time.monotonic(), rss(pid)
        if r is None:
            break
        samples.append((now, r))
        low = min(x for _, x in samples)
        # Settled: nothing new below the low for `settle` seconds.
        first_low = next(t for t, x in samples if x <= low + MiB)
        if now - first_low > settle and now - t0 > settle:
            break
    low = min(x for _, x in samples)
    drop = r0 - low
    if drop < 16 * MiB:
        return None, drop
    t90 = next(t for t, x in samples if r0 - x >= 0.9 * drop)
    return 0.9 * drop / MiB / max(t90 - t0, 1e-3), drop


def qmp_balloon(path, value):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    f = s.makefile("rw")
    f.readline()
    for cmd in ({"execute": "qmp_capabilities"},
                {"execute": "balloon", "arguments": {"value": value}}):
        f.write(json.dumps(cmd) + "\n")
        f.flush()
        while True:
            reply = json.loads(f.readline())
            if "return" in reply or "error" in reply:
                break
        if "error" in reply:
            raise RuntimeError(f"QMP {cmd['execute']}: {reply['error']}")
    s.close()


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path_ = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path_)


def vessel_target(path, value):
    c = UnixHTTP(path)
    c.request("PUT", "/vm/memory/target", body=json.dumps({"size": value}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    body = r.read()
    if r.status != 204:
        raise RuntimeError(f"PUT /vm/memory/target: {r.status} {body!r}")


def wait_socket(path, timeout=30):
    end = time.monotonic() + timeout
    while not os.path.exists(path) and time.monotonic() < end:
        time.sleep(0.05)


def one_boot(vmm, mode, cmd, ctl):
    """One boot in one mode; returns a dict of figures."""
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, bufsize=1)
    con = Console(p)
    res = {}
    try:
        con.wait(r"BENCH-FILLED", 300)
        if mode == "inflate":
            t0, _ = con.wait(r"BENCH-INFLATE", 120)
            wait_socket(ctl)
            if vmm == "qemu":
                qmp_balloon(ctl, TARGET)
            else:
                vessel_target(ctl, TARGET)
            rate, drop = watch(p.pid, time.monotonic())
            t1 = time.monotonic()
            res.update(rate=rate, drop=drop, base=con.work("base"),
                       during=con.work("infl", t0, t1))
        else:
            con.wait(r"BENCH-FREE", 120)
            rate, drop = watch(p.pid, time.monotonic())
            res.update(rate=rate, drop=drop)
    finally:
        p.kill()
        p.wait()
    return res


def median(v):
    v = sorted(x for x in v if x is not None)
    return v[len(v) // 2] if v else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--image", nargs=2, metavar=("KERNEL", "INITRD"),
                    help="prebuilt guest (run.sh builds it before entering L1)")
    ap.add_argument("--prepare", action="store_true", help="only build the guest image")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    kernel, initrd = a.image or image(build)
    if a.prepare:
        print(kernel, initrd)
        return 0
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as e:
        print(f"FAILED: /dev/kvm: {e.strerror} (run through bench/balloon/run.sh)")
        return 1
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        print("FAILED: qemu-system-x86_64 not installed (Debian's qemu-system-x86)")
        return 1
    tmp = tempfile.mkdtemp(prefix="vsbb-")
    results = {(v, m): [] for v in ("vessel", "qemu") for m in ("inflate", "report")}
    for i in range(a.rounds):
        for mode in ("inflate", "report"):
            append = f"console=ttyS0 reboot=k panic=-1 quiet bb.mode={mode} bb.fill={FILL}"
            rep = "on" if mode == "report" else "off"
            for vmm in ("vessel", "qemu"):
                ctl = os.path.join(tmp, f"{vmm}-{i}-{mode}.sock")
                if vmm == "vessel":
                    cmd = [os.path.join(build, "vessel"), "run", "--kernel", kernel,
                           "--initrd", initrd, "--memory", MEM, "--cpus", "1",
                           f"--balloon=free_page_reporting={rep}", "--api-socket", ctl,
                           "--cmdline", append]
                else:
                    cmd = [qemu, "-accel", "kvm", "-M", "q35", "-cpu", "host", "-m", MEM,
                           "-smp", "1", "-nographic", "-no-reboot", "-nodefaults",
                           "-serial", "stdio", "-kernel", kernel, "-initrd", initrd,
                           "-append", append, "-device",
                           f"virtio-balloon-pci,disable-legacy=on,free-page-reporting={rep}",
                           "-qmp", f"unix:{ctl},server=on,wait=off"]
                try:
                    r = one_boot(vmm, mode, cmd, ctl)
                except (RuntimeError, OSError) as e:
                    print(f"round {i + 1} {vmm} {mode}: FAILED: {e}", flush=True)
                    continue
                results[(vmm, mode)].append(r)
                extra = ""
                if mode == "inflate":
                    extra = (f" base_ms={median(r['base'])} during_ms={median(r['during'])}"
                             f" (n={len(r['during'])})")
                rate = f"{r['rate']:.0f}" if r["rate"] else "-"
                print(f"round {i + 1} {vmm} {mode}: {rate} MiB/s, "
                      f"{r['drop'] // MiB} MiB back{extra}", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    if not results[("vessel", "inflate")] or not results[("qemu", "inflate")]:
        print("FAILED: no results for both VMMs (see the output above)")
        return 1

    def fig(vmm, mode, key):
        return median([r[key] for r in results[(vmm, mode)]])

    def work(vmm, key):
        return median([median(r[key]) for r in results[(vmm, "inflate")]])

    rows = [("inflate 1G->256M, MiB/s back", fig("vessel", "inflate", "rate"),
             fig("qemu", "inflate", "rate"), True),
            ("free page reporting, MiB/s back", fig("vessel", "report", "rate"),
             fig("qemu", "report", "rate"), True),
            ("memtouch 64M pass, still (ms)", work("vessel", "base"), work("qemu", "base"),
             False),
            ("memtouch 64M pass, inflating (ms)", work("vessel", "during"),
             work("qemu", "during"), False)]
    print(f"virtio-balloon, same Linux guest (1 vCPU, {MEM}), {FILL} MiB filled and freed, "
          f"median of {a.rounds} boots each")
    print(f"{'workload':36}{'vessel':>10}{'qemu':>10}{'vessel/qemu':>14}")
    for label, v, q, more_is_better in rows:
        ratio = "-"
        if v and q:
            ratio = f"{(v / q if more_is_better else q / v):.2f}x"
        fmt = (lambda x: f"{x:.0f}" if x is not None else "-") if more_is_better else (
            lambda x: f"{x:.1f}" if x is not None else "-")
        print(f"{label:36}{fmt(v):>10}{fmt(q):>10}{ratio:>14}")
    for vmm in ("vessel", "qemu"):
        b, d = work(vmm, "base"), work(vmm, "during")
        if b and d:
            print(f"{vmm}: a memtouch pass takes {100 * (d / b - 1):+.0f}% while the balloon "
                  "inflates")
    print("ratio > 1: vessel ahead (more MiB/s, or shorter passes).  MiB/s: to 90% of the "
          "resident set's drop, measured from outside (VmRSS).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
