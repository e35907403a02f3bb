# `vessel net` (src/cli/net.c, src/mgmt/network.c, docs/net.md) on the
# host, without guests: networks built in a network namespace the test
# creates and removes, each with a private state directory.  What the
# kernel builds is read back with ip(8); dnsmasq's process is checked.
# The VLAN cases need a kernel with bridge VLAN filtering: where this one
# lacks it they skip with "runs in L1" and scripts/kvm-in-l1.py runs
# them in the L1 host (Debian's kernel).
import json
import re
import os
import pathlib
import shutil
import subprocess
import tempfile
import uuid

import pytest

from conftest import BUILD


def sh(*cmd, check=True, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60, **kw)
    if check and p.returncode:
        raise AssertionError(f"{cmd}: {p.stdout}{p.stderr}")
    return p


class Ns:
    def __init__(self, tmp):
        self.name = f"vsc-{uuid.uuid4().hex[:8]}"
        self.state = tmp / "state"
        self.state.mkdir(mode=0o700)
        sh("ip", "netns", "add", self.name)
        sh("ip", "-n", self.name, "link", "set", "lo", "up")

    def vessel(self, *args, check=True):
        return sh("ip", "netns", "exec", self.name, "env", f"VESSEL_STATE_DIR={self.state}",
                  BUILD / "vessel", *args, check=check)

    def fails(self, *args):
        """A refused command: exit 1 and exactly one line on stderr."""
        r = self.vessel(*args, check=False)
        lines = r.stderr.strip().splitlines()
        assert r.returncode != 0 and len(lines) == 1, (args, r.stdout, r.stderr)
        return lines[0]

    def links(self):
        return {link["ifname"]: link for link in
                json.loads(sh("ip", "-n", self.name, "-d", "-j", "link", "show").stdout)}

    def close(self):
        for net in ("lan", "vl", "ov", "flat"):
            self.vessel("net", "destroy", net, check=False)
        sh("ip", "netns", "del", self.name, check=False)


