# Checks the freestanding test guests themselves (tests/guests) by booting
# them under QEMU, so that a guest failing on vessel points at vessel, not
# at the guest.  Two lanes:
#   - TCG (always, where QEMU has what the guest needs): q35/pc with SeaBIOS
#     (ACPI, MP table, i8042, PCI) or microvm (fast, no firmware);
#   - KVM (when /dev/kvm is usable): microvm only, which has no real-mode
#     firmware to emulate, so it also runs fast on PVM hosts; this shows the
#     guests avoid what PVM does not emulate.
# Exit status convention (isa-debug-exit at 0xf4): PASS -> 1, FAIL -> 3;
# ACPI power off, and a reset or triple fault with -no-reboot -> 0.
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from conftest import BUILD, ROOT, kvm_usable

QEMU = shutil.which("qemu-system-x86_64")
TIMEOUT = 20

MICROVM = ("microvm,x-option-roms=off,isa-serial=on,rtc=on,pit=on,pic=on,"
           "acpi=on")

# Tolerances for QEMU's own memory maps (see lib/memmap.c): qboot emits a
# trailing empty entry and, under KVM, an unsorted one.
MICROVM_MAP = "allow_empty=1 allow_unsorted=1"


def guests_dir():
    """The build folder that holds the guests: $VESSEL_GUESTS, the build
    of `make` ($VESSEL_BUILD or build/), or build-guests/."""
    cands = []
    if os.environ.get("VESSEL_GUESTS"):
        cands.append(pathlib.Path(os.environ["VESSEL_GUESTS"]))
    cands += [BUILD / "tests" / "guests", ROOT / "build-guests" / "tests" / "guests"]
    for c in cands:
        if (c / "boot.elf").exists():
            return c
    return None


GUESTS = guests_dir()


def pvm_host():
    return os.path.exists("/sys/module/kvm_pvm")


