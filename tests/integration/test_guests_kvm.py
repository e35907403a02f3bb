# The freestanding test guests (tests/guests) booted by `vessel run` on
# /dev/kvm, through the real boot path.  Each guest prints PASS or
# "FAIL: why" on COM1 and exits through the debug-exit port (status 1 for
# PASS, 3 for FAIL), or powers off / crashes where that is the test.
import os
import select
import re
import subprocess
import time

import pytest

from conftest import kvm_usable

TIMEOUT = 60


def boot(vessel_bin, guest, cpus=1, mem="128M", cmdline="", extra=(), timeout=TIMEOUT, **kw):
    cmd = [vessel_bin, "run", "--kernel", str(guest), "--cpus", str(cpus), "--memory", mem,
           "--debug-exit", "--serial", "stdio", "--cmdline", cmdline, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)


@pytest.fixture(autouse=True)
def _kvm():
    reason = kvm_usable()
    if reason:
        pytest.skip(reason)


def expect_pass(r):
    assert "PASS" in r.stdout and r.returncode == 1, \
        f"rc={r.returncode}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}"


@pytest.mark.parametrize("mem_mb", [64, 256, 3072 + 512])
def test_boot_params_and_memory_map(vessel_bin, guests_dir, mem_mb):
    """hvm_start_info, command line round trip, e820 totals (also above 4 GiB)."""
    cmdline = "vessel-test-cmdline token=42 quoted"
    r = boot(vessel_bin, guests_dir / "boot.elf", mem=f"{mem_mb}M",
             cmdline=f"expect_mem_mb={mem_mb} expect_cmdline_len={len(cmdline) + 16 + len(str(mem_mb)) + 21} {cmdline}")
    # The guest checks the length of the whole command line it received.
    if "expect_cmdline_len" in r.stdout and "FAIL" in r.stdout:
        pytest.fail(r.stdout)
    expect_pass(r)
    assert cmdline in r.stdout


@pytest.mark.parametrize("cpus", [1, 2, 4, 8])
def test_smp_all_aps_start(vessel_bin, guests_dir, cpus):
    r = boot(vessel_bin, guests_dir / "smp.elf", cpus=cpus, cmdline=f"expect_cpus={cpus}")
    expect_pass(r)
    assert f"{cpus} of {cpus} CPUs online" in r.stdout


@pytest.mark.parametrize("cpus", [1, 3, 8])
def test_cpuid_topology(vessel_bin, guests_dir, cpus):
    r = boot(vessel_bin, guests_dir / "cpuid.elf", cpus=cpus, cmdline=f"expect_cpus={cpus}")
    expect_pass(r)
    assert "KVMKVMKVM" in r.stdout


def test_timer_interrupts(vessel_bin, guests_dir):
    """LAPIC timer, PIT IRQ0 through the IOAPIC (pin 2), UART THRE IRQ4."""
    expect_pass(boot(vessel_bin, guests_dir / "timer.elf"))


def test_acpi_poweroff_exits_zero(vessel_bin, guests_dir):
    r = boot(vessel_bin, guests_dir / "poweroff.elf")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "S5" in r.stdout


def test_reset_reboots_guest(vessel_bin, guests_dir):
    """i8042 reset: the machine resets and the guest sees its CMOS marker."""
    r = boot(vessel_bin, guests_dir / "reset.elf", extra=["--on-reboot", "restart"])
    expect_pass(r)


