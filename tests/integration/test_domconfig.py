# Read commands for scripts: list/info --json, dumpconfig, domblklist and
# domiflist on defined VMs (no KVM needed); the running side (--live, the
# MAC the guest sees, an unresponsive VMM) is in test_lifecycle.py and
# test_net_vms.py.
import json
import re
import os

from conftest import BUILD
from mgmt_helpers import Manager


def mgr_with(tmp_path):
    state = tmp_path / "st"
    state.mkdir()
    (tmp_path / "a.raw").write_bytes(b"\0" * 65536)
    (tmp_path / "b.raw").write_bytes(b"\0" * 65536)
    return Manager(BUILD / "vessel", state, "/nonexistent")


def define_web(m, tmp_path):
    m.define("web", cpus=3, memory="192M", disks=[
        {"path": str(tmp_path / "a.raw"), "serial": "root"},
        {"path": str(tmp_path / "b.raw"), "readonly": True}],
        nets=[{"bridge": "br0", "vlan": 10},
              {"ovs": "br-int", "trunk": "20,30-31", "mac": "52:54:00:aa:bb:cc", "vhost": True},
              {"network": "lan", "portgroup": "web"}])


def test_list_and_info_json(tmp_path):
    m = mgr_with(tmp_path)
    define_web(m, tmp_path)
    m.define("idle")
    r = m.run("list", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == [], r.stdout
    vms = {v["name"]: v for v in json.loads(m.run("list", "--all", "--json", check=True).stdout)}
    uuids = {n: vms[n].pop("uuid") for n in vms}
    assert vms["web"] == {"name": "web", "state": "shut off", "cpus": 3, "memory": 192 << 20,
                          "pid": None, "uptime_s": None, "persistent": True,
                          "autostart": False}, vms
    assert set(vms) == {"web", "idle"}
    # define gave each its own random (version 4) UUID
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", u)
               for u in uuids.values()) and uuids["web"] != uuids["idle"], uuids
    i = json.loads(m.run("info", "web", "--json", check=True).stdout)
    assert i["state"] == "shut off" and i["cpus"] == 3 and i["persistent"] is True, i
    assert i["uuid"] == uuids["web"] and i["autostart"] is False, i
    assert i["memory_backing"]["size"] == "192M" and i["cpu_policy"] == "shared", i
    assert [(d["target"], d["path"], d["format"], d["readonly"]) for d in i["disks"]] == [
        ("vda", str(tmp_path / "a.raw"), "raw", False),
        ("vdb", str(tmp_path / "b.raw"), "raw", True)], i["disks"]
    assert [n["source"] for n in i["nics"]] == [
        "bridge br0 vlan 10", "ovs br-int trunk 20,30-31", "network lan portgroup web"], i
    assert i["nics"][1]["mac"] == "52:54:00:aa:bb:cc" and i["nics"][1]["vhost"] is True
    assert i["definition"].endswith("/lib/web.json") and i["api_socket"] is None, i
    text = m.run("info", "web", check=True).stdout
    assert f"UUID:            {uuids['web']}" in text and "Autostart:       disable" in text
    assert "Persistent:      yes" in text and "Disks:           " + str(tmp_path / "a.raw") in text
    assert "NICs:            " + i["nics"][0]["mac"] + " on bridge br0 vlan 10" in text, text
    for args in [["info", "web", "--json", "x"], ["info", "--json"], ["list", "--jsn"]]:
        assert m.run(*args).returncode == 2, args


