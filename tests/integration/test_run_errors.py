# Bad input to `vessel run` gets one clear line naming the problem and a
# non-zero exit (issue: vessel run, "Bad input").
import os
import subprocess

import pytest

from conftest import kvm_usable


def run(vessel_bin, *args, env=None, timeout=30):
    return subprocess.run([vessel_bin, "run", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=env)


def one_line_error(r, *needles):
    assert r.returncode != 0, r.stdout + r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one error line, got:\n{r.stderr}"
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def guest(guests_dir):
    return str(guests_dir / "poweroff.elf")


def test_missing_kernel(vessel_bin, tmp_path):
    one_line_error(run(vessel_bin, "--kernel", str(tmp_path / "nope")), "nope", "No such file")


def test_bad_on_reboot_names_the_words(vessel_bin, guest):
    """--on-reboot takes the JSON's words (lifecycle.on_reboot)."""
    one_line_error(run(vessel_bin, "--kernel", guest, "--on-reboot", "reboot"),
                   "'reboot'", "expected restart or destroy")


def test_no_kernel_option(vessel_bin):
    one_line_error(run(vessel_bin), "kernel")


def test_unreadable_kernel(vessel_bin, tmp_path):
    k = tmp_path / "k"
    k.write_bytes(b"x" * 100)
    k.chmod(0)
    if os.geteuid() == 0:
        # root reads anything: use a directory instead, also unreadable as a kernel
        one_line_error(run(vessel_bin, "--kernel", str(tmp_path)), "not a regular file")
    else:
        one_line_error(run(vessel_bin, "--kernel", str(k)), "Permission denied")


def test_not_a_kernel(vessel_bin, tmp_path, need_kvm):
    k = tmp_path / "junk"
    k.write_bytes(os.urandom(8192))
    one_line_error(run(vessel_bin, "--kernel", str(k)), "neither a bzImage nor an ELF")


def test_elf_without_pvh_note(vessel_bin, need_kvm):
    # /bin/true is an x86-64 ELF, but not a PVH kernel.
    one_line_error(run(vessel_bin, "--kernel", "/bin/true"), "ELF")


def test_truncated_bzimage(vessel_bin, tmp_path, need_kvm):
    k = tmp_path / "bz"
    hdr = bytearray(0x400)
    hdr[0x1f1] = 1                  # one setup sector: setup is 1024 bytes = whole file
    hdr[0x1fe:0x200] = b"\x55\xaa"
    hdr[0x202:0x206] = b"HdrS"
    hdr[0x206:0x208] = (0x20f).to_bytes(2, "little")
    hdr[0x236] = 1                  # XLF_KERNEL_64
    k.write_bytes(bytes(hdr))
    one_line_error(run(vessel_bin, "--kernel", str(k)), "truncated")


def test_initrd_too_large(vessel_bin, guest, tmp_path, need_kvm):
    initrd = tmp_path / "big.img"
    with open(initrd, "wb") as f:
        f.truncate(40 << 20)
    one_line_error(run(vessel_bin, "--kernel", guest, "--memory", "32M", "--initrd", str(initrd)),
                   "initrd", "does not fit")


def test_missing_initrd(vessel_bin, guest, tmp_path, need_kvm):
    one_line_error(run(vessel_bin, "--kernel", guest, "--initrd", str(tmp_path / "none")),
                   "initrd")


def test_missing_disk(vessel_bin, guest, tmp_path, need_kvm):
    # One mistake, one line: the block layer's message, naming the file.
    disk = tmp_path / "nonexistent.img"
    one_line_error(run(vessel_bin, "--kernel", guest, "--disk", str(disk)),
                   f"cannot open '{disk}'", "No such file or directory")


def test_bad_qcow2_disk(vessel_bin, guest, tmp_path, need_kvm):
    # A qcow2 spec violation: the driver's words, with the image's name.
    disk = tmp_path / "v7.qcow2"
    disk.write_bytes(b"QFI\xfb" + (7).to_bytes(4, "big") + bytes(4088))
    one_line_error(run(vessel_bin, "--kernel", guest, "--disk", f"path={disk},format=qcow2"),
                   str(disk), "qcow2: unsupported version 7")


@pytest.mark.parametrize("mem,needle", [("1M", "at least 16M"), ("15M", "at least 16M"),
                                        ("12X", "--memory"), ("0", "at least 16M")])
def test_memory_too_small_or_bad(vessel_bin, guest, mem, needle):
    one_line_error(run(vessel_bin, "--kernel", guest, "--memory", mem), needle)


def test_memory_more_than_host(vessel_bin, guest, need_kvm):
    one_line_error(run(vessel_bin, "--kernel", guest, "--memory", "64T"), "64T", "more than")


@pytest.mark.parametrize("cpus", ["0", "-1", "abc", "100000"])
def test_bad_cpu_count(vessel_bin, guest, cpus):
    one_line_error(run(vessel_bin, "--kernel", guest, "--cpus", cpus), "--cpus")


def test_cpus_beyond_kvm_limit(vessel_bin, guest, need_kvm):
    # KVM_CAP_MAX_VCPUS is below 256 on most hosts; if not, this is not testable.
    import fcntl
    KVM_CHECK_EXTENSION = 0xAE03
    KVM_CAP_MAX_VCPUS = 66
    fd = os.open("/dev/kvm", os.O_RDWR)
    try:
        maxv = fcntl.ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS)
    finally:
        os.close(fd)
    if maxv >= 256:
        pytest.skip(f"KVM allows {maxv} vCPUs, more than vessel's own limit")
    one_line_error(run(vessel_bin, "--kernel", guest, "--cpus", str(maxv + 1)), "KVM", str(maxv))


def test_no_dev_kvm(vessel_bin, guest, tmp_path):
    env = dict(os.environ, VESSEL_KVM_DEVICE=str(tmp_path / "kvm"))
    one_line_error(run(vessel_bin, "--kernel", guest, env=env), "does not exist")


def test_no_permission_on_dev_kvm(vessel_bin, guest, tmp_path):
    if kvm_usable():
        pytest.skip(kvm_usable())
    if os.geteuid() != 0:
        pytest.skip("needs root to create a device node")
    node = tmp_path / "kvm"
    st = os.stat("/dev/kvm")
    os.mknod(node, 0o600 | 0o020000, st.st_rdev)
    # Run as nobody: the node is root-only.
    env = dict(os.environ, VESSEL_KVM_DEVICE=str(node))
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        vessel_bin, "run", "--kernel", guest],
                       capture_output=True, text=True, timeout=30, env=env,
                       stdin=subprocess.DEVNULL)
    one_line_error(r, "no permission")


def test_unknown_option(vessel_bin):
    one_line_error(run(vessel_bin, "--frobnicate"), "unknown option")


def test_hugepages_with_ksm_refused(vessel_bin, guest):
    one_line_error(run(vessel_bin, "--kernel", guest, "--hugepages", "2M", "--ksm"),
                   "KSM", "huge pages")


def test_fifo_kernel_and_initrd(vessel_bin, tmp_path):
    """A FIFO as kernel or initrd is refused at once, not waited on in open()."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    one_line_error(run(vessel_bin, "--kernel", str(fifo), timeout=10), "kernel", "not a regular file")
    k = tmp_path / "k"
    k.write_bytes(b"x" * 100)
    one_line_error(run(vessel_bin, "--kernel", str(k), "--initrd", str(fifo), timeout=10),
                   "initrd", "not a regular file")
