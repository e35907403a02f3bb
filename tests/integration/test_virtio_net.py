# virtio-net on a tap (src/virtio/net.c, src/net/tap.c), driven by Linux's
# own virtio_net driver: Debian's kernel (the Linux lane's L2 guest) on a
# tap inside a network namespace that the test creates and removes, and
# the tap's life cycle.  Guests need /dev/kvm: on this machine these skip
# here and scripts/kvm-in-l1.py runs them in the L1 host.
import os
import re
import subprocess
import sys
import threading
import time
import uuid

import pytest

from conftest import BUILD, ROOT, kvm_usable

sys.path.insert(0, str(ROOT / "tests" / "linux"))
import launch  # noqa: E402

CMDLINE = "console=ttyS0 reboot=k panic=-1 quiet lane.check=netvm"


def sh(*cmd, check=True, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60, **kw)
    if check and p.returncode:
        raise AssertionError(f"{cmd}: {p.stdout}{p.stderr}")
    return p


@pytest.fixture
def netns():
    why = kvm_usable()
    if why:
        pytest.skip(why)
    if os.geteuid() != 0:
        pytest.skip("needs root for a network namespace")
    ns = f"vsn-{uuid.uuid4().hex[:8]}"
    sh("ip", "netns", "add", ns)
    sh("ip", "-n", ns, "link", "set", "lo", "up")
    yield ns
    sh("ip", "netns", "del", ns, check=False)


@pytest.fixture(scope="module")
def l2():
    images = launch.build_images(ROOT / "images" / "lane", BUILD / "vessel")
    return images / "vmlinuz", images / "l2.img"


def run_guest(cmd, timeout):
    """Run a guest to its end; a guest that hangs fails with what it said."""
    try:
        return subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
        raise AssertionError(f"the guest did not finish in {timeout} s:\n{(out or '')[-4000:]}")


def facts(out):
    return dict(re.findall(r"^G ([A-Za-z0-9_.]+)=(.*?)\r?$", out, re.M))


def host_tap(netns, *mode):
    """vsnt0, an existing tap at 10.55.0.1/24 in the namespace, up."""
    sh("ip", "-n", netns, "tuntap", "add", "vsnt0", "mode", "tap", "vnet_hdr", *mode)
    sh("ip", "-n", netns, "addr", "add", "10.55.0.1/24", "dev", "vsnt0")
    sh("ip", "-n", netns, "link", "set", "vsnt0", "up")


def blob_server(netns, tmp_path):
    """A TCP server on port 5000 handing out 1 MiB of random bytes; (the
    server process, their sha256)."""
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(1 << 20))
    want = subprocess.run(["sha256sum", str(blob)], capture_output=True, text=True,
                          check=True).stdout.split()[0]
    return subprocess.Popen(["ip", "netns", "exec", netns, "busybox", "nc", "-ll", "-p",
                             "5000", "-e", "cat", str(blob)]), want


def converse(cmd, cues, timeout=240):
    """Run a guest that stops at console lines starting with a cue of
    `cues` (prefix -> action(process)): the action runs, then a line on the
    guest's console lets it go on.  Returns what the guest said."""
    p = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, bufsize=1)
    out = []
    deadline = time.time() + timeout
    try:
        for line in p.stdout:
            out.append(line)
            for cue, action in cues.items():
                if line.startswith(cue):
                    action(p)
                    p.stdin.write("\n")
                    p.stdin.flush()
            if time.time() > deadline:
                break
    finally:
        p.kill()
        p.wait()
    return "".join(out)


def test_linux_pings_and_fetches_through_an_existing_tap(netns, l2, tmp_path):
    """Linux's virtio_net binds, pings the host end of the tap and fetches a
    checksummed 1 MiB file over TCP from it; the tap existed before
    (vessel uses it and leaves it), and is still there afterwards."""
    kernel, initrd = l2
    host_tap(netns)
    server, want = blob_server(netns, tmp_path)
    try:
        r = run_guest(
            ["ip", "netns", "exec", netns, BUILD / "vessel", "run", "--kernel", kernel,
             "--initrd", initrd, "--memory", "256M", "--cpus", "2",
             "--net", "tap=vsnt0,queues=1",
             "--cmdline", f"{CMDLINE} lane.ip=10.55.0.2/24 lane.ping=10.55.0.1 "
             "lane.fetch=10.55.0.1"], timeout=240)
    finally:
        server.kill()
        server.wait()
    f = facts(r.stdout)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert f.get("nic", "").startswith("eth0 driver=virtio_net"), f
    assert f.get("ping_10.55.0.1") == "ok", r.stdout[-3000:]
    assert f.get("fetched_sha") == want, r.stdout[-3000:]
    assert "G-CHECK netvm ok" in r.stdout
    # Not vessel's tap: it stays.
    assert sh("ip", "-n", netns, "link", "show", "vsnt0", check=False).returncode == 0


