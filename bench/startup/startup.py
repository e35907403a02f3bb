#!/usr/bin/env python3
"""Startup time and memory overhead: vessel vs QEMU microvm.

Both VMMs boot the same PVH guest (bench/startup/guest.S) whose first
instruction writes '!' to COM1.  "first instruction" is the time from
exec until that byte arrives on the VMM's stdout; "exit" is exec until
the process is gone (the guest leaves through the debug-exit port right
after).  Memory overhead is the VMM's RSS minus the RSS of its guest RAM
mapping, read from /proc/PID/smaps while the halting guest sits idle.

vessel runs three ways in the same interleaved rounds: without its
seccomp filters ("nofilter"), as `vessel run` does by default (filters
on), and jailed as `vessel start` runs it ("jailed", `--jail`: namespaces,
pivot_root, uid drop, cgroup leaf, Landlock; docs/jail.md, needs root).
The differences of their medians are the start-up cost of the filters
and of the jail.  "CPU ms" is the user + system time of one start, the
VMM and everything it waited for (the jail's outer half, the cleanup
helper) included: starts per second per core = 1000 / CPU ms.
"""
import os
import statistics
import subprocess
import sys
import time

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build"
# A second, older build to compare against in the same run (before/after).
BASELINE = sys.argv[2] if len(sys.argv) > 2 else None
RUNS = int(os.environ.get("RUNS", "20"))
MEM_MB = 128
G = os.path.join(BUILD, "bench", "startup")


VESSEL_MODES = {"vessel": [], "nofilter": ["--seccomp", "off"], "jailed": ["--jail"],
                "baseline": []}


def cmd(vmm, guest):
    if vmm in VESSEL_MODES:
        return [os.path.join(BASELINE if vmm == "baseline" else BUILD, "vessel"), "run",
                *VESSEL_MODES[vmm], "--kernel", guest, "--memory", f"{MEM_MB}M", "--debug-exit",
                "--serial", "stdio"]
    return ["qemu-system-x86_64", "-M", "microvm", "-accel", "kvm", "-m", f"{MEM_MB}M",
            "-nodefaults", "-no-user-config", "-nographic", "-monitor", "none",
            "-serial", "stdio", "-kernel", guest,
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]


def time_one(vmm):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd(vmm, os.path.join(G, "startup-exit.elf")), stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    b = p.stdout.read(1)
    t1 = time.perf_counter()
    # wait4: the rusage of the VMM and of what it waited for
    _, status, ru = os.wait4(p.pid, 0)
    t2 = time.perf_counter()
    p.returncode = os.waitstatus_to_exitcode(status)
    p.stdout.close()
    if b != b"!":
        raise RuntimeError(f"{vmm}: guest did not run (got {b!r}, rc={p.returncode})")
    return (t1 - t0) * 1e3, (t2 - t0) * 1e3, (ru.ru_utime + ru.ru_stime) * 1e3


def smaps(pid):
    total = guest = 0
    size = 0
    name = ""
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" not in parts[0]:
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                size = hi - lo
                name = parts[5] if len(parts) > 5 else ""
            elif parts[0] == "Rss:":
                kb = int(parts[1])
                total += kb
                # Guest RAM: vessel names it; QEMU's is the one mapping of
                # the guest's size (plus alignment).
                if "vessel-guest-ram" in name or (not name and abs(size - MEM_MB * 2**20) <= 4 * 2**20):
                    guest += kb
    return total, guest


def rss_one(vmm):
    p = subprocess.Popen(cmd(vmm, os.path.join(G, "startup-halt.elf")), stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        if p.stdout.read(1) != b"!":
            raise RuntimeError(f"{vmm}: guest did not run")
        time.sleep(0.3)
        pid = p.pid
        if vmm == "jailed":
            # the VMM is the outer half's child, its pid namespace's init
            with open(f"/proc/{p.pid}/task/{p.pid}/children") as f:
                pid = int(f.read().split()[0])
        return smaps(pid)
    finally:
        p.kill()
        p.wait()


def main():
    # The jail needs root (CAP_SYS_ADMIN and friends): elsewhere it is left out, saying so.
    jail = os.geteuid() == 0
    vmms = ["nofilter", "vessel"] + (["jailed"] if jail else []) + ["qemu"] + \
        (["baseline"] if BASELINE else [])
    first = {v: [] for v in vmms}
    exits = {v: [] for v in vmms}
    cpu = {v: [] for v in vmms}
    # Interleaved, so host noise hits every VMM alike.
    for _ in range(RUNS):
        for vmm in vmms:
            a, b, c = time_one(vmm)
            first[vmm].append(a)
            exits[vmm].append(b)
            cpu[vmm].append(c)
    rows = {}
    for vmm in vmms:
        total, guest = rss_one(vmm)
        rows[vmm] = (statistics.median(first[vmm]), statistics.median(exits[vmm]), total, guest,
                     statistics.median(cpu[vmm]))
    print(f"bench/startup: {RUNS} runs each, medians; PVH guest, {MEM_MB} MiB RAM; "
          f"{os.cpu_count()} host CPUs")
    print(f"{'':8} {'first insn ms':>14} {'exit ms':>9} {'CPU ms':>8} {'starts/s/core':>14} "
          f"{'RSS KiB':>9} {'guest KiB':>10} {'overhead KiB':>13}")
    for vmm, (a, b, total, guest, c) in rows.items():
        print(f"{vmm:8} {a:14.2f} {b:9.2f} {c:8.2f} {1000 / max(c, 0.01):14.1f} {total:9} "
              f"{guest:10} {total - guest:13}")
    n, v = rows["nofilter"], rows["vessel"]
    print(f"seccomp filters: +{v[0] - n[0]:.2f} ms to the first instruction, "
          f"+{v[4] - n[4]:.2f} ms CPU per start")
    if jail:
        j = rows["jailed"]
        print(f"jail: +{j[0] - v[0]:.2f} ms to the first instruction, +{j[1] - v[1]:.2f} ms to "
              f"exit, +{j[4] - v[4]:.2f} ms CPU per start; jail and filters together "
              f"+{j[0] - n[0]:.2f} ms (goal: under 5 ms); jailed starts per second per core "
              f"{1000 / max(j[4], 0.01):.1f} (goal: above 10)")
    else:
        print("jail: not measured (vessel run --jail needs root)")
    v, q = rows["vessel"], rows["qemu"]
    print(f"ratio qemu/vessel: first instruction {q[0] / v[0]:.1f}x, exit {q[1] / v[1]:.1f}x, "
          f"overhead {(q[2] - q[3]) / max(1, v[2] - v[3]):.1f}x")
    if BASELINE:
        b = rows["baseline"]
        print(f"before/after: this build vs {BASELINE} (ratio baseline/this, > 1: this build "
              f"ahead): first instruction {b[0] / v[0]:.2f}x, exit {b[1] / v[1]:.2f}x, "
              f"overhead {(b[2] - b[3]) / max(1, v[2] - v[3]):.2f}x")


if __name__ == "__main__":
    main()
