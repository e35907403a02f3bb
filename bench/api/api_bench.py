#!/usr/bin/env python3
"""API latency and VM starts per second: vessel vs QEMU, same guest, same run.

vessel: `vessel define/start` the idle test guest in a private state
directory, then time requests on its API socket.  The CLI opens one
connection per request, so each vessel sample includes connect + HTTP
request + JSON answer + close.  QEMU: microvm with the same PVH guest and
-qmp on a Unix socket; QMP keeps one connection, so a QEMU sample is one
command round trip on an open connection (the cheaper case).

Starts per second: N VMs started one after the other, each counted as
started when it answers its control socket (vessel: `vessel start`
returns once GET /vm/vcpus shows every vCPU running; QEMU: query-status
says "running"), then all stopped.  Per core divides by the host's CPUs.
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
N_GET = int(os.environ.get("N_GET", "2000"))
N_PAUSE = int(os.environ.get("N_PAUSE", "300"))
N_VMS = int(os.environ.get("N_VMS", "10"))
MEM = "64M"
VESSEL = os.path.join(BUILD, "vessel")
GUEST = os.path.join(BUILD, "tests", "guests", "mgmt", "idle.elf")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def http(sock, method, path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
              f"Content-Length: 0\r\n\r\n".encode())
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    return int(data.split(b" ", 2)[1])


class Qmp:
    def __init__(self, path, timeout=10):
        end = time.time() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.time() > end:
                    raise
                time.sleep(0.001)
        self.f = self.s.makefile("rb")
        json.loads(self.f.readline())  # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name):
        self.s.sendall(json.dumps({"execute": name}).encode() + b"\n")
        while True:
            m = json.loads(self.f.readline())
            if "return" in m or "error" in m:
                return m

    def close(self):
        self.s.close()


def qemu_cmd(qmp):
    return ["qemu-system-x86_64", "-M", "microvm", "-accel", "kvm", "-m", MEM, "-nodefaults",
            "-no-user-config", "-display", "none", "-monitor", "none", "-serial", "null",
            "-kernel", GUEST, "-qmp", f"unix:{qmp},server=on,wait=off"]


def timed(fn, n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def vessel_bench(tmp):
    env = dict(os.environ, VESSEL_STATE_DIR=os.path.join(tmp, "st"))
    cfg = os.path.join(tmp, "vm.json")
    with open(cfg, "w") as f:
        json.dump({"kernel": GUEST, "cpus": 1, "memory": MEM}, f)

    def v(*args):
        p = subprocess.run([VESSEL, *args], env=env, capture_output=True, text=True, timeout=60)
        if p.returncode:
            raise RuntimeError(f"vessel {' '.join(args)}: {p.stderr.strip()}")
        return p

    for i in range(N_VMS):
        v("define", f"b{i}", "--config", cfg)
    v("start", "b0")
    sock = os.path.join(tmp, "st", "run", "b0", "api.sock")
    for _ in range(50):
        http(sock, "GET", "/vm")
    get = timed(lambda: http(sock, "GET", "/vm"), N_GET)
    pr = []
    for _ in range(N_PAUSE):
        pr += timed(lambda: http(sock, "PUT", "/vm/pause"), 1)
        pr += timed(lambda: http(sock, "PUT", "/vm/resume"), 1)
    cli = timed(lambda: v("info", "b0"), 50)
    v("destroy", "b0")

    t0 = time.perf_counter()
    for i in range(N_VMS):
        v("start", f"b{i}")
    t_start = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(N_VMS):
        v("destroy", f"b{i}")
    t_stop = time.perf_counter() - t0
    return get, pr, cli, N_VMS / t_start, N_VMS / t_stop


def qemu_bench(tmp):
    path = os.path.join(tmp, "q0.qmp")
    p = subprocess.Popen(qemu_cmd(path), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        q = Qmp(path)
        if q.cmd("query-status")["return"]["status"] != "running":
            raise RuntimeError("QEMU guest not running")
        for _ in range(50):
            q.cmd("query-status")
        get = timed(lambda: q.cmd("query-status"), N_GET)
        pr = []
        for _ in range(N_PAUSE):
            pr += timed(lambda: q.cmd("stop"), 1)
            pr += timed(lambda: q.cmd("cont"), 1)
        q.close()
    finally:
        p.kill()
        p.wait()

    procs = []
    t0 = time.perf_counter()
    for i in range(N_VMS):
        path = os.path.join(tmp, f"s{i}.qmp")
        procs.append(subprocess.Popen(qemu_cmd(path), stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        q = Qmp(path)
        while q.cmd("query-status")["return"]["status"] != "running":
            time.sleep(0.001)
        q.close()
    t_start = time.perf_counter() - t0
    t0 = time.perf_counter()
    for p in procs:
        p.terminate()
        p.wait()
    t_stop = time.perf_counter() - t0
    return get, pr, N_VMS / t_start, N_VMS / t_stop


def main():
    for f in (VESSEL, GUEST):
        if not os.path.exists(f):
            print(f"bench/api: {f} not built", file=sys.stderr)
            return 1
    if "--config" not in subprocess.run([VESSEL, "run", "--help"], capture_output=True,
                                        text=True).stdout:
        print("bench/api: this vessel's `run` has no --config (VM-management wiring missing)",
              file=sys.stderr)
        return 1
    cores = os.cpu_count() or 1
    tmp = tempfile.mkdtemp(prefix="vbench-", dir="/tmp")
    try:
        vg, vp, vcli, vstart, vstop = vessel_bench(tmp)
        have_qemu = shutil.which("qemu-system-x86_64") is not None
        if have_qemu:
            try:
                qg, qp, qstart, qstop = qemu_bench(tmp)
            except (RuntimeError, OSError) as e:
                print(f"bench/api: QEMU lane failed: {e}", file=sys.stderr)
                have_qemu = False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"API round trip (ms; vessel: new connection per request, QEMU: open QMP connection)")
    print(f"{'':26} {'p50':>8} {'p99':>8}   {'QEMU p50':>9} {'QEMU p99':>9}   ratio p99")
    rows = [("GET /vm | query-status", vg, qg if have_qemu else None),
            ("pause, resume | stop, cont", vp, qp if have_qemu else None)]
    for name, v, q in rows:
        line = f"{name:26} {pct(v, 50):8.3f} {pct(v, 99):8.3f}"
        if q:
            line += f"   {pct(q, 50):9.3f} {pct(q, 99):9.3f}   {pct(v, 99) / pct(q, 99):8.2f}x"
        print(line)
    print(f"{'vessel info (CLI, exec)':26} {pct(vcli, 50):8.3f} {pct(vcli, 99):8.3f}")
    print(f"goal: API p99 < 10 ms: GET {'met' if pct(vg, 99) < 10 else 'MISSED'}, "
          f"pause/resume {'met' if pct(vp, 99) < 10 else 'MISSED'}")
    print()
    print(f"VM starts ({N_VMS} VMs, {MEM}, one after another; {cores} host CPUs)")
    print(f"  vessel: {vstart:6.1f} starts/s ({vstart / cores:.1f} per core), "
          f"{vstop:6.1f} stops/s")
    if have_qemu:
        print(f"  QEMU:   {qstart:6.1f} starts/s ({qstart / cores:.1f} per core), "
              f"{qstop:6.1f} stops/s")
        print(f"  ratio vessel/QEMU starts: {vstart / qstart:.2f}x")
    print(f"goal: >= 5 starts/s per core: {'met' if vstart / cores >= 5 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
