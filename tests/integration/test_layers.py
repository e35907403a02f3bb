# The layering of src/ (scripts/check-layers.py): no cycle between folders,
# no include up (or sideways) the layer order; and the check itself
# fails on a fake tree that breaks either rule.
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check-layers.py"


def check(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, timeout=60)


def tree(tmp_path, files):
    src = tmp_path / "src"
    for name, includes in files.items():
        p = src / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("".join(f'#include "{i}"\n' for i in includes) + "#include <stdio.h>\n")
    return str(src)


def test_src_keeps_its_layers():
    r = check()
    assert r.returncode == 0, r.stdout + r.stderr


def test_good_tree_passes(tmp_path):
    src = tree(tmp_path, {
        "util/a.h": [],
        "block/b.c": ["util/a.h", "block/b.h"],
        "virtio/blk.c": ["block/b.h", "util/a.h"],
        "vm/vm.c": ["virtio/v.h", "arch/x86/x86.h"],
        "main.c": ["cli/cli.h"],
    })
    r = check("--src", src)
    assert r.returncode == 0, r.stdout + r.stderr


def test_cycle_fails(tmp_path):
    # vm -> devices is allowed, devices -> vm is not: one cycle, one upward include.
    src = tree(tmp_path, {
        "vm/vm.c": ["devices/d.h"],
        "devices/d.c": ["vm/vm.h"],
    })
    r = check("--src", src)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "devices/d.c: includes vm/vm.h (folder devices may not use vm)" in r.stdout
    assert "cycle between folders" in r.stdout and "vm -> devices" in r.stdout, r.stdout


def test_upward_include_fails(tmp_path):
    src = tree(tmp_path, {"block/b.c": ["virtio/virtio.h"], "mem/m.c": ["vm/config.h"]})
    r = check("--src", src)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert "block/b.c: includes virtio/virtio.h (folder block may not use virtio)" in lines
    assert "mem/m.c: includes vm/config.h (folder mem may not use vm)" in lines


def test_same_tier_only_where_extra_allows(tmp_path):
    # virtio may use net (its EXTRA); net may not use virtio, nor block net.
    src = tree(tmp_path, {
        "virtio/net.c": ["net/tap.h"],
        "net/tap.c": ["virtio/virtio.h"],
        "block/b.c": ["net/tap.h"],
    })
    r = check("--src", src)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert "virtio/net.c: includes net/tap.h" not in r.stdout
    assert "net/tap.c: includes virtio/virtio.h (folder net may not use virtio)" in lines
    assert "block/b.c: includes net/tap.h (folder block may not use net)" in lines
