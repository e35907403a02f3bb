# A private Open vSwitch for the tests (issue 12's OVS networks): its own
# ovsdb-server and ovs-vswitchd with their database, sockets and logs in a
# temporary directory (OVS_RUNDIR and friends, which ovs-vsctl, and so
# vessel, honour), so the host's OVS, if any, is never touched.  Bridges
# use the kernel datapath where the openvswitch module is loaded (the L1
# host) and OVS's userspace datapath elsewhere; close() deletes them
# before the daemons stop, so no interface is left behind.
import os
import subprocess
import time

SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"


class Ovs:
    def __init__(self, tmp):
        self.dir = tmp / "ovs"
        self.dir.mkdir()
        d = str(self.dir)
        self.env = dict(os.environ, OVS_RUNDIR=d, OVS_LOGDIR=d, OVS_DBDIR=d, OVS_SYSCONFDIR=d)
        self.bridges = []
        if not os.path.isdir("/sys/module/openvswitch"):
            subprocess.run(["modprobe", "openvswitch"], capture_output=True)
        self.datapath = "system" if os.path.isdir("/sys/module/openvswitch") else "netdev"
        self.run("ovsdb-tool", "create", self.dir / "conf.db", SCHEMA)
        self.run("ovsdb-server", self.dir / "conf.db", f"--remote=punix:{d}/db.sock",
                 "--pidfile", "--detach", "--log-file")
        self.vsctl("--no-wait", "init")
        self.run("ovs-vswitchd", "--pidfile", "--detach", "--log-file")

    def run(self, *cmd, check=True):
        p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60,
                           env=self.env)
        if check and p.returncode:
            raise AssertionError(f"{cmd}: rc={p.returncode}\n{p.stdout}{p.stderr}")
        return p

    def vsctl(self, *args, check=True):
        return self.run("ovs-vsctl", "--timeout=10", *args, check=check)

    def add_br(self, name):
        self.vsctl("add-br", name, "--", "set", "bridge", name,
                   f"datapath_type={self.datapath}")
        self.bridges.append(name)

    def ports(self, bridge):
        """{port: (tag, trunks, vlan_mode)} of the bridge's ports, as OVS
        has them (ovs-vsctl's own values: [] for none)."""
        out = {}
        for p in self.vsctl("list-ports", bridge).stdout.split():
            vals = self.vsctl("--columns=tag,trunks,vlan_mode", "--format=csv",
                              "--data=bare", "--no-headings", "list", "Port", p).stdout
            tag, trunks, mode = (vals.strip().split(",", 2) + ["", ""])[:3]
            out[p] = (tag, trunks.strip('"'), mode)
        return out

    def close(self):
        for b in self.bridges:
            self.vsctl("--if-exists", "del-br", b, check=False)
            # The userspace datapath's bridge is a tap the daemon owns.
            subprocess.run(["ip", "link", "del", b], capture_output=True)
        for daemon in ("ovs-vswitchd", "ovsdb-server"):
            self.run("ovs-appctl", "-t", daemon, "exit", check=False)
        time.sleep(0.2)