@pytest.fixture
def ns(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root for a network namespace")
    n = Ns(tmp_path)
    yield n
    n.close()


def vlan_filtering_why(ns):
    r = sh("ip", "-n", ns.name, "link", "add", "vsprobe", "type", "bridge", "vlan_filtering",
           "1", check=False)
    sh("ip", "-n", ns.name, "link", "del", "vsprobe", check=False)
    return None if r.returncode == 0 else (r.stderr.strip() or "refused")


def dnsmasq_alive(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip() == "dnsmasq"
    except OSError:
        return False


def test_network_with_dhcp_lives_and_dies(ns):
    """create builds the bridge with its address and a dnsmasq for the range;
    stop tears both down and keeps the definition; start builds them again;
    destroy leaves nothing behind."""
    out = ns.vessel("net", "create", "lan", "--address", "10.77.0.1/24",
                    "--dhcp", "10.77.0.100,10.77.0.150").stdout
    assert "vbr-lan" in out
    br = ns.links()["vbr-lan"]
    assert br["linkinfo"]["info_kind"] == "bridge" and "UP" in br["flags"], br
    addrs = sh("ip", "-n", ns.name, "-j", "addr", "show", "vbr-lan").stdout
    assert "10.77.0.1" in addrs
    info = ns.vessel("net", "info", "lan").stdout
    assert "address: 10.77.0.1/24" in info and "state: active" in info, info
    pid = int(info.split("dnsmasq pid ")[1].split(",")[0])
    assert dnsmasq_alive(pid)
    listing = ns.vessel("net", "list").stdout
    assert "lan" in listing and "active" in listing and "10.77.0.100-10.77.0.150" in listing
    j = json.loads(ns.vessel("net", "info", "lan", "--json").stdout)
    assert j["bridge"] == "vbr-lan" and j["state"] == "active" and j["backend"] == "linux", j
    assert j["address"] == "10.77.0.1/24" and j["dhcp"]["dnsmasq_pid"] == pid, j
    assert (j["dhcp"]["start"], j["dhcp"]["end"]) == ("10.77.0.100", "10.77.0.150"), j
    assert j["vxlan"] is None and j["portgroups"] == [] and isinstance(j["ports"], list), j
    (row,) = json.loads(ns.vessel("net", "list", "--json").stdout)
    assert row["name"] == "lan" and "ports" not in row and row["dhcp"] == j["dhcp"], row

    ns.vessel("net", "stop", "lan")
    assert "vbr-lan" not in ns.links()
    assert not dnsmasq_alive(pid)
    assert "inactive" in ns.vessel("net", "list").stdout
    j = json.loads(ns.vessel("net", "info", "lan", "--json").stdout)
    assert j["state"] == "inactive" and j["dhcp"]["dnsmasq_pid"] is None, j
    ns.vessel("net", "start", "lan")
    assert "vbr-lan" in ns.links()
    info = ns.vessel("net", "info", "lan").stdout
    assert dnsmasq_alive(int(info.split("dnsmasq pid ")[1].split(",")[0]))

    ns.vessel("net", "destroy", "lan")
    assert "vbr-lan" not in ns.links()
    assert "lan" not in ns.vessel("net", "list").stdout
    assert ns.fails("net", "info", "lan") == \
        "vessel: network 'lan' is not defined (vessel net list)"
    assert not list((ns.state / "lib" / "networks").glob("*.json"))


def test_vxlan_port_and_uplink(ns):
    """--vxlan makes a VXLAN endpoint with the VNI, the remote and the
    underlay, as a port of the bridge; --uplink enslaves a host link and
    destroy only releases it."""
    sh("ip", "-n", ns.name, "link", "add", "up0", "type", "veth", "peer", "name", "up1")
    sh("ip", "-n", ns.name, "addr", "add", "10.99.0.1/24", "dev", "up1")
    sh("ip", "-n", ns.name, "link", "set", "up1", "up")
    r = ns.vessel("net", "create", "ov", "--vxlan", "4242", "--remote", "10.99.0.2",
                  "--dev", "up1", "--uplink", "up0", check=False)
    if r.returncode and "vxlan" in r.stderr and "not supported" in r.stderr:
        pytest.skip(f"this kernel has no vxlan ({r.stderr.strip()}); runs in L1")
    assert r.returncode == 0, r.stderr
    links = ns.links()
    vx = links["vx-ov"]
    assert vx["linkinfo"]["info_kind"] == "vxlan", vx
    data = vx["linkinfo"]["info_data"]
    assert data["id"] == 4242 and data["remote"] == "10.99.0.2" and data["port"] == 4789, data
    assert vx.get("master") == "vbr-ov" and links["up0"].get("master") == "vbr-ov"
    assert "vxlan: vni 4242 remote 10.99.0.2 dev up1 port 4789" in \
        ns.vessel("net", "info", "ov").stdout
    j = json.loads(ns.vessel("net", "info", "ov", "--json").stdout)
    assert j["vxlan"] == {"vni": 4242, "remote": "10.99.0.2", "dev": "up1", "port": 4789}, j
    assert j["uplink"] == "up0" and sorted(j["ports"]) == ["up0", "vx-ov"], j
    ns.vessel("net", "destroy", "ov")
    links = ns.links()
    assert "vx-ov" not in links and "vbr-ov" not in links
    assert "up0" in links and "master" not in links["up0"]


def test_portgroups_and_vlan_filtering(ns):
    """Port groups live in the definition; they need a VLAN-filtering bridge."""
    why = vlan_filtering_why(ns)
    if why:
        pytest.skip(f"needs bridge VLAN filtering ({why}); runs in L1")
    ns.vessel("net", "create", "vl", "--vlan-filtering")
    assert ns.links()["vbr-vl"]["linkinfo"]["info_data"]["vlan_filtering"] == 1
    ns.vessel("net", "portgroup", "add", "vl", "v10", "--vlan", "10")
    ns.vessel("net", "portgroup", "add", "vl", "tr", "--trunk", "10,20-22")
    info = ns.vessel("net", "info", "vl").stdout
    assert "portgroup v10: vlan 10 trunk -" in info, info
    assert "portgroup tr: vlan 0 trunk 10:20-22" in info, info
    j = json.loads(ns.vessel("net", "info", "vl", "--json").stdout)
    assert j["vlan_filtering"] is True and j["portgroups"] == [
        {"name": "v10", "vlan": 10, "trunk": None},
        {"name": "tr", "vlan": None, "trunk": "10:20-22"}], j
    assert "already has port group 'v10'" in ns.fails("net", "portgroup", "add", "vl", "v10",
                                                       "--vlan", "11")
    ns.vessel("net", "portgroup", "remove", "vl", "v10")
    assert "v10" not in ns.vessel("net", "info", "vl").stdout
    d = json.loads((ns.state / "lib" / "networks" / "vl.json").read_text())
    assert d["portgroups"] == [{"name": "tr", "trunk": "10:20-22"}], d


def test_mistakes_are_one_line(ns, guests_dir):
    """Each mistake is refused before anything is built, in one line; a VM
    naming a network that is missing, inactive or lacks the port group does
    not start."""
    cases = [
        (["net", "create", "bad.name"], "is not a network name"),
        (["net", "create", "waytoolongname"], "is not a network name"),
        (["net", "create", "x", "--dhcp", "10.0.0.5,10.0.0.9"], "--dhcp needs --address"),
        (["net", "create", "x", "--address", "10.0.0.0/24"], "network or broadcast address"),
        (["net", "create", "x", "--address", "10.0.0.1/24", "--dhcp", "10.1.0.5,10.1.0.9"],
         "not in the subnet"),
        (["net", "create", "x", "--address", "10.0.0.7/24", "--dhcp", "10.0.0.5,10.0.0.9"],
         "holds the network's own address"),
        (["net", "create", "x", "--vxlan", "5"], "needs --remote IP or --group IP"),
        (["net", "create", "x", "--vxlan", "5", "--group", "10.0.0.2"],
         "is not a multicast address"),
        (["net", "create", "x", "--remote", "10.0.0.2"], "need --vxlan VNI"),
        (["net", "create", "x", "--vxlan", "99999999", "--remote", "10.0.0.2"], "1..16777215"),
        (["net", "create", "x", "--bogus"], "unknown option"),
        (["net", "frob"], "unknown command"),
        (["net", "portgroup", "add", "nope", "p", "--vlan", "5"], "is not defined"),
        (["net", "portgroup", "add", "nope", "p", "--trunk", "5-1"], "not a list of VLAN"),
        (["run", "--kernel", guests_dir / "spin.elf", "--net", "network=nope"],
         "nets[0]: network 'nope' is not defined"),
        (["run", "--kernel", guests_dir / "spin.elf", "--net", "network=flat,bridge=b"],
         "exclude each other"),
        (["run", "--kernel", guests_dir / "spin.elf", "--net", "ovs=sw,bridge=b"],
         "exclude each other"),
        (["run", "--kernel", guests_dir / "spin.elf", "--net", "ovs=-x"],
         "is not a bridge name"),
        (["net", "create", "x", "--ovs", "-x"], "is not an interface name"),
    ]
    for args, msg in cases:
        assert msg in ns.fails(*args), args
    assert "vbr-x" not in ns.links()
    ns.vessel("net", "create", "flat")
    assert "already defined" in ns.fails("net", "create", "flat")
    assert "no --vlan-filtering" in ns.fails("net", "portgroup", "add", "flat", "p",
                                             "--vlan", "5")
    assert "has no port group 'zz'" in ns.fails(
        "run", "--kernel", guests_dir / "spin.elf", "--net", "network=flat,portgroup=zz")
    ns.vessel("net", "stop", "flat")
    assert "is not active (vessel net start flat)" in ns.fails(
        "run", "--kernel", guests_dir / "spin.elf", "--net", "network=flat")
    # vessel start says the same before any VMM runs.
    cfg = ns.state / "vm.json"
    cfg.write_text(json.dumps({"kernel": str(guests_dir / "spin.elf"), "memory": "64M",
                               "nets": [{"network": "flat"}]}))
    ns.vessel("define", "vm1", "--config", cfg)
    line = ns.fails("start", "vm1")
    assert "cannot start 'vm1'" in line and "is not active" in line, line
    ns.vessel("undefine", "vm1")


def test_without_cap_net_admin_the_error_says_so(ns):
    """A user without CAP_NET_ADMIN gets one line naming it, and nothing is
    defined."""
    if not os.path.exists("/usr/bin/setpriv"):
        pytest.skip("needs setpriv (util-linux)")
    # Not under tmp_path: pytest's directories are root's, 0700.
    state = pathlib.Path(tempfile.mkdtemp(prefix="vessel-nobody-"))
    os.chown(state, 65534, 65534)
    r = sh("ip", "netns", "exec", ns.name, "setpriv", "--reuid=65534", "--regid=65534",
           "--clear-groups", "env", f"VESSEL_STATE_DIR={state}", BUILD / "vessel", "net",
           "create", "lan", check=False)
    defined = list(state.glob("lib/networks/*.json"))
    shutil.rmtree(state)
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0 and len(lines) == 1, r.stderr
    assert "needs CAP_NET_ADMIN" in lines[0] and "vbr-lan" in lines[0], lines
    assert not defined


@pytest.fixture
def ovs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root for Open vSwitch")
    from ovs_helpers import Ovs
    o = Ovs(tmp_path)
    yield o
    o.close()


def test_ovs_network_on_an_existing_bridge(ovs, tmp_path):
    """`net create NAME --ovs BR` defines a network on an Open vSwitch
    bridge that must exist; it is VLAN-aware without --vlan-filtering, and
    stop and destroy leave OVS's bridge alone.  Mistakes are one line."""
    br = f"vso{uuid.uuid4().hex[:6]}"
    state = tmp_path / "vstate"
    state.mkdir(mode=0o700)
    env = dict(ovs.env, VESSEL_STATE_DIR=str(state))

    def vessel(*args, check=True):
        return sh(BUILD / "vessel", *args, check=check, env=env)

    def fails(*args):
        r = vessel(*args, check=False)
        lines = r.stderr.strip().splitlines()
        assert r.returncode != 0 and len(lines) == 1, (args, r.stdout, r.stderr)
        return lines[0]

    assert f"OVS bridge {br} does not exist (ovs-vsctl add-br {br})" in fails(
        "net", "create", "ov", "--ovs", br)
    ovs.add_br(br)
    assert "--vlan-filtering, --uplink, --address, --dhcp and --vxlan" in fails(
        "net", "create", "ov", "--ovs", br, "--address", "10.0.0.1/24")
    assert "give one of them" in fails("net", "create", "ov", "--ovs", br, "--bridge", "b")
    assert "Open vSwitch bridge" in vessel("net", "create", "ov", "--ovs", br).stdout
    vessel("net", "portgroup", "add", "ov", "v10", "--vlan", "10")
    vessel("net", "portgroup", "add", "ov", "tr", "--vlan", "5", "--trunk", "10,20-22")
    info = vessel("net", "info", "ov").stdout
    assert "backend: openvswitch" in info and "state: active" in info, info
    assert "portgroup tr: vlan 5 trunk 10:20-22" in info, info
    listed = vessel("net", "list").stdout
    assert re.search(rf"^ov +{br} +active .*\(Open vSwitch\)", listed, re.M), listed
    d = json.loads((state / "lib" / "networks" / "ov.json").read_text())
    assert d["backend"] == "ovs" and d["bridge"] == br, d
    vessel("net", "stop", "ov")
    vessel("net", "destroy", "ov")
    assert ovs.vsctl("br-exists", br, check=False).returncode == 0
    assert not (state / "lib" / "networks" / "ov.json").exists()
    # Where OVS's database cannot be reached, the reason is OVS's own, in one line.
    vessel("net", "create", "ov", "--ovs", br)
    env["OVS_RUNDIR"] = str(tmp_path / "no-ovs-here")
    line = fails("net", "start", "ov")
    assert f"network 'ov': OVS bridge {br}: " in line and "database connection failed" in line, \
        line
