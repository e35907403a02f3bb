"""Launchers of the Linux lane (tests/linux/lane.sh).

On a host whose /dev/kvm is hardware-backed (VT-x or AMD-V, not PVM),
vessel boots the Linux guest directly.  Everywhere else (PVM, or no
/dev/kvm at all) the lane runs inside an L1 host: Debian's cloud kernel
under QEMU's TCG, which emulates AMD SVM with nested paging; that kernel's
kvm-amd.ko gives vessel a /dev/kvm there (docs/linux-lane.md).  The same
lane.sh runs either way.  Used by tests/integration/test_linux.py,
scripts/default-vm.sh (make run) and bench/boot.
"""
import os
import pathlib
import shutil
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = ROOT / "tests" / "linux"
# L1 sizing: 2 vCPUs so that vcpupin has a second CPU to pin to; enough
# RAM for an L2 guest with memory above 4 GiB (touched only as used).
# Two NUMA nodes of half the RAM each (and of one CPU each with two), so
# that numastat's split and remote placements are real (test_numastat.py).
L1_CPUS = 2
L1_MEM = "7G"
L1_NODES = 2


def host_kind():
    """('direct'|'tcg', why) or (None, why the lane cannot run here)."""
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line
                    break
    except OSError:
        pass
    hw = " vmx" in flags or " svm" in flags
    if not os.path.exists("/dev/kvm"):
        why = "this host has no /dev/kvm"
    elif os.path.exists("/sys/module/kvm_pvm"):
        why = "this host's /dev/kvm is PVM (no VT-x/AMD-V): a stock Linux kernel cannot boot on it"
    elif not hw:
        why = "this host's CPU shows neither vmx nor svm"
    else:
        return "direct", "this host has hardware virtualization (VT-x/AMD-V): vessel boots Linux directly"
    if shutil.which("qemu-system-x86_64"):
        return "tcg", why + "; vessel runs inside an L1 Linux host under QEMU TCG (emulated AMD-V)"
    return None, why + ", and qemu-system-x86_64 (for the TCG L1 host) is not installed"


def build_images(out, vessel, bench=False):
    """Build (or reuse) the lane's images; returns out."""
    cmd = [str(HERE / "mkimages.sh"), str(out), str(vessel)] + (["--bench"] if bench else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        raise RuntimeError(f"mkimages.sh failed: {r.stderr.strip()[-600:]}")
    return pathlib.Path(out)


def l1_command(images, mode, args=(), mem=L1_MEM, cpus=L1_CPUS, machine="q35"):
    """The QEMU command line of the TCG L1 host."""
    # loglevel=1: L1's own kernel messages (KVM's notes on the L2 guest's
    # MSRs, say) would mix with the L2 console that L1 relays.
    append = f"console=ttyS0 panic=-1 quiet loglevel=1 lane.mode={mode}"
    if args:
        append += " lane.args=" + ",".join(args)
    # signal=off: Ctrl-C and Ctrl-A reach the guest (vessel's own escape is
    # Ctrl-A x); there is no QEMU monitor on stdio.
    return ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max,-xsave", "-smp", str(cpus),
            "-m", mem, "-machine", machine, "-nodefaults", "-display", "none", "-no-reboot",
            "-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0",
            "-kernel", str(images / "vmlinuz"), "-initrd", str(images / "l1.cpio"),
            "-append", append]


VIRTIOFSD = "/usr/lib/qemu/virtiofsd"


def numa_args(mem, cpus, nodes):
    """-numa options splitting RAM (a size such as "7G") evenly over
    `nodes` nodes, each on its own shared memfd, and the CPUs over as
    many of them as there are CPUs: with one CPU, node 1 has memory only
    (as on hosts with CXL or HBM memory nodes)."""
    mib = int(mem[:-1]) * (1024 if mem.endswith("G") else 1)
    args = []
    for n in range(nodes):
        size = mib // nodes if n < nodes - 1 else mib - (mib // nodes) * (nodes - 1)
        node = f"node,nodeid={n},memdev=mem{n}"
        mine = [c for c in range(cpus) if c * nodes // cpus == n] if cpus >= nodes else (
            list(range(cpus)) if n == 0 else [])
        if mine:
            node += f",cpus={mine[0]}-{mine[-1]}"
        args += ["-object", f"memory-backend-memfd,id=mem{n},size={size}M,share=on",
                 "-numa", node]
    return args


