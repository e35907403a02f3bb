#!/usr/bin/python3
"""bench/net: virtio-net TCP throughput and latency, vessel vs QEMU.

Boots the same Linux guest (Debian's cloud kernel, the lane's initramfs
with iperf3 and bench/net/guest.sh) on each VMM with a virtio-net NIC on
one tap in a private network namespace, where an iperf3 server listens
on the host's end.  Phases: guest->host and host->guest with 1 and 4
streams, and ICMP round trips.  The VMMs run interleaved, round by
round: vessel's userspace device, vessel with vhost-net, QEMU userspace
(vhost=off) and QEMU with vhost-net (the vhost ones where /dev/vhost-net
exists); ratios pair vessel with QEMU in each mode.  Around each phase the
VMM's CPU time is sampled (all threads), which gives its CPU seconds
per gigabit moved.  Prints medians and vessel/QEMU ratios.

usage: bench/net/netbench.py --build BUILD [--secs N] [--rounds N] [--image IMG]
Needs /dev/kvm that boots Linux: bench/net/run.sh goes through
bench/in-l1.py, which runs it in the Linux lane's L1 host where this
host's KVM cannot.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "blk"))
from blkbench import cpu_ns  # noqa: E402

PHASES = ["g2h1", "h2g1", "g2h4", "h2g4", "rtt"]
LABEL = {"g2h1": "guest->host TCP, 1 stream", "h2g1": "host->guest TCP, 1 stream",
         "g2h4": "guest->host TCP, 4 streams", "h2g4": "host->guest TCP, 4 streams",
         "rtt": "ICMP echo round trip"}
ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TAP, HOST_IP, GUEST_IP = "vsbn0", "10.66.0.1", "10.66.0.2"


def image(build):
    """The L2 initramfs with iperf3 and the bench script; (kernel, initrd)."""
    out = os.path.join(build, "bench-net-l2.img")
    iperf3 = shutil.which("iperf3")
    if not iperf3:
        raise SystemExit("bench/net: iperf3 not installed (Debian's iperf3)")
    r = subprocess.run([os.path.join(ROOT, "tests", "vhost", "mkinitramfs.sh"), out,
                        os.path.join(ROOT, "bench", "net", "guest.sh"), iperf3],
                       capture_output=True, text=True, timeout=600)
    if r.returncode:
        raise SystemExit(f"bench/net: mkinitramfs.sh: {r.stderr.strip()[-500:]}")
    return r.stdout.strip(), out


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
                start[m.group(1)] = (cpu_ns(p.pid), time.monotonic())
            m = re.search(r"BENCH-END (\w+) (.*)", line)
            if m and m.group(1) in start:
                cpu0, t0 = start[m.group(1)]
                kv = {k: int(v) for k, v in (x.split("=") for x in m.group(2).split())}
                cpu1 = cpu_ns(p.pid)
                kv["cpu_s"] = (cpu1[0] - cpu0[0]) / 1e9
                kv["dev_s"] = (cpu1[1] - cpu0[1]) / 1e9
                kv["wall_s"] = time.monotonic() - t0
                res[m.group(1)] = kv
            if "BENCH-DONE" in line or "BENCH-FAIL" in line or time.time() > deadline:
                break
    finally:
        p.kill()
        p.wait()
    if len(res) < len(PHASES):
        sys.stderr.write(f"{name}: incomplete results; output:\n{''.join(log[-25:])}\n")
    return res


def median(runs, ph, key):
    v = sorted(r[ph][key] for r in runs if ph in r and key in r[ph])
    return v[len(v) // 2] if v else None


def cpu_per_gbit(runs, ph, secs, key):
    v = sorted(r[ph][key] / max(r[ph]["mbps"] * secs / 1000, 1e-9)
               for r in runs if ph in r and r[ph].get("mbps"))
    return v[len(v) // 2] if v else None


def sh(*cmd):
    subprocess.run(list(cmd), check=True, capture_output=True, timeout=30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--secs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--guest-cpus", type=int, default=1)
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
        print(f"FAILED: /dev/kvm: {e.strerror} (run through bench/net/run.sh)")
        return 1
    qemu = shutil.which("qemu-system-x86_64")
    vhost = os.path.exists("/dev/vhost-net")
    ns = f"vsbn-{uuid.uuid4().hex[:6]}"
    sh("ip", "netns", "add", ns)
    server = None
    append = (f"console=ttyS0 reboot=k panic=-1 quiet net.ip={GUEST_IP}/24 net.peer={HOST_IP} "
              f"net.secs={a.secs}")
    # One vCPU by default: under TCG with one L1 vCPU, two L2 vCPUs made
    # every figure swing tenfold from boot to boot.
    mem, cpus = "512M", str(a.guest_cpus)
    vmms = {"vessel": [os.path.join(build, "vessel"), "run", "--kernel", kernel, "--initrd",
                       initrd, "--memory", mem, "--cpus", cpus, "--net", f"tap={TAP}",
                       "--cmdline", append]}
    if vhost:
        vmms["vessel-vhost"] = vmms["vessel"][:-4] + ["--net", f"tap={TAP},vhost=on",
                                                      "--cmdline", append]
    if qemu:
        # debug-threads: named vCPU threads ("CPU 0/KVM"), so cpu_ns() can leave them out.
        q = [qemu, "-name", "bench,debug-threads=on", "-accel", "kvm", "-M", "q35", "-cpu",
             "host", "-m", mem, "-smp", cpus,
             "-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio", "-kernel", kernel,
             "-initrd", initrd, "-append", append]
        nic = "virtio-net-pci,netdev=n0,disable-legacy=on,mrg_rxbuf=on"
        vmms["qemu"] = q + ["-netdev", f"tap,id=n0,ifname={TAP},script=no,downscript=no,"
                            "vhost=off", "-device", nic]
        if vhost:
            vmms["qemu-vhost"] = q + ["-netdev", f"tap,id=n0,ifname={TAP},script=no,"
                                      "downscript=no,vhost=on", "-device", nic]
    runs = {k: [] for k in vmms}
    try:
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "tuntap", "add", TAP, "mode", "tap", "vnet_hdr")
        sh("ip", "-n", ns, "addr", "add", f"{HOST_IP}/24", "dev", TAP)
        sh("ip", "-n", ns, "link", "set", TAP, "up")
        server = subprocess.Popen(["ip", "netns", "exec", ns, "iperf3", "-s", "-B", HOST_IP],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for i in range(a.rounds):
            for name, cmd in vmms.items():
                r = run_vm(name, ["ip", "netns", "exec", ns] + cmd,
                           timeout=240 + 4 * a.secs * len(PHASES))
                runs[name].append(r)
                # A line per boot: progress, and a long run is not taken for a hung one.
                print(f"round {i + 1} {name}: " + " ".join(
                    f"{ph}={r[ph].get('mbps', r[ph].get('us'))}" for ph in PHASES if ph in r),
                    flush=True)
    finally:
        if server:
            server.kill()
            server.wait()
        subprocess.run(["ip", "netns", "del", ns], check=False)
    if not any(runs["vessel"]):
        print("FAILED: no vessel results (see the output above)")
        return 1
    names = list(vmms)
    pairs = [(a_, b_) for a_, b_ in (("vessel", "qemu"), ("vessel-vhost", "qemu-vhost"))
             if a_ in vmms and b_ in vmms]
    print(f"virtio-net on a tap, same Linux guest ({cpus} vCPU), iperf3 {a.secs} s per phase, "
          f"median of {a.rounds} boots each; vhost-net for QEMU: "
          f"{'yes' if vhost else 'no /dev/vhost-net'}")
    print(f"{'workload':28}" + "".join(f"{n:>13}" for n in names) +
          "".join(f"{a_ + '/' + b_:>24}" for a_, b_ in pairs))
    for ph in PHASES:
        key = "us" if ph == "rtt" else "mbps"
        vals = {n: median(runs[n], ph, key) for n in names}
        unit = " us" if ph == "rtt" else " Mb/s"
        row = f"{LABEL[ph]:28}" + "".join(
            f"{(str(vals[n]) + unit) if vals[n] is not None else '-':>13}" for n in names)
        for a_, b_ in pairs:
            ratio = "-"
            if vals[a_] and vals[b_]:
                # > 1: vessel ahead (more throughput, or less latency).
                ratio = f"{(vals[b_] / vals[a_] if ph == 'rtt' else vals[a_] / vals[b_]):.2f}x"
            row += f"{ratio:>24}"
        print(row)
    for key, what in (("cpu_s", "VMM CPU"), ("dev_s", "device CPU")):
        for ph in PHASES[:4]:
            vals = [cpu_per_gbit(runs[n], ph, a.secs, key) for n in names]
            print(f"{what + ' s/Gbit ' + ph:28}" + "".join(
                f"{(f'{v:.3f}') if v is not None else '-':>13}" for v in vals))
    print("ratio > 1: vessel ahead.  VMM CPU s/Gbit: the VMM process's CPU time, all threads, "
          "per gigabit moved; device CPU: without the vCPU threads (the device emulation). "
          "vhost-net's kernel thread is not the VMM's and is not counted.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