def test_a_corrupt_definition_is_shown_as_such(tmp_path):
    """Not 'shut off, 1 CPU, 256M' invented from defaults: 'invalid', no
    figures, and info says why; start refuses it in one line."""
    m = mgr_with(tmp_path)
    m.define("bad")
    (m.state / "lib" / "bad.json").write_text('{"cpus": 2, "memory": "12X"}\n')
    out = m.run("list", "--all", check=True).stdout.splitlines()
    (row,) = [line.split() for line in out[1:] if line.startswith("bad ")]
    assert row[:5] == ["bad", "invalid", "-", "-", "-"], out
    (v,) = json.loads(m.run("list", "--all", "--json", check=True).stdout)
    assert v["state"] == "invalid" and v["cpus"] is None and "12X" in v["error"], v
    r = m.run("info", "bad", check=True)
    assert "State:           invalid" in r.stdout and "(invalid: " in r.stdout, r.stdout
    assert "CPU(s):" not in r.stdout, r.stdout
    r = m.run("start", "bad")
    assert r.returncode == 1 and "12X" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    # A file copied from another VM's definition: start names the mismatch.
    m.define("other")
    (m.state / "lib" / "bad.json").write_text((m.state / "lib" / "other.json").read_text())
    r = m.run("start", "bad")
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "name: \"other\" does not match the VM name 'bad'" in r.stderr, r.stderr


def test_dumpconfig_is_a_definition_define_takes_back(tmp_path):
    m = mgr_with(tmp_path)
    define_web(m, tmp_path)
    first = m.run("dumpconfig", "web", check=True).stdout
    d = json.loads(first)
    assert d["name"] == "web" and d["cpus"]["count"] == 3 and "api_socket" not in d, d
    assert d["nets"][2] == {"network": "lan", "portgroup": "web", "queues": 1, "vhost": False}, d
    f = tmp_path / "dump.json"
    f.write_text(first)
    m.run("undefine", "web", check=True)
    m.run("define", "web", "--config", f, check=True)
    assert m.run("dumpconfig", "web", check=True).stdout == first
    # Under another name: the UUID is web's, refused until it is dropped
    # with the name, as virsh's <name> and <uuid>; the copy gets a new one.
    del d["name"]
    f.write_text(json.dumps(d))
    r = m.run("define", "copy", "--config", f)
    assert r.returncode == 1 and f"uuid: {d['uuid']} belongs to VM 'web'" in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) == 1 and m.run("dumpconfig", "copy").returncode == 1
    web_uuid = d.pop("uuid")
    f.write_text(json.dumps(d))
    m.run("define", "copy", "--config", f, check=True)
    again = json.loads(m.run("dumpconfig", "copy", check=True).stdout)
    copy_uuid = again.pop("uuid")
    assert again.pop("name") == "copy" and copy_uuid != web_uuid and again == d
    # A redefine keeps the VM's UUID when the file has none, refuses another.
    m.run("define", "copy", "--config", f, check=True)
    assert json.loads(m.run("dumpconfig", "copy", check=True).stdout)["uuid"] == copy_uuid
    d["uuid"] = "6F1D2C3B-0000-4000-8000-00000000000A"
    f.write_text(json.dumps(d))
    r = m.run("define", "copy", "--config", f)
    assert r.returncode == 1 and "VM 'copy' is defined with uuid" in r.stderr, r.stderr
    m.run("undefine", "copy", check=True)
    m.run("define", "copy", "--config", f, check=True)
    assert json.loads(m.run("dumpconfig", "copy", check=True).stdout)["uuid"] == \
        "6f1d2c3b-0000-4000-8000-00000000000a"
    d["uuid"] = "6f1d2c3b-0000-4000-8000"
    f.write_text(json.dumps(d))
    r = m.run("define", "bad", "--config", f)
    assert r.returncode == 1 and 'uuid: "6f1d2c3b-0000-4000-8000" is not a UUID' in r.stderr
    r = m.run("dumpconfig", "web", "--live")
    assert r.returncode == 1 and "'web' is not running" in r.stderr, r.stderr
    r = m.run("dumpconfig", "nope")
    assert r.returncode == 1 and "not defined" in r.stderr, r.stderr


