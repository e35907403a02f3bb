#!/usr/bin/python3
# bench/vhost-user-blk: the same TCG Linux guest and the same load
# against vessel's vhost-user-blk backend and qemu-storage-daemon's
# vhost-user-blk export, on raw and on qcow2, in one run.  The load
# (ioload.c, O_DIRECT + native AIO inside the guest): 4 KiB random read
# and write at queue depth 16, 1 MiB sequential read and write at depth 4.
# Prints IOPS and MB/s of both, the ratio vessel/qsd, and each backend's
# host CPU time per I/O (utime + stime of the backend process over the
# load, all its threads).  TCG makes the absolute numbers small: the
# guest is the bottleneck; a ratio well below 1 would mean ours is.
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "vhost"))
import lane  # noqa: E402

LOADS = [("randread", 4096, 16), ("randwrite", 4096, 16), ("read", 1 << 20, 4),
         ("write", 1 << 20, 4)]


def guest_script(secs, span_mb):
    lines = ["#!/bin/sh",
             "for pass in 1 2 3; do for m in $(cat /modules.order); do "
             "insmod /lib/modules/*/\"$m\" 2>/dev/null; done; done",
             # Warm-up (TCG translation, host page cache), not measured.
             f"/opt/vessel/ioload /dev/vda randread 4096 16 1 {span_mb} >/dev/null"]
    for mode, bs, qd in LOADS:
        lines += [f"echo BENCH-START {mode}",
                  f"/opt/vessel/ioload /dev/vda {mode} {bs} {qd} {secs} {span_mb}",
                  f"echo BENCH-END {mode}"]
    return "\n".join(lines) + "\n"


def run_one(kernel, initrd, backend, timeout):
    """Boot the guest against one backend; per load: IOPS, MB/s, CPU us per I/O."""
    cmd = lane.qemu_cmd(kernel, initrd, [backend.sock])
    q = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, text=True, errors="replace")
    res, out, cpu0 = {}, [], 0.0
    watchdog = threading.Timer(timeout, q.kill)
    watchdog.start()
    try:
        for line in q.stdout:
            out.append(line)
            if line.startswith("BENCH-START"):
                cpu0 = backend.cpu_seconds()
            m = re.match(r"IOLOAD (\S+) \d+ \d+ (\d+) \d+ (\S+) (\S+) (\S+)", line)
            if m:
                ops = int(m.group(2))
                cpu = backend.cpu_seconds() - cpu0
                res[m.group(1)] = (float(m.group(4)), float(m.group(5)),
                                   cpu / ops * 1e6 if ops else 0.0)
        q.wait(timeout=30)
    finally:
        watchdog.cancel()
        if q.poll() is None:
            q.kill()
            q.wait()
    if len(res) != len(LOADS):
        raise RuntimeError(f"guest did not finish every load (timeout {timeout:.0f} s):\n" +
                           "".join(out[-30:]))
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--secs", type=float, default=4)
    ap.add_argument("--size-mb", type=int, default=256)
    ap.add_argument("--reps", type=int, default=2)
    a = ap.parse_args()
    vessel = pathlib.Path(a.build) / "vessel"
    reason = lane.missing_tools()
    if not reason and not shutil.which("qemu-storage-daemon"):
        reason = "qemu-storage-daemon (qemu-system-x86) is not installed"
    if not reason and not vessel.exists():
        reason = f"{vessel} is not built"
    if reason:
        print(f"vhost-user-blk bench: SKIPPED: {reason}")
        return 0
    with tempfile.TemporaryDirectory(prefix="vhost-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        subprocess.run(["cc", "-O2", "-o", str(tmp / "ioload"),
                        str(ROOT / "bench" / "vhost-user-blk" / "ioload.c")], check=True)
        (tmp / "bench.sh").write_text(guest_script(a.secs, a.size_mb))
        kernel = lane.build_initramfs(tmp / "bench.img", tmp / "bench.sh", [tmp / "ioload"])
        src = tmp / "src.raw"
        with open(src, "wb") as f:
            for _ in range(a.size_mb):
                f.write(os.urandom(1 << 20))
        subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(src), str(tmp / "src.qcow2")],
                       check=True)
        timeout = a.secs * len(LOADS) * 4 + 120
        results = {}
        # Interleaved repetitions, best of each: the host is shared and TCG is noisy.
        for rep in range(a.reps):
            for fmt in ("raw", "qcow2"):
                order = ("vessel", "qsd") if rep % 2 == 0 else ("qsd", "vessel")
                for impl in order:
                    img = tmp / f"disk.{fmt}"
                    shutil.copyfile(tmp / f"src.{fmt}", img)
                    sock = tmp / f"{impl}.sock"
                    log = tmp / f"{impl}-{fmt}.log"
                    if impl == "vessel":
                        b = lane.Backend.vessel(str(vessel), sock, f"path={img},format={fmt}",
                                                log)
                    else:
                        b = lane.Backend.qsd(sock, img, fmt, log)
                    try:
                        res = run_one(kernel, tmp / "bench.img", b, timeout)
                    finally:
                        b.stop()
                    img.unlink()
                    best = results.setdefault((fmt, impl), {})
                    for mode, val in res.items():
                        if mode not in best or val[0] > best[mode][0]:
                            best[mode] = val
    print(f"vhost-user-blk: TCG guest (2 vCPUs), O_DIRECT native AIO, {a.secs:g} s per load, "
          f"{a.size_mb} MiB image in the host page cache, best of {a.reps}")
    print(f"{'format':6} {'load':16} {'vessel':>16} {'qsd':>16} {'ratio':>6} "
          f"{'vessel CPU/IO':>14} {'qsd CPU/IO':>11}")
    for fmt in ("raw", "qcow2"):
        for mode, bs, qd in LOADS:
            v = results[fmt, "vessel"][mode]
            q = results[fmt, "qsd"][mode]
            unit, idx = ("IOPS", 0) if bs == 4096 else ("MB/s", 1)
            name = f"{mode} {bs // 1024 if bs < 1 << 20 else bs >> 20}{'K' if bs < 1 << 20 else 'M'} qd{qd}"
            print(f"{fmt:6} {name:16} {v[idx]:>11.0f} {unit} {q[idx]:>11.0f} {unit} "
                  f"{v[idx] / q[idx] if q[idx] else 0:>6.2f} {v[2]:>11.1f} us {q[2]:>8.1f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
