#!/usr/bin/python3
"""virtio-blk benchmark: vessel vs QEMU, same guest (vbench.elf), same disk file.

Boots tests/guests/virtio/vbench.elf on each VMM with a raw image opened
with O_DIRECT (vessel direct=on; QEMU cache=none,aio=io_uring), follows the
guest's BENCH-START/BENCH-END markers on the serial console and samples the
VMM's CPU time (per-thread schedstat, ns) around every phase.  Prints
IOPS / MB/s, host CPU per I/O (all threads, and without the vCPU threads,
i.e. the device emulation cost), the notification round trip, and the
vessel/QEMU ratio.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time

PHASES = ["randread", "randwrite", "seqread", "seqwrite", "rttpoll", "rttirq"]
LABEL = {"randread": "4 KiB random read", "randwrite": "4 KiB random write",
         "seqread": "1 MiB sequential read", "seqwrite": "1 MiB sequential write",
         "rttpoll": "kick -> used (polled, qd1)", "rttirq": "kick -> MSI-X irq (qd1)"}


def cpu_ns(pid):
    """(all threads, non-vCPU threads) CPU time in ns."""
    total = other = 0
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            ns = int(open(f"{task}/schedstat").read().split()[0])
            comm = open(f"{task}/comm").read().strip()
        except (OSError, ValueError, IndexError):
            continue
        total += ns
        if not (comm.startswith("vcpu") or comm.startswith("CPU ")):
            other += ns
    return total, other


def run_vm(name, cmd, timeout):
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, bufsize=1)
    res, start, log = {}, {}, []
    deadline = time.time() + timeout
    try:
        for line in p.stdout:
            log.append(line)
            m = re.search(r"BENCH-START (\w+)", line)
            if m:
                start[m.group(1)] = cpu_ns(p.pid)
            m = re.search(r"BENCH-END (\w+) (.*)", line)
            if m and m.group(1) in start:
                end = cpu_ns(p.pid)
                kv = dict(x.split("=") for x in m.group(2).split())
                kv = {k: int(v) for k, v in kv.items()}
                kv["cpu_all"] = end[0] - start[m.group(1)][0]
                kv["cpu_vmm"] = end[1] - start[m.group(1)][1]
                res[m.group(1)] = kv
            if "PASS" in line or "FAIL" in line or time.time() > deadline:
                break
    finally:
        p.kill()
        p.wait()
    if not res:
        sys.stderr.write(f"{name}: no results; output:\n{''.join(log[-30:])}\n")
    return res


def median_runs(runs):
    """Per phase and key, the median over the runs that have it."""
    out = {}
    for ph in PHASES:
        have = [r[ph] for r in runs if r and ph in r]
        if not have:
            continue
        out[ph] = {k: sorted(x[k] for x in have)[len(have) // 2] for k in have[0]
                   if all(k in x for x in have)}
    return out


def fmt(r, ph):
    if not r or ph not in r:
        return "-", None, None
    x = r[ph]
    ios = max(x.get("ios", 0), 1)
    if ph == "rttirq":
        return f"{x['avg_ns'] / 1000:.1f} us", x["avg_ns"], None
    if ph == "rttpoll":
        v = x["us"] * 1000 / ios
        return f"{v / 1000:.1f} us", v, x["cpu_vmm"] / ios
    if ph.startswith("seq"):
        return f"{x['MBps']} MB/s", x["MBps"], x["cpu_vmm"] / ios
    return f"{x['iops']} IOPS", x["iops"], x["cpu_vmm"] / ios


def direct_target(path):
    """(what to give the VMMs, loop device or None).  Where the directory's
    file system has no O_DIRECT (tmpfs, the L1 host's overlay), a loop
    device over the file gives a block device that has it."""
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_DIRECT))
        return path, None
    except OSError:
        pass
    r = subprocess.run(["losetup", "--find", "--show", path], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"FAILED: {path}: no O_DIRECT here, and no loop device: "
                         f"{r.stderr.strip()}")
    loop = r.stdout.strip()
    print(f"{os.path.dirname(path)} has no O_DIRECT: using {loop} over the image")
    return loop, loop


def print_table(a, b, names, cpu_names):
    """One row per phase: a's and b's figures and a/b (> 1: a ahead)."""
    print(f"{'workload':28} {names[0]:>14} {names[1]:>14} {'ratio':>7}   "
          f"{cpu_names[0]:>17} {cpu_names[1]:>9}")
    for ph in PHASES:
        as_, av, ac = fmt(a, ph)
        bs, bv, bc = fmt(b, ph)
        ratio = "-"
        if av and bv:
            # Higher is better for rates, lower for latencies.
            ratio = f"{(bv / av if ph.startswith('rtt') else av / bv):.2f}x"
        acs = f"{ac / 1000:.1f} us" if ac is not None else "-"
        bcs = f"{bc / 1000:.1f} us" if bc is not None else "-"
        print(f"{LABEL[ph]:28} {as_:>14} {bs:>14} {ratio:>7}   {acs:>17} {bcs:>9}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--secs", type=int, default=3)
    ap.add_argument("--size-mb", type=int, default=512)
    ap.add_argument("--dir", default=os.environ.get("TMPDIR", "/var/tmp"))
    ap.add_argument("--rounds", type=int, default=3,
                    help="boots per VMM, alternating; the median of each figure is shown")
    ap.add_argument("--no-direct", action="store_true",
                    help="through the host's page cache (vessel direct=off, QEMU "
                         "cache=writeback): for file systems without O_DIRECT and no loop "
                         "devices, such as the L1 host's overlay; fine for before/after")
    ap.add_argument("--baseline", metavar="BUILD",
                    help="also run this older build's vessel in the same rounds and print "
                         "new/baseline ratios (before/after comparisons)")
    a = ap.parse_args()
    guest = os.path.join(a.build, "tests/guests/virtio/vbench.elf")
    vessel = os.path.join(a.build, "vessel")
    for f in (guest, vessel):
        if not os.path.exists(f):
            print(f"SKIPPED: {f} not built")
            return 0
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIPPED: /dev/kvm not usable")
        return 0
    path = os.path.join(a.dir, f"vessel-blkbench-{os.getpid()}.img")
    # Real data, so reads hit the disk and not holes.
    subprocess.run(["dd", "if=/dev/urandom", f"of={path}", "bs=1M", f"count={a.size_mb}",
                    "status=none"], check=True)
    img, loop = (path, None) if a.no_direct else direct_target(path)
    direct = "off" if a.no_direct else "on"
    qcache = "writeback" if a.no_direct else "none"
    append = f"secs={a.secs}"
    qemu = shutil.which("qemu-system-x86_64")
    runs = {"vessel": [], "qemu": [], "baseline": []}

    def run_vessel(name, exe):
        runs[name].append(run_vm(name, [
            exe, "run", "--kernel", guest, "--memory", "256M", "--debug-exit",
            "--serial", "stdio", "--cmdline", append, "--disk", f"path={img},direct={direct}"],
            timeout=60 + 10 * a.secs * len(PHASES)))

    try:
        for _ in range(a.rounds):
            run_vessel("vessel", vessel)
            if a.baseline:
                run_vessel("baseline", os.path.join(a.baseline, "vessel"))
            if qemu:
                runs["qemu"].append(run_vm("qemu", [
                    qemu, "-name", "blkbench,debug-threads=on", "-accel", "kvm", "-M", "q35",
                    "-m", "256M", "-nographic",
                    "-no-reboot", "-kernel", guest, "-append", append,
                    "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
                    "-drive", f"if=none,id=d0,file={img},format=raw,cache={qcache},aio=io_uring",
                    "-device", "virtio-blk-pci,drive=d0,disable-legacy=on,num-queues=1,"
                    "queue-size=256"], timeout=180 + 10 * a.secs * len(PHASES)))
        if not qemu:
            print("qemu-system-x86_64 not installed: vessel figures only")
    finally:
        if loop:
            subprocess.run(["losetup", "-d", loop], check=False)
        os.unlink(path)
    results = {k: median_runs(v) for k, v in runs.items() if v}
    if not results.get("vessel"):
        print("FAILED: no vessel results (see the output above)")
        return 1
    v, q = results.get("vessel"), results.get("qemu")
    print(f"virtio-blk, raw image {'through the page cache' if a.no_direct else 'with O_DIRECT'}, {a.secs} s per phase, same PVH guest, "
          f"median of {a.rounds} boots each")
    print_table(v, q, ("vessel", "qemu"), ("VMM CPU/IO vessel", "qemu"))
    print("ratio > 1: vessel ahead.  VMM CPU/IO: host CPU of the VMM's non-vCPU threads "
          "(event loop, io_uring workers) per I/O.")
    b = results.get("baseline")
    if b:
        print(f"before/after: this build vs {a.baseline}, same rounds (ratio > 1: this build "
              "ahead)")
        print_table(v, b, ("this build", "baseline"), ("VMM CPU/IO this", "baseline"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
