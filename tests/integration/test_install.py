# `make install` (Makefile, scripts/mkman.py, scripts/vessel-completion.bash):
# the binary, a manual page per command that man(1) renders without a
# warning and that says what `vessel CMD --help` says, bash completion that
# reads vessel itself, and `make uninstall`.  Installed under a DESTDIR, so
# the host is left as it was.
import os
import pathlib
import re
import subprocess

from conftest import BUILD
from mgmt_helpers import Manager

ROOT = pathlib.Path(__file__).resolve().parents[2]


def make(*args):
    r = subprocess.run(["make", "-C", ROOT, f"BUILD={BUILD}", *args], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return r


def commands():
    out = subprocess.run([BUILD / "vessel", "--help"], capture_output=True, text=True).stdout
    lines = out.split("commands:\n")[1].split("\n\n")[0].splitlines()
    return [line.split()[0] for line in lines]


def man(mandir, page):
    env = dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="0")
    r = subprocess.run(["man", "--warnings", "-M", mandir, "-P", "cat", "-E", "UTF-8", page],
                       capture_output=True, text=True, env=env, timeout=60)
    # Plain text: no overstrike (bold, underline), ASCII hyphens.
    r.stdout = re.sub(r".\x08", "", r.stdout).replace("\u2010", "-")
    return r


def test_make_install_gives_man_pages_and_completion(tmp_path):
    dest = tmp_path / "root"
    make("install", f"DESTDIR={dest}", "PREFIX=/usr")
    exe = dest / "usr/bin/vessel"
    r = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("vessel "), r
    mandir = dest / "usr/share/man"
    cmds = commands()
    assert {"run", "img", "start", "dumpconfig", "net"} <= set(cmds), cmds
    r = man(mandir, "vessel")
    assert r.returncode == 0 and not r.stderr, r.stderr
    for c in cmds:
        assert f"vessel-{c}(1)" in r.stdout, (c, r.stdout[:3000])
    for c in cmds:
        r = man(mandir, f"vessel-{c}")
        assert r.returncode == 0 and not r.stderr, (c, r.stderr)
        usage = subprocess.run([exe, c, "--help"], capture_output=True,
                               text=True).stdout.splitlines()[0]
        text = " ".join(r.stdout.split())
        assert " ".join(usage.split()) in text, (c, usage, text[:1500])
    # img's page has every verb's options, as their --help has them.
    text = man(mandir, "vessel-img").stdout
    for verb in ["create", "snapshot", "commit", "rebase", "resize", "compare"]:
        assert f"usage: vessel img {verb}" in text, verb

    # The boot-time unit runs the installed binary.
    unit = (dest / "usr/lib/systemd/system/vessel-autostart.service").read_text()
    assert "\nExecStart=/usr/bin/vessel autostart --boot\n" in unit, unit
    assert "\nKillMode=process\n" in unit and "\nWantedBy=multi-user.target\n" in unit, unit
    assert "@" not in unit, unit

    comp = dest / "usr/share/bash-completion/completions/vessel"
    state = tmp_path / "st"
    state.mkdir()
    Manager(exe, state, "/nonexistent").define("webvm")
    script = f"""
source {comp}
t() {{ COMP_WORDS=("$@"); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); COMPREPLY=(); _vessel;
      echo "${{COMPREPLY[*]}}"; }}
t vessel sta
t vessel img re
t vessel net p
t vessel info we
t vessel list --j
t vessel -q dump
"""
    env = dict(os.environ, VESSEL_STATE_DIR=str(state), PATH=f"{exe.parent}:{os.environ['PATH']}")
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 0 and not r.stderr, r.stderr
    assert r.stdout.splitlines() == ["start", "rebase resize", "portgroup", "webvm", "--json",
                                     "dumpconfig"], r.stdout

    make("uninstall", f"DESTDIR={dest}", "PREFIX=/usr")
    left = [p for p in dest.rglob("*") if p.is_file()]
    assert left == [], left