def run_qemu(kernel, machine="q35", append="", smp="1", mem="256",
             accel="tcg", initrd=None, no_reboot=True, extra=()):
    if QEMU is None:
        pytest.skip("qemu-system-x86_64 not installed (Debian qemu-system-x86)")
    if GUESTS is None:
        pytest.skip("guests not built (ninja -C build tests/guests/boot.elf)")
    path = GUESTS / kernel
    if not path.exists():
        pytest.skip(f"{path} not built")
    if accel == "kvm":
        reason = kvm_usable()
        if reason:
            pytest.skip(reason)
    cmd = [QEMU, "-accel", accel, "-M", machine, "-m", mem, "-smp", smp,
           "-kernel", str(path), "-nographic", "-monitor", "none",
           "-display", "none", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    if append:
        cmd += ["-append", append]
    if initrd:
        cmd += ["-initrd", str(initrd)]
    if no_reboot:
        cmd.append("-no-reboot")
    cmd += list(extra)
    try:
        p = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        pytest.fail(f"timed out after {TIMEOUT} s: {' '.join(cmd)}\n{out}")
    out = p.stdout.decode("utf-8", "replace")
    err = p.stderr.decode("utf-8", "replace")
    return p.returncode, out + err


def assert_pass(rc, out):
    assert "FAIL" not in out, out
    assert "PASS" in out, out
    assert rc == 1, f"exit status {rc}, expected 1 (PASS)\n{out}"


# ---- static ----------------------------------------------------------------

# Instructions PVM hosts do not emulate at CPL0 (docs/linux-lane.md), and
# UD2, which the guests must not use as an assert.
FORBIDDEN = re.compile(r"\t(popcnt|xsave\w*|xrstor\w*|clac|stac|int3|ud2)\b")


def test_no_unemulated_instructions():
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump not installed (binutils)")
    if GUESTS is None:
        pytest.skip("guests not built")
    elfs = sorted(GUESTS.glob("*.elf"))
    assert elfs
    bad = []
    for elf in elfs:
        out = subprocess.run([objdump, "-d", "-j", ".text", str(elf)],
                             capture_output=True, text=True, timeout=TIMEOUT).stdout
        bad += [f"{elf.name}: {line.strip()}" for line in out.splitlines()
                if FORBIDDEN.search(line)]
    assert not bad, "\n".join(bad)


# ---- TCG ------------------------------------------------------------------

def test_boot_microvm():
    line = "expect_mem_mb=256 " + MICROVM_MAP + " token=vessel-0123456789"
    rc, out = run_qemu("boot.elf", MICROVM, line)
    assert_pass(rc, out)
    assert f"CMDLINE[{line}]" in out


def test_boot_q35_above_4g():
    # 4608 MiB: q35 puts 2 GiB below the hole and the rest above 4 GiB.
    base = "expect_mem_mb=4608 pad=" + "x" * 40 + " expect_cmdline_len="
    line = base + str(len(base) + 2)
    assert len(line) == len(base) + 2
    rc, out = run_qemu("boot.elf", "q35", line, mem="4608")
    assert_pass(rc, out)
    assert f"CMDLINE[{line}]" in out


@pytest.mark.parametrize("cpus", [1, 2, 4, 8])
def test_smp(cpus):
    # SeaBIOS writes one MP-table processor entry per package: give each
    # CPU its own socket so the MP table lists them all.
    rc, out = run_qemu("smp.elf", "q35", f"expect_cpus={cpus}",
                       smp=f"{cpus},sockets={cpus},cores=1,threads=1")
    assert_pass(rc, out)
    assert f"{cpus} of {cpus} CPUs online" in out


@pytest.mark.parametrize("cpus", [1, 4])
def test_cpuid(cpus):
    # One socket of N cores so that CPUID.0xB reports N at the core level;
    # TCG's hypervisor signature is "TCGTCGTCGTCG".
    rc, out = run_qemu("cpuid.elf", "q35",
                       f"expect_cpus={cpus} hv_sig=TCGTCGTCGTCG",
                       smp=f"{cpus},sockets=1,cores={cpus},threads=1")
    assert_pass(rc, out)


def test_timer():
    rc, out = run_qemu("timer.elf", "q35")
    assert_pass(rc, out)
    assert "PIT IRQ0 -> GSI 2" in out


@pytest.mark.parametrize("machine", ["q35", "pc", MICROVM])
def test_poweroff(machine):
    rc, out = run_qemu("poweroff.elf", machine)
    assert "entering S5" in out, out
    assert "FAIL" not in out and "PASS" not in out, out
    assert rc == 0, f"exit status {rc}, expected 0 (ACPI power off)\n{out}"


def test_reset_reboots():
    rc, out = run_qemu("reset.elf", "q35", no_reboot=False)
    assert "reset: first boot" in out, out
    assert "reset: second boot" in out, out
    assert_pass(rc, out)


def test_reset_exit_mode():
    rc, out = run_qemu("reset.elf", "q35", "cmos_reg=0x38")
    assert "reset: first boot" in out, out
    assert "second boot" not in out, out
    assert rc == 0, out


def test_fault_triple_faults():
    rc, out = run_qemu("fault.elf", "q35", extra=["-d", "cpu_reset"])
    assert "expect a triple fault" in out, out
    assert "PASS" not in out and "FAIL" not in out, out
    assert "Triple fault" in out, out
    assert rc == 0, out


def test_demo():
    rc, out = run_qemu("demo.elf", "q35", smp="2,sockets=2")
    assert "vCPUs: 2 of 2 online" in out, out
    assert "host bridge" in out and "MCFG" in out, out
    assert "FAIL" not in out, out
    assert rc == 0, f"exit status {rc}, expected 0 (ACPI power off)\n{out}"


def test_pci():
    rc, out = run_qemu("pci.elf", "q35")
    assert_pass(rc, out)
    assert "00:00.0 8086:29c0 class 060000" in out


def test_cpl3():
    rc, out = run_qemu("cpl3.elf", MICROVM, "iters=1000000")
    assert_pass(rc, out)
    assert "CPL 3" in out


def test_bzboot_32bit_entry(tmp_path):
    data = bytes((i * 7 + 3) & 0xff for i in range(4096))
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    initrd = tmp_path / "initrd.bin"
    initrd.write_bytes(data)
    line = f"expect_mem_mb=256 initrd_size={len(data)} initrd_fnv={h:#x}"
    rc, out = run_qemu("bzboot.bin", "q35", line, initrd=initrd)
    assert_pass(rc, out)
    assert "32-bit entry" in out
    assert f"CMDLINE[{line}]" in out


def test_bzboot_64bit_entry():
    pytest.skip("QEMU starts a bzImage in its real-mode setup code (then the "
                "32-bit entry); the 64-bit entry at 0x200 is exercised by "
                "vessel in test_guests_kvm.py")


# ---- KVM (microvm): the guests on this host's /dev/kvm, PVM included --------

def kvm_run(kernel, append="", smp="1"):
    return run_qemu(kernel, MICROVM, append, smp=smp, accel="kvm")


def test_kvm_boot():
    rc, out = kvm_run("boot.elf", "expect_mem_mb=256 " + MICROVM_MAP)
    assert_pass(rc, out)


@pytest.mark.parametrize("cpus", [1, 2, 4, 8])
def test_kvm_smp(cpus):
    # microvm has no MP table.
    rc, out = kvm_run("smp.elf", f"expect_cpus={cpus} mptable=0", smp=str(cpus))
    assert_pass(rc, out)


def test_kvm_cpuid():
    rc, out = kvm_run("cpuid.elf", "expect_cpus=4",
                      smp="4,sockets=1,cores=4,threads=1")
    assert_pass(rc, out)
    assert '"KVMKVMKVM"' in out


def test_kvm_timer():
    # microvm routes IRQ0 to GSI 2 but its MADT has no override for it.
    rc, out = kvm_run("timer.elf", "pit_gsi=2")
    assert_pass(rc, out)


def test_kvm_poweroff():
    rc, out = kvm_run("poweroff.elf")
    assert "entering S5" in out and "FAIL" not in out, out
    assert rc == 0, out


def test_kvm_fault():
    rc, out = kvm_run("fault.elf")
    assert "expect a triple fault" in out, out
    assert "PASS" not in out and "FAIL" not in out, out


def test_kvm_cpl3():
    rc, out = kvm_run("cpl3.elf")
    assert_pass(rc, out)


def test_kvm_demo():
    rc, out = kvm_run("demo.elf", smp="2")
    assert "vCPUs: 2 of 2 online" in out and "FAIL" not in out, out
    assert rc == 0, out


def test_kvm_reset_and_bzboot():
    if pvm_host():
        pytest.skip("reset.elf and bzboot need SeaBIOS (q35), whose real-mode "
                    "code PVM emulates instruction by instruction (>15 s); "
                    "covered by the TCG lane and by vessel")
    rc, out = run_qemu("reset.elf", "q35", accel="kvm", no_reboot=False)
    assert_pass(rc, out)
