#!/usr/bin/env python3
"""Run a benchmark inside the Linux lane's L1 host.

usage: bench/in-l1.py BUILD COMMAND...

Where this host's /dev/kvm is PVM or missing, vessel and QEMU cannot be
compared here on equal terms (bench/): both are compared
inside the L1 host (Debian's kernel under QEMU TCG, with kvm-amd.ko),
where they use the same KVM.  The L1 host sees this host's root
read-only with a tmpfs overlay (tests/linux/launch.py run_in_l1), so
COMMAND runs on the same checkout and builds.  On a host with a usable
/dev/kvm the command runs here directly.  Prints the command's output.
"""
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "linux"))
import launch  # noqa: E402


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    build = pathlib.Path(sys.argv[1]).resolve()
    cmd = sys.argv[2:]
    if launch.host_kind()[0] == "direct":
        return subprocess.call(cmd, cwd=ROOT)
    images = launch.build_images(ROOT / "images" / "lane", build / "vessel")
    with tempfile.TemporaryDirectory() as d:
        # L1 reads the script through the share: the build tree is there.
        script = build / "bench-in-l1.sh"
        script.write_text(f"cd {shlex.quote(str(ROOT))}\n"
                          f"{shlex.join(cmd)} 2>&1 | sed -u 's/^/L1: /'\n"
                          "echo L1-BENCH-END\n")
        # VESSEL_L1_CPUS: Linux L2 guests under nested KVM stall with two
        # L1 vCPUs under MTTCG (as in scripts/kvm-in-l1.py); bench/net uses 1.
        cpus = int(os.environ.get("VESSEL_L1_CPUS", str(launch.L1_CPUS)))
        text = launch.run_in_l1(images, script, d, timeout=3000, idle_timeout=600, cpus=cpus)
    ok = "L1-BENCH-END" in text
    for line in text.splitlines():
        if line.startswith("L1: "):
            print(line[4:])
    if not ok:
        print("bench/in-l1.py: the L1 host did not finish (see its console above)",
              file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