def test_reboot_loads_the_kernel_read_at_start(vessel_bin, guests_dir, tmp_path):
    """A reboot boots the bytes read at start, without opening the kernel
    again: removing the file between the boots changes nothing."""
    kernel = tmp_path / "reset.elf"
    kernel.write_bytes((guests_dir / "reset.elf").read_bytes())
    p = subprocess.Popen([vessel_bin, "run", "--kernel", str(kernel), "--memory", "64M",
                          "--debug-exit", "--serial", "stdio", "--on-reboot", "reset",
                          "--cmdline", "wait_key=1"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out = b""
        end = time.time() + TIMEOUT
        while b"waiting for a key" not in out and time.time() < end:
            if select.select([p.stdout], [], [], 0.5)[0]:
                chunk = os.read(p.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
        assert b"waiting for a key" in out, out
        kernel.unlink()
        p.stdin.write(b"k")
        p.stdin.flush()
        rest, err = p.communicate(timeout=TIMEOUT)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    out += rest
    assert b"second boot" in out and b"PASS" in out and p.returncode == 1, \
        (p.returncode, out[-2000:], err[-2000:])


@pytest.mark.parametrize("word", ["destroy", "exit"])
def test_reset_with_exit_policy(vessel_bin, guests_dir, word):
    """--on-reboot destroy (the JSON's word; exit, its older spelling):
    the guest's reset stops vessel with status 0."""
    r = boot(vessel_bin, guests_dir / "reset.elf", extra=["--on-reboot", word])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS" not in r.stdout


def test_triple_fault_prints_registers(vessel_bin, guests_dir):
    r = boot(vessel_bin, guests_dir / "fault.elf")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "triple fault" in r.stderr
    assert "RIP=" in r.stderr and "CR0=" in r.stderr


EVENT = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\+0000 \[pid \d+\] "


@pytest.mark.parametrize("guest,last", [
    ("fault.elf", "crashed: vcpu0: guest triple fault (KVM_EXIT_SHUTDOWN)"),
    ("poweroff.elf", "stopped: the guest powered off"),
    ("reset.elf", "stopped: the guest rebooted (on_reboot=destroy)"),
])
def test_event_log_says_how_the_run_ended(vessel_bin, guests_dir, tmp_path, guest, last):
    """vessel run --event-log: one timestamped line at the start, one for the end."""
    log = tmp_path / "events.log"
    extra = ["--event-log", str(log)] + (["--on-reboot", "destroy"] if guest == "reset.elf" else [])
    boot(vessel_bin, guests_dir / guest, extra=extra)
    lines = log.read_text().splitlines()
    assert len(lines) == 2, lines
    assert all(re.match(EVENT, l) for l in lines), lines
    assert re.sub(EVENT, "", lines[0]) == "started: 1 vCPU(s), 128 MiB", lines
    assert re.sub(EVENT, "", lines[1]) == last, lines


def test_demo_guest_reports_and_powers_off(vessel_bin, guests_dir):
    r = boot(vessel_bin, guests_dir / "demo.elf", cpus=2)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "host bridge" in r.stdout


def test_sigterm_stops_cleanly(vessel_bin, guests_dir):
    """A guest that never exits (the smp guest parks its CPUs with -1 cpus
    expected... instead: the reset guest with no debug exit would loop), so
    use the timer guest with a huge tick target and SIGTERM it."""
    p = subprocess.Popen([vessel_bin, "run", "--kernel", str(guests_dir / "smp.elf"), "--cpus", "2",
                          "--memory", "64M", "--cmdline", "expect_cpus=2"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        # Without --debug-exit the guest's exit write is ignored and it halts.
        out, err = p.communicate(timeout=3)
        pytest.fail(f"guest exited on its own: rc={p.returncode} {out} {err}")
    except subprocess.TimeoutExpired:
        pass
    p.terminate()
    out, err = p.communicate(timeout=10)
    assert p.returncode == 0, err
    assert "PASS" in out


def test_bzimage_boot_protocol(vessel_bin, guests_dir, tmp_path):
    guest = guests_dir / "bzboot.bin"
    if not guest.exists():
        pytest.skip("bzImage test guest not built")
    initrd = tmp_path / "initrd.img"
    data = bytes((i * 7 + 3) & 0xff for i in range(100000))
    initrd.write_bytes(data)
    csum = sum(data) & 0xffffffff
    r = boot(vessel_bin, guest, mem="128M", extra=["--initrd", str(initrd)],
             cmdline=f"initrd_size={len(data)} initrd_sum={csum}")
    expect_pass(r)


def test_sigterm_stops_a_spinning_guest(vessel_bin, guests_dir):
    """A CPL0 loop with no exits (emulated on PVM, never leaving KVM_RUN by
    itself): SIGTERM kicks the vCPUs out and vessel exits 0."""
    p = subprocess.Popen([vessel_bin, "run", "--kernel", str(guests_dir / "spin.elf"), "--cpus", "2",
                          "--memory", "64M"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert "spinning" in line, line
        p.terminate()
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
