# Linux VMs on vessel networks (issue 12, docs/net.md): Debian's kernel in
# each guest, Linux's virtio_net driver on vessel's device, and the
# networks built by `vessel net` (bridge, dnsmasq, port groups, VXLAN).
# Every topology lives in network namespaces that the test creates and
# removes, with a private state directory; each "host" is a namespace.
#
# The guests need a /dev/kvm that boots Linux, and the VLAN test a kernel
# with bridge VLAN filtering: on this machine both skip here and
# scripts/kvm-in-l1.py runs them in the L1 host (Debian's kernel).
# The guest side is the netvm check of tests/linux/guest.sh.
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid

import pytest

from conftest import BUILD, ROOT, kvm_usable

sys.path.insert(0, str(ROOT / "tests" / "linux"))
import launch  # noqa: E402

CMDLINE = "console=ttyS0 reboot=k panic=-1 quiet lane.check=netvm"
BOOT_S = 240  # three L2 Linux guests at once under TCG take their time


def sh(*cmd, check=True, timeout=60, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode:
        raise AssertionError(f"{' '.join(map(str, cmd))}: rc={p.returncode}\n"
                             f"{p.stdout}{p.stderr}")
    return p


def bridge_vlan_filtering():
    """None if this kernel can make a VLAN-filtering bridge, else why not."""
    ns = f"vsn-probe-{uuid.uuid4().hex[:6]}"
    if sh("ip", "netns", "add", ns, check=False).returncode:
        return "cannot create a network namespace"
    try:
        r = sh("ip", "netns", "exec", ns, "ip", "link", "add", "br0", "type", "bridge",
               "vlan_filtering", "1", check=False)
        return None if r.returncode == 0 else r.stderr.strip() or "refused"
    finally:
        sh("ip", "netns", "del", ns, check=False)


@pytest.fixture(scope="module")
def l2():
    why = kvm_usable()
    if why:
        pytest.skip(why)
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    vessel = BUILD / "vessel"
    images = launch.build_images(ROOT / "images" / "lane", vessel)
    return vessel, images / "vmlinuz", images / "l2.img"


class Host:
    """A network namespace standing in for a host, with its own state dir."""

    def __init__(self, l2, tmp, name, env=None):
        """env: this host's environment instead of a new namespace's (the
        root namespace, where Open vSwitch runs)."""
        self.vessel, self.kernel, self.initrd = l2
        self.ns = None if env else f"vsn-{name}-{uuid.uuid4().hex[:6]}"
        self.dir = tmp / name
        self.dir.mkdir()
        (self.dir / "state").mkdir()
        self.env = dict(env or os.environ, VESSEL_STATE_DIR=str(self.dir / "state"))
        self.nets, self.vms = [], []
        if self.ns:
            sh("ip", "netns", "add", self.ns)
            self.ip("link", "set", "lo", "up")

    def ip(self, *args, check=True):
        return sh("ip", *(("-n", self.ns) if self.ns else ()), *args, check=check)

    def exec(self, *args, check=True, timeout=60):
        pre = ("ip", "netns", "exec", self.ns) if self.ns else ()
        return sh(*pre, *args, check=check, timeout=timeout, env=self.env)

    def vessel_cmd(self, *args, check=True, timeout=60):
        return self.exec(self.vessel, *args, check=check, timeout=timeout)

    def net_create(self, name, *opts):
        self.vessel_cmd("net", "create", name, *opts)
        self.nets.append(name)

    def start_vm(self, name, args, net):
        """Define and start a VM whose only NIC is `net` (a nets[] entry)."""
        d = {
            "cpus": 1,
            "memory": "256M",
            "kernel": str(self.kernel),
            "initrd": str(self.initrd),
            "cmdline": f"{CMDLINE} {args}",
            "console": {"mode": "file", "path": str(self.console(name))},
            "nets": [net],
        }
        path = self.dir / f"{name}.json"
        path.write_text(json.dumps(d))
        self.vessel_cmd("define", name, "--config", path)
        self.vms.append(name)
        self.vessel_cmd("start", name)

    def console(self, name):
        return self.dir / f"{name}.console"

    def facts(self, name):
        try:
            text = self.console(name).read_text(errors="replace").replace("\r", "")
        except OSError:
            return {}, ""
        return dict(re.findall(r"^G ([A-Za-z0-9_.]+)=(.*)$", text, re.M)), text

    def wait(self, name, marker, timeout=BOOT_S):
        end = time.time() + timeout
        while time.time() < end:
            f, text = self.facts(name)
            if re.search(marker, text, re.M):
                return f
            if re.search(r"^G-CHECK netvm FAIL", text, re.M):
                break
            time.sleep(0.5)
        raise AssertionError(f"{name}: no '{marker}' within {timeout} s; console:\n"
                             f"{self.facts(name)[1][-3000:]}")

    def close(self):
        for vm in self.vms:
            self.vessel_cmd("destroy", vm, check=False, timeout=30)
        for vm in self.vms:
            pidf = self.dir / "state" / "run" / vm / "pid"
            try:
                os.kill(int(pidf.read_text().split()[0]), signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                pass
        for net in self.nets:
            self.vessel_cmd("net", "destroy", net, check=False)
        if self.ns:
            sh("ip", "netns", "del", self.ns, check=False)


@pytest.fixture
def hosts(l2, tmp_path):
    made = []

    def make(name, env=None):
        h = Host(l2, tmp_path, name, env)
        made.append(h)
        return h

    yield make
    for h in reversed(made):
        h.close()


def test_dhcp_and_tcp_between_two_vms(hosts):
    """Two VMs started by `vessel start` on one network get addresses from its
    dnsmasq, ping each other and move a checksummed file over TCP; the host
    side reaches them through the network's address."""
    h = hosts("h1")
    h.net_create("lan", "--address", "10.77.0.1/24", "--dhcp", "10.77.0.100,10.77.0.150")
    h.start_vm("srv", "lane.dhcp=1 lane.serve=1", {"network": "lan"})
    fa = h.wait("srv", r"^G-SERVING")
    a = fa["lease"].split("/")[0]
    assert re.fullmatch(r"10\.77\.0\.1[0-5]\d", a), fa
    h.start_vm("cli", f"lane.dhcp=1 lane.ping={a} lane.fetch={a}", {"network": "lan"})
    fb = h.wait("cli", r"^G-CHECK netvm")
    assert fb.get(f"ping_{a}") == "ok", fb
    assert fb.get("fetched_sha") == fa["blob_sha"], (fa, fb)
    b = fb["lease"].split("/")[0]
    assert b != a and b.startswith("10.77.0."), fb
    assert fa["nic"].split("mac=")[1] != fb["nic"].split("mac=")[1], (fa, fb)
    # domiflist names the MAC the guest sees and the network, as virsh does;
    # for the running server, also the bridge its NIC is on (the client has
    # powered off after its check: none).
    bridge = json.loads(h.vessel_cmd("net", "info", "lan", "--json").stdout)["bridge"]
    end = time.time() + 60
    while time.time() < end and json.loads(h.vessel_cmd("info", "cli", "--json").stdout)[
            "state"] != "shut off":
        time.sleep(0.5)
    for vm, f, on in (("srv", fa, bridge), ("cli", fb, None)):
        r = h.vessel_cmd("domiflist", vm, "--json")
        (nic,) = json.loads(r.stdout)
        assert not r.stderr, r.stderr
        assert nic["mac"] == f["nic"].split("mac=")[1], (nic, f)
        assert (nic["type"], nic["source"], nic["bridge"]) == ("network", "lan", on), nic
    assert h.exec("busybox", "ping", "-c", "2", "-W", "2", a, check=False).returncode == 0
    info = h.vessel_cmd("net", "info", "lan").stdout
    assert "10.77.0.1/24" in info, info


def test_vlans_isolate_and_a_trunk_sees_both(hosts):
    """Access ports in different VLANs of one network cannot reach each other
    even on one subnet; a trunk port carrying both VLANs reaches each."""
    why = bridge_vlan_filtering()
    if why:
        pytest.skip(f"needs bridge VLAN filtering ({why}); runs in L1")
    h = hosts("h1")
    h.net_create("vl", "--vlan-filtering")
    h.vessel_cmd("net", "portgroup", "add", "vl", "v10", "--vlan", "10")
    h.vessel_cmd("net", "portgroup", "add", "vl", "v20", "--vlan", "20")
    h.vessel_cmd("net", "portgroup", "add", "vl", "trunk", "--trunk", "10,20")
    h.start_vm("a", "lane.ip=10.10.0.1/24 lane.serve=1", {"network": "vl", "portgroup": "v10"})
    h.wait("a", r"^G-SERVING")
    # b shares a's subnet but sits in VLAN 20: a is unreachable.
    h.start_vm("b", "lane.ip=10.10.0.2/24+10.20.0.2/24 lane.ping=10.10.0.1 lane.serve=1",
               {"network": "vl", "portgroup": "v20"})
    fb = h.wait("b", r"^G-SERVING")
    assert fb.get("ping_10.10.0.1") == "fail", fb
    h.start_vm("t", "lane.vlans=10:10.10.0.3/24+20:10.20.0.3/24 "
               "lane.ping=10.10.0.1+10.20.0.2 lane.fetch=10.20.0.2",
               {"network": "vl", "portgroup": "trunk"})
    ft = h.wait("t", r"^G-CHECK netvm")
    assert ft.get("ping_10.10.0.1") == "ok", ft
    assert ft.get("ping_10.20.0.2") == "ok", ft
    assert ft.get("fetched_sha") == fb["blob_sha"], (fb, ft)


@pytest.fixture
def ovs(tmp_path):
    """A private Open vSwitch; torn down after the hosts (fixture order)."""
    from ovs_helpers import Ovs
    o = Ovs(tmp_path)
    yield o
    o.close()


def test_ovs_vlans_isolate_and_a_trunk_sees_both(ovs, hosts):
    """A network on an existing Open vSwitch bridge: each VM's tap becomes
    an OVS port with its port group's tag= (access) or trunks=, VLANs
    isolate as on a Linux bridge, and the ports go when the VMs do."""
    br = f"vso{uuid.uuid4().hex[:6]}"
    ovs.add_br(br)
    h = hosts("h1", env=ovs.env)
    h.net_create("ov", "--ovs", br)
    h.vessel_cmd("net", "portgroup", "add", "ov", "v10", "--vlan", "10")
    h.vessel_cmd("net", "portgroup", "add", "ov", "v20", "--vlan", "20")
    h.vessel_cmd("net", "portgroup", "add", "ov", "trunk", "--trunk", "10,20")
    h.start_vm("a", "lane.ip=10.11.0.1/24 lane.serve=1", {"network": "ov", "portgroup": "v10"})
    h.wait("a", r"^G-SERVING")
    # b shares a's subnet but sits in VLAN 20: a is unreachable.
    h.start_vm("b", "lane.ip=10.11.0.2/24+10.21.0.2/24 lane.ping=10.11.0.1 lane.serve=1",
               {"network": "ov", "portgroup": "v20"})
    fb = h.wait("b", r"^G-SERVING")
    assert fb.get("ping_10.11.0.1") == "fail", fb
    # t stays up (serving) so that its port can be looked at.
    h.start_vm("t", "lane.vlans=10:10.11.0.3/24+20:10.21.0.3/24 "
               "lane.ping=10.11.0.1+10.21.0.2 lane.fetch=10.21.0.2 lane.serve=1",
               {"network": "ov", "portgroup": "trunk"})
    ft = h.wait("t", r"^G-SERVING")
    ports = ovs.ports(br)
    assert sorted(ports.values()) == [("", "10 20", "trunk"), ("10", "", "access"),
                                      ("20", "", "access")], ports
    assert ft.get("ping_10.11.0.1") == "ok", ft
    assert ft.get("ping_10.21.0.2") == "ok", ft
    assert ft.get("fetched_sha") == fb["blob_sha"], (fb, ft)
    # Each VMM removes its port as it exits.
    for vm in ("a", "b", "t"):
        h.vessel_cmd("destroy", vm, timeout=30)
    end = time.time() + 15
    while time.time() < end and ovs.ports(br):
        time.sleep(0.2)
    assert ovs.ports(br) == {}, ovs.ports(br)


def test_vxlan_overlay_joins_two_hosts(hosts):
    """Two hosts, each a namespace with its own vessel network, joined by a
    VXLAN overlay over a veth underlay: a VM on each talks across it."""
    h1, h2 = hosts("h1"), hosts("h2")
    sh("ip", "link", "add", "vxu1", "netns", h1.ns, "mtu", "1600", "type", "veth",
       "peer", "name", "vxu2", "netns", h2.ns, "mtu", "1600")
    for h, dev, addr in ((h1, "vxu1", "10.99.0.1/24"), (h2, "vxu2", "10.99.0.2/24")):
        h.ip("addr", "add", addr, "dev", dev)
        h.ip("link", "set", dev, "up")
    h1.net_create("ov", "--vxlan", "4242", "--remote", "10.99.0.2", "--dev", "vxu1")
    h2.net_create("ov", "--vxlan", "4242", "--remote", "10.99.0.1", "--dev", "vxu2")
    h1.start_vm("a", "lane.ip=10.60.0.1/24 lane.serve=1", {"network": "ov"})
    fa = h1.wait("a", r"^G-SERVING")
    h2.start_vm("b", "lane.ip=10.60.0.2/24 lane.ping=10.60.0.1 lane.fetch=10.60.0.1",
                {"network": "ov"})
    fb = h2.wait("b", r"^G-CHECK netvm")
    assert fb.get("ping_10.60.0.1") == "ok", fb
    assert fb.get("fetched_sha") == fa["blob_sha"], (fa, fb)
    # The frames really crossed the overlay: the vxlan device counted them.
    stats = h2.ip("-s", "-j", "link", "show", "type", "vxlan").stdout
    rx = sum(link["stats64"]["rx"]["bytes"] for link in json.loads(stats))
    assert rx > 1 << 20, stats