def test_domblklist_and_domiflist(tmp_path):
    m = mgr_with(tmp_path)
    define_web(m, tmp_path)
    a, b = str(tmp_path / "a.raw"), str(tmp_path / "b.raw")
    out = m.run("domblklist", "web", check=True).stdout.splitlines()
    assert [line.split() for line in out] == [["Target", "Source"], ["vda", a], ["vdb", b]], out
    out = m.run("domblklist", "web", "--details", check=True).stdout.splitlines()
    assert [line.split() for line in out[1:]] == [["file", "vda", "raw", "read-write", a],
                                                  ["file", "vdb", "raw", "read-only", b]], out
    js = json.loads(m.run("domblklist", "web", "--json", check=True).stdout)
    assert js[0] == {"target": "vda", "source": a, "type": "file", "format": "raw",
                     "readonly": False, "serial": "root"}, js
    out = m.run("domiflist", "web", check=True).stdout.splitlines()
    rows = [line.split() for line in out[1:]]
    assert [r[:4] for r in rows] == [["0", "bridge", "br0", "virtio"],
                                     ["1", "ovs", "br-int", "virtio"],
                                     ["2", "network", "lan", "virtio"]], out
    assert rows[1][4:] == ["52:54:00:aa:bb:cc", "trunk", "20,30-31"] and rows[0][5] == "10", out
    js = json.loads(m.run("domiflist", "web", "--json", check=True).stdout)
    assert js[0]["mac"].startswith("52:54:00:") and js[0]["vlan"] == 10, js
    assert js[2]["portgroup"] == "web" and js[1]["vhost"] is True and js[1]["trunk"] == "20,30-31"
    # The default MAC is stable for a name and index, and differs between them.
    m.define("web2", nets=[{"bridge": "br0"}])
    (other,) = json.loads(m.run("domiflist", "web2", "--json", check=True).stdout)
    assert other["mac"] != js[0]["mac"]
    assert json.loads(m.run("domiflist", "web", "--json").stdout)[0]["mac"] == js[0]["mac"]
    m.define("bare")
    assert m.run("domblklist", "bare", check=True).stdout == "Target   Source\n"
    assert json.loads(m.run("domiflist", "bare", "--json", check=True).stdout) == []
    for args in [["domblklist"], ["domblklist", "web", "--bogus"], ["domiflist", "a", "b"]]:
        assert m.run(*args).returncode == 2, args


def editor(tmp_path, name, body):
    """An $EDITOR: a Python script run on the file (as `EDITOR FILE`)."""
    script = tmp_path / f"{name}.py"
    script.write_text("import json, sys\npath = sys.argv[1]\n" + body)
    return f"python3 '{script}'"


