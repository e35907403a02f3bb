# Helpers of the vhost-user-blk real-driver lane and bench: vhost-user
# backends (vessel's or qemu-storage-daemon) and a QEMU TCG Linux guest
# that attaches to them with vhost-user-blk-pci over memfd shared memory.
# Used by tests/integration/test_vhost_user_blk.py and
# bench/vhost-user-blk/bench.py.
import os
import pathlib
import shutil
import signal
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
KERNEL_ERRORS = ("Oops", "BUG:", "Call Trace", "I/O error", "EXT4-fs error",
                 "blk_update_request", "Kernel panic", "virtio_blk virtio",
                 "general protection fault", "hung_task")


def missing_tools():
    """Why the lane cannot run on this host, or None."""
    for tool in ("qemu-system-x86_64", "qemu-img", "mke2fs", "cpio"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            return f"{tool} is not installed"
    return None


def build_initramfs(out, check_script, binaries=()):
    """Default guest initramfs + check script (+ binaries); returns the kernel path."""
    r = subprocess.run([str(ROOT / "tests" / "vhost" / "mkinitramfs.sh"), str(out),
                        str(check_script), *map(str, binaries)],
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"mkinitramfs.sh failed: {r.stderr.strip()[-400:]}")
    return r.stdout.strip().splitlines()[-1]


def wait_socket(path, proc, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"backend exited ({proc.returncode}) before listening")
        time.sleep(0.02)
    raise RuntimeError(f"{path} did not appear in {timeout} s")


class Backend:
    """One vhost-user-blk backend process on one socket."""

    def __init__(self, cmd, sock, log):
        self.sock = str(sock)
        self.log = open(log, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        wait_socket(self.sock, self.proc)

    @classmethod
    def vessel(cls, vessel, sock, disk_spec, log, env=None):
        return cls([vessel, "vhost-user-blk", "--socket", str(sock), "--disk", disk_spec],
                   sock, log)

    @classmethod
    def qsd(cls, sock, path, fmt, log, readonly=False, num_queues=1):
        ro = "on" if readonly else "off"
        cmd = ["qemu-storage-daemon",
               "--blockdev", f"driver=file,node-name=file0,filename={path},aio=io_uring,"
                             f"cache.direct=off,read-only={ro}",
               "--blockdev", f"driver={fmt},node-name=disk0,file=file0,read-only={ro}",
               "--export", f"type=vhost-user-blk,id=exp0,node-name=disk0,"
                           f"addr.type=unix,addr.path={sock},writable={'off' if readonly else 'on'},"
                           f"num-queues={num_queues}"]
        return cls(cmd, sock, log)

    def alive(self):
        return self.proc.poll() is None

    def cpu_seconds(self):
        """User + system CPU time of the backend so far (all its threads)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tck = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / tck

    def stop(self):
        """SIGTERM, then SIGKILL; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        try:
            os.unlink(self.sock)
        except FileNotFoundError:
            pass
        return self.proc.returncode


def qemu_cmd(kernel, initrd, socks, mem_mb=256, cpus=2, append=""):
    # Two vCPUs, not one: with a single vCPU, TCG translates guest memory
    # barriers to nothing (no parallel vCPUs to order against), but the
    # rings are shared with a backend running on another host CPU; the
    # driver's "write used_event; mb; read used idx" then loses wake-ups
    # and the guest hangs waiting for an interrupt (with any backend).
    cmd = ["qemu-system-x86_64", "-accel", "tcg", "-m", f"{mem_mb}M", "-smp", str(cpus),
           "-object", f"memory-backend-memfd,id=mem,size={mem_mb}M,share=on",
           "-machine", "pc,memory-backend=mem", "-display", "none", "-no-reboot", "-nodefaults",
           "-serial", "stdio", "-kernel", str(kernel), "-initrd", str(initrd),
           "-append", f"console=ttyS0 panic=-1 quiet {append}".strip()]
    for i, s in enumerate(socks):
        cmd += ["-chardev", f"socket,id=vu{i},path={s}",
                "-device", f"vhost-user-blk-pci,chardev=vu{i},num-queues=1"]
    return cmd


def run_guest(kernel, initrd, socks, timeout, **kw):
    """Boot the guest to poweroff; returns (returncode, serial output)."""
    r = subprocess.run(qemu_cmd(kernel, initrd, socks, **kw), capture_output=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    return r.returncode, out


def kernel_errors(out):
    return [line for line in out.splitlines() if any(e in line for e in KERNEL_ERRORS)]