SEND_FRAMES = """
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
frame = bytes.fromhex("525400dead01" "020000000001" "88b5") + bytes(46)
for _ in range(50):
    s.send(frame)
"""


@pytest.mark.parametrize("vhost", ["off", "on"])
def test_linux_multiqueue_and_receive_filter(netns, l2, vhost):
    """With queues=2 on a multi-queue tap, Linux's virtio_net enables both
    pairs and the host's flows reach the guest on both input queues.  The
    receive filter follows the driver: 50 frames for another MAC do not
    reach it until it turns promiscuous mode on, and then all do.  With
    vhost-net too, on a tap vessel creates: there the tap's own filter
    (TUNSETTXFILTER) does it."""
    if vhost == "on" and not os.path.exists("/dev/vhost-net"):
        pytest.skip("no /dev/vhost-net on this host's kernel; runs in L1")
    kernel, initrd = l2

    def address():
        """The host side of vsnt0: an address, and no IPv6 noise."""
        for _ in range(600):
            if sh("ip", "-n", netns, "addr", "add", "10.55.0.1/24", "dev", "vsnt0",
                  check=False).returncode == 0:
                break
            time.sleep(0.1)
        sh("ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv6.conf.vsnt0.disable_ipv6=1")

    if vhost == "off":
        sh("ip", "-n", netns, "tuntap", "add", "vsnt0", "mode", "tap", "vnet_hdr", "multi_queue")
        sh("ip", "-n", netns, "link", "set", "vsnt0", "up")
        address()
    else:
        # vessel creates vsnt0 (and brings it up); the address follows once it is there.
        threading.Thread(target=address, daemon=True).start()
    server = subprocess.Popen(["ip", "netns", "exec", netns, "busybox", "nc", "-ll", "-p",
                               "5000", "-e", "head", "-c", "65536", "/dev/zero"])

    def send(_):
        sh("ip", "netns", "exec", netns, sys.executable, "-c", SEND_FRAMES, "vsnt0")
        time.sleep(1)

    try:
        text = converse(
            ["ip", "netns", "exec", netns, BUILD / "vessel", "run", "--kernel", kernel,
             "--initrd", initrd, "--memory", "256M", "--cpus", "2",
             "--net", f"tap=vsnt0,queues=2,vhost={vhost}",
             "--cmdline", f"{CMDLINE} lane.ip=10.55.0.2/24 lane.mq=10.55.0.1 lane.filter=1"],
            {"G-FILTER-SEND": send})
    finally:
        server.kill()
        server.wait()
    f = facts(text)
    assert "G-CHECK netvm ok" in text, text[-3000:]
    assert f.get("queue_pairs") == "2", f
    irqs = [int(f.get(f"rxirq_{q}", 0)) for q in (0, 1)]
    assert all(n > 0 for n in irqs), (irqs, text[-2000:])
    assert int(f["filter_rx"]) < 5, f
    assert int(f["promisc_rx"]) >= 50, f


