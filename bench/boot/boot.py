#!/usr/bin/env python3
"""bench/boot: Debian's cloud kernel with the Linux lane's initramfs,
booted to the marker its init prints, by vessel and by QEMU (-M microvm
and -M q35, direct kernel boot), all -accel kvm on the same KVM, runs
interleaved (bench/boot/boot.sh).  On VT-x/AMD-V hosts directly; on PVM
hosts (or without /dev/kvm) inside the Linux lane's TCG L1 host, where
both VMMs use the L1 kernel's KVM.  TCG inflates absolute times; compare
ratios.  Reports medians of exec->marker, exec->exit and the guest
kernel's own "Run /init" timestamp, which separates the kernel's share
from the VMM's.

usage: bench/boot/boot.py [BUILD]      ROUNDS=N (default 5), BOOT_CMDLINE=...
"""
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "linux"))
import launch  # noqa: E402

build = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build").resolve()
rounds = int(os.environ.get("ROUNDS", "5"))
kind, why = launch.host_kind()
if kind is None:
    sys.exit(f"bench/boot: cannot run here: {why}")
print(f"bench/boot: {kind}: {why}")
images = launch.build_images(ROOT / "images" / "lane-bench", build / "vessel", bench=True)
extra = os.environ.get("BOOT_CMDLINE", "")
if kind == "direct":
    env = launch.direct_env(images, build / "vessel", "/tmp")
    env.update(BOOTTIME=str(build / "bench" / "boot" / "boottime"), BOOT_CMDLINE=extra)
    r = subprocess.run(["sh", str(ROOT / "bench" / "boot" / "boot.sh"), str(rounds)], env=env,
                       capture_output=True, text=True, timeout=3600)
    out = r.stdout + r.stderr
else:
    if extra:
        sys.exit("bench/boot: BOOT_CMDLINE is only supported on direct hosts")
    cmd = launch.l1_command(images, "bench", [str(rounds)])
    r = subprocess.run(cmd, capture_output=True, timeout=3600, stdin=subprocess.DEVNULL)
    out = (r.stdout + r.stderr).decode(errors="replace").replace("\r", "")
lines = [line for line in out.splitlines() if line.startswith(("BOOT", "boottime:"))]
print("\n".join(lines) if lines else out[-3000:])
sys.exit(0 if any(line.startswith("BOOT-RATIO") for line in lines) else 1)