def run_in_l1(images, script, sockdir, timeout, mem=L1_MEM, cpus=L1_CPUS, log=None,
              idle_timeout=None):
    """Boot the L1 host with this host's root mounted read-only (virtiofs)
    and run `sh SCRIPT` in a chroot there, where /dev/kvm is L1's.  For
    hosts without a usable /dev/kvm: vessel's own test guests get a KVM.
    Returns the console output."""
    if not os.access(VIRTIOFSD, os.X_OK):
        raise RuntimeError(f"{VIRTIOFSD} not found (qemu-system-common)")
    sock = os.path.join(str(sockdir), "vfs.sock")
    # sandbox=chroot: namespaces may be unavailable in a container; the
    # L1 side mounts the share read-only.
    fsd = subprocess.Popen([VIRTIOFSD, f"--socket-path={sock}", "-o", "source=/",
                            "-o", "cache=always", "-o", "sandbox=chroot", "-o", "log_level=err"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        # Guest RAM on shared memfds, one per NUMA node: virtiofsd maps
        # them (vhost-user).
        cmd = l1_command(images, "hostroot", [str(script)], mem=mem, cpus=cpus)
        cmd += numa_args(mem, cpus, L1_NODES)
        cmd += ["-chardev", f"socket,id=vfs,path={sock}",
                "-device", "vhost-user-fs-pci,chardev=vfs,tag=hostroot"]
        # The console goes to a file as it comes (LOG, or one in sockdir),
        # so a run that hangs can be watched, and what it said survives.
        log = log or os.path.join(str(sockdir), "l1.log")
        text, _ = watch_l1(cmd, log, timeout, idle_timeout)
        return text
    finally:
        fsd.kill()
        fsd.wait()


def direct_env(images, vessel, work):
    """Environment for lane.sh run directly on this host."""
    env = dict(os.environ)
    env.update(VESSEL=str(vessel), L2_KERNEL=str(images / "vmlinuz"),
               L2_INITRD=str(images / "l2.img"), LANE_WORK=str(work))
    for name, tool in (("QEMU_IMG", "qemu-img"), ("DEBUGFS", "debugfs"), ("E2FSCK", "e2fsck")):
        env[name] = shutil.which(tool) or f"/usr/sbin/{tool}"
    return env


# The longest a lane check stays silent on a healthy run is its own kill
# timeout (240 s, reboot) plus the log it then prints; 300 s of silence
# means the nested KVM hung past that.
LANE_IDLE_S = 300
# A stalled L1 is replaced by a fresh one for the checks not yet done, at
# most this many times.
LANE_RETRIES = 2
# l1-init's heartbeat in lane.mode=checks: tells a frozen L1 from a check
# stuck in L1's kernel (a process SIGKILL did not end).
HEARTBEAT = "LANE-HB"


def watch_l1(cmd, log, timeout, idle_timeout=None):
    """Run the L1 QEMU command with its console going to LOG as it comes,
    so a run that hangs can be watched and what it said survives.  It is
    killed after TIMEOUT s, or after IDLE_TIMEOUT s without a line other
    than L1's heartbeat (nested KVM under TCG has hung).  Returns (the
    console text without heartbeats, None or a LANE-STALL line)."""
    with open(log, "wb") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    start = time.monotonic()
    seen = start
    beat, pending, why = None, b"", None
    with open(log, "rb") as r:
        while True:
            alive = p.poll() is None
            now = time.monotonic()
            chunk = r.read()
            if chunk:
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    if line.startswith(HEARTBEAT.encode()):
                        beat = now
                    elif line.strip():
                        seen = now
            if not alive:
                break
            if now - start > timeout:
                why = f"LANE-STALL: L1 ran past {timeout} s; killed"
            elif idle_timeout and now - seen > idle_timeout:
                state = ("" if beat is None else
                         " (L1's heartbeat went on: a process there is stuck past its own "
                         "kill timeout)" if now - beat < 60 else
                         f" (L1's heartbeat stopped {now - beat:.0f} s ago: L1 froze)")
                why = f"LANE-STALL: L1 said nothing for {idle_timeout} s{state}; killed"
            if why:
                p.kill()
                p.wait()
                break
            time.sleep(1)
    with open(log, "rb") as f:
        text = f.read().decode(errors="replace").replace("\r", "")
    text = "".join(line for line in text.splitlines(keepends=True)
                   if not line.startswith(HEARTBEAT))
    return text, why


def run_lane(kind, images, vessel, checks, work, timeout):
    """Run lane.sh with these checks; returns its output (and L1's)."""
    if kind == "direct":
        cmd = ["sh", str(HERE / "lane.sh")] + list(checks)
        r = subprocess.run(cmd, env=direct_env(images, vessel, work), capture_output=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        return (r.stdout.decode(errors="replace") +
                r.stderr.decode(errors="replace")).replace("\r", "")
    # L1, watched (watch_l1).  Nested KVM under TCG with two L1 vCPUs has
    # hung L2 guests now and then (an L1 vCPU never comes back); the
    # checks not finished then run in a fresh L1.  A check that stalls
    # every time fails ("did not run", with the stall lines).
    end = time.monotonic() + timeout
    out, todo = "", list(checks)
    for attempt in range(1, LANE_RETRIES + 2):
        log = os.path.join(str(work), "l1.log" if attempt == 1 else f"l1.{attempt}.log")
        text, why = watch_l1(l1_command(images, "checks", todo), log,
                             max(60, end - time.monotonic()), LANE_IDLE_S)
        out += text
        # L1's own kernel has panicked under TCG now and then too (a
        # stack overflow in its KVM's vCPU thread, twice in the first
        # restore of the save check, which passes in other L1s): that L1
        # is gone, so the checks it did not finish go to a fresh one, as
        # after a stall.  The panic's lines stay in the output.
        if not why and "Kernel panic - not syncing" in text and "LANE-DONE" not in text:
            why = "LANE-STALL: L1's kernel panicked (above)"
        if not why:
            break
        out += f"\n{why}\n"
        done = parse(text)
        todo = [c for c in todo if c not in done]
        if not todo or attempt > LANE_RETRIES or time.monotonic() > end - 60:
            break
        out += f"LANE-RETRY {attempt}: a fresh L1 runs {' '.join(todo)}\n"
    return out


def parse(out):
    """{check: (ok, lines)} from lane.sh's LANE-BEGIN/LANE/LANE-END lines."""
    res = {}
    cur = None
    lines = []
    for line in out.splitlines():
        if line.startswith("LANE-BEGIN "):
            cur, lines = line.split()[1], []
        elif line.startswith("LANE-END ") and cur:
            res[cur] = (line.split()[2] == "ok", lines + [line])
            cur = None
        elif cur:
            lines.append(line)
    return res


def main(argv):
    """`launch.py shell BUILD`: make run's Linux VM, on any host."""
    if len(argv) != 3 or argv[1] != "shell":
        raise SystemExit("usage: launch.py shell BUILD")
    build = pathlib.Path(argv[2]).resolve()
    kind, why = host_kind()
    if kind is None:
        raise SystemExit(f"vessel: cannot boot Linux here: {why}")
    if kind == "direct":
        print(f"vessel: {why}; booting Debian's cloud kernel; Ctrl-A x quits.", flush=True)
        subprocess.run([str(ROOT / "scripts" / "linux-image.sh"), str(ROOT / "images" / "linux")],
                       check=True, stdout=subprocess.DEVNULL)
        images = ROOT / "images" / "linux"
        os.execv(str(build / "vessel"), [
            "vessel", "run", "--kernel", str(images / "vmlinuz"),
            "--initrd", str(images / "initramfs.img"),
            "--cmdline", "console=ttyS0 reboot=k panic=-1 quiet", "--cpus", "2",
            "--memory", "512M", "--rng", "--on-reboot", "destroy"])
    print(f"vessel: {why}.", flush=True)
    print("vessel: building the L1 host image (cached in images/lane)...", flush=True)
    images = build_images(ROOT / "images" / "lane", build / "vessel")
    print("vessel: booting L1 (about 10-30 s under TCG), then vessel boots Linux in it;"
          " Ctrl-A x quits.", flush=True)
    cmd = l1_command(images, "shell")
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    import sys
    main(sys.argv)