@pytest.mark.parametrize("irq", ["msix", "intx"])
def test_linux_over_vhost_net(netns, l2, tmp_path, irq):
    """vhost=on: the kernel's vhost-net moves the packets (its worker
    thread runs for the VMM, the device's own counters stay still) while
    Linux pings and fetches a checksummed file; the control queue stays
    the VMM's.  With MSI-X, KVM injects the queues' interrupts straight
    from vhost's call eventfds (irqfd), also while Linux moves them between
    CPUs (masking each vector to rewrite it); with pci=nomsi the guest has
    only INTx, and the VMM raises them from the same eventfds."""
    if not os.path.exists("/dev/vhost-net"):
        pytest.skip("no /dev/vhost-net on this host's kernel; runs in L1")
    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    from mgmt_helpers import api
    kernel, initrd = l2
    host_tap(netns)
    server, want = blob_server(netns, tmp_path)
    sock = tmp_path / "api.sock"
    seen = {}

    def look(p):
        seen["stats"] = api(str(sock), "GET", "/vm/stats")[2]
        seen["threads"] = sh("ps", "-eLo", "comm").stdout
        seen["tasks"] = os.listdir(f"/proc/{p.pid}/task")

    try:
        text = converse(
            ["ip", "netns", "exec", netns, BUILD / "vessel", "run", "--kernel", kernel,
             "--initrd", initrd, "--memory", "256M", "--cpus", "2", "--api-socket", sock,
             "--net", "tap=vsnt0,vhost=on",
             "--cmdline", f"{CMDLINE} lane.ip=10.55.0.2/24 lane.ping=10.55.0.1 "
             "lane.fetch=10.55.0.1 lane.hold=1" +
             (" pci=nomsi" if irq == "intx" else " lane.flip=10.55.0.1")],
            {"G-HOLD": look})
    finally:
        server.kill()
        server.wait()
    f = facts(text)
    assert f.get("ping_10.55.0.1") == "ok", text[-3000:]
    assert f.get("fetched_sha") == want, text[-3000:]
    assert seen, text[-3000:]
    nic = seen["stats"]["devices"]["virtio-net0"]
    assert nic["vhost"] is True and "vhost_error" not in nic, nic
    # 1 MiB came in, but not through the VMM.
    assert nic["rx_bytes"] == 0 and nic["tx_bytes"] == 0, nic
    if irq == "msix":
        # Both rings of the pair interrupt through KVM, not the VMM: the
        # VMM's MSI-X sends are the control queue's and config changes.
        assert nic["irqfd_bound"] == 2 and nic["intx"] == 0, nic
        assert nic["msix_sent"] < 64, nic
        # Interrupts kept coming while Linux masked and moved the vectors.
        assert int(f["flips"]) >= 60 and f["flip_fetches"] == "6", f
        # ...each time unbound while masked and bound again when unmasked.
        assert nic["irqfd_binds"] > 2 + 10, nic
    else:
        assert nic["irqfd_bound"] == 0 and nic["intx"] > 0, nic
    # The worker is named after the VMM thread that became its owner.
    assert any(f"vhost-{t}\n" in seen["threads"] for t in seen["tasks"]), seen


def test_vessel_creates_and_removes_its_tap(netns, guests_dir):
    """A tap that does not exist is created (up, multi-queue with queues=2),
    and is gone when the VMM exits."""
    p = subprocess.Popen(["ip", "netns", "exec", netns, BUILD / "vessel", "run", "--kernel",
                          guests_dir / "spin.elf", "--memory", "64M",
                          "--net", "tap=vsnt1,queues=2"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        shown = None
        for _ in range(100):
            r = sh("ip", "-n", netns, "-d", "link", "show", "vsnt1", check=False)
            if r.returncode == 0:
                shown = r.stdout
                break
            time.sleep(0.1)
        assert shown, "vessel did not create vsnt1"
        assert "UP" in shown and "tun" in shown, shown
        assert "multi_queue" in shown, shown
    finally:
        p.terminate()
        out, err = p.communicate(timeout=20)
    assert p.returncode == 0, err
    assert sh("ip", "-n", netns, "link", "show", "vsnt1", check=False).returncode != 0


def test_net_option_errors_are_one_line(tmp_path):
    """Mistakes in --net and "nets" give one line naming the key, before KVM."""
    exe = BUILD / "vessel"
    cases = [
        (["--net", "tap=a/b"], "tap: \"a/b\" is not an interface name"),
        (["--net", "tap=x,mac=01:00:5e:00:00:01"], "is not a unicast MAC address"),
        (["--net", "tap=x,queues=99"], "queues"),
        (["--net", "tap=x,vlan=5"], "vlan and trunk need bridge=, ovs= or network="),
        (["--net", "bridge=b,trunk=1:5000"], "not a list of VLAN ids"),
        (["--net", "fd=3,queues=2"], "has one queue"),
        (["--net", "tap=x,vhost=maybe"], "vhost"),
        (["--net", "tap=x,bogus=1"], "bogus"),
    ]
    for args, msg in cases:
        r = subprocess.run([exe, "run", "--kernel", "/nonexistent", *args],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode != 0, args
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and msg in lines[0], (args, r.stderr)
    cfg = tmp_path / "vm.json"
    cfg.write_text('{"kernel": "/nonexistent", "nets": [{"tap": "x", "vlan": 5000}]}')
    r = subprocess.run([exe, "run", "--config", cfg], capture_output=True, text=True,
                       timeout=10)
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0 and len(lines) == 1 and "nets[0].vlan" in lines[0], r.stderr