def test_edit_is_checked_before_it_is_saved(tmp_path):
    """vessel edit NAME, as virsh edit: $EDITOR on the definition; what
    comes back is saved only if define would take it."""
    m = mgr_with(tmp_path)
    define_web(m, tmp_path)
    first = m.run("dumpconfig", "web", check=True).stdout

    def edit(body, name="e", **env):
        m.env.update(EDITOR=editor(tmp_path, name, body), VISUAL="", **env)
        return m.run("edit", "web")

    # Untouched: nothing saved, exit 0.
    r = edit("pass\n")
    assert r.returncode == 0 and "not changed" in r.stdout, r.stdout + r.stderr
    # A valid change is saved; a relative path is taken from where the
    # user is (vessel's working directory), not from the temporary file.
    r = edit("d = json.load(open(path))\nd['cpus']['count'] = 2\n"
             "d['disks'][1]['path'] = 'b.raw'\njson.dump(d, open(path, 'w'))\n", name="ok")
    assert r.returncode == 0 and "edited" in r.stdout, r.stdout + r.stderr
    d = json.loads(m.run("dumpconfig", "web", check=True).stdout)
    assert d["cpus"]["count"] == 2 and d["disks"][1]["path"] == os.path.join(os.getcwd(), "b.raw"), d
    saved = m.run("dumpconfig", "web", check=True).stdout
    assert saved != first
    # Refused with one line each, and the definition stays as it was:
    # broken JSON, a value define refuses, a rename, a failing editor.
    for body, needle in (
            ("open(path, 'w').write('{garbage')\n", "the edited definition: invalid JSON"),
            ("d = json.load(open(path))\nd['cpus']['count'] = 0\njson.dump(d, open(path, 'w'))\n",
             "the edited definition: cpus"),
            ("d = json.load(open(path))\nd['name'] = 'other'\njson.dump(d, open(path, 'w'))\n",
             "does not match the VM name 'web'"),
            ("d = json.load(open(path))\nd['uuid'] = '00000000-0000-4000-8000-000000000000'\n"
             "json.dump(d, open(path, 'w'))\n", "VM 'web' is defined with uuid"),
            ("sys.exit(3)\n", "the editor failed (status 3)")):
        r = edit(body, name="bad")
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and needle in r.stderr, \
            (body, r.stderr)
        assert m.run("dumpconfig", "web", check=True).stdout == saved
    # Someone else changes the definition while it is being edited.
    other = tmp_path / "other.json"
    d["cpus"]["count"] = 4
    other.write_text(json.dumps(d))
    r = edit(f"import subprocess\nsubprocess.run(['{m.exe}', 'define', 'web', '--config', "
             f"'{other}'], check=True, stdout=subprocess.DEVNULL)\n"
             "d = json.load(open(path))\nd['cpus']['count'] = 3\njson.dump(d, open(path, 'w'))\n",
             name="race")
    assert r.returncode == 1 and "changed while it was being edited" in r.stderr, r.stderr
    assert json.loads(m.run("dumpconfig", "web", check=True).stdout)["cpus"]["count"] == 4
    # $VISUAL wins over $EDITOR; no temporary file is left behind.
    m.env.update(VISUAL="false", TMPDIR=str(tmp_path / "t"))
    (tmp_path / "t").mkdir()
    assert m.run("edit", "web").returncode == 1
    assert list((tmp_path / "t").iterdir()) == []
    r = m.run("edit", "nope")
    assert r.returncode == 1 and "not defined" in r.stderr, r.stderr
    assert m.run("edit").returncode == 2


def test_autostart_marks_are_kept_and_listed(tmp_path):
    """vessel autostart NAME [--disable], --list; info and list show it;
    undefine drops the mark (as virsh undefine drops autostart/NAME.xml)."""
    m = mgr_with(tmp_path)
    define_web(m, tmp_path)
    m.define("idle")
    assert m.run("autostart", "--list", check=True).stdout == ""
    r = m.run("autostart", "web", check=True)
    assert "VM 'web' marked as autostarted" in r.stdout
    m.run("autostart", "web", check=True)  # again: still marked, no error
    assert m.run("autostart", "--list", check=True).stdout == "web\n"
    assert "Autostart:       enable" in m.run("info", "web", check=True).stdout
    vms = {v["name"]: v for v in json.loads(m.run("list", "--all", "--json", check=True).stdout)}
    assert vms["web"]["autostart"] is True and vms["idle"]["autostart"] is False, vms
    # dumpconfig carries no host policy: the mark is not in the definition
    assert "autostart" not in json.loads(m.run("dumpconfig", "web", check=True).stdout)
    m.run("autostart", "idle", check=True)
    assert m.run("autostart", "--list", check=True).stdout == "idle\nweb\n"
    m.run("autostart", "--disable", "idle", check=True)
    assert m.run("autostart", "--list", check=True).stdout == "web\n"
    m.run("undefine", "web", check=True)
    define_web(m, tmp_path)
    assert m.run("autostart", "--list", check=True).stdout == ""
    r = m.run("autostart", "nope")
    assert r.returncode == 1 and r.stderr == "vessel: VM 'nope' is not defined\n", r.stderr
    for args in (["autostart"], ["autostart", "--disable"], ["autostart", "a", "b"],
                 ["autostart", "--boot", "web"], ["autostart", "--list", "--boot"]):
        r = m.run(*args)
        assert r.returncode == 2 and "usage: vessel autostart" in r.stderr, (args, r.stderr)
