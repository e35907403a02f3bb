#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check that src/ keeps its layers: folders only include folders below them.

Reads every `#include "dir/file.h"` of the .c and .h files under src/, maps
each file to its folder (src/main.c is "main"), and fails on

  (a) a cycle between folders, and
  (b) an include that goes up (or sideways) the layer order of LAYERS:
      a folder may use the folders of lower tiers, plus its EXTRA ones.

Each violation is printed as `file: includes X (folder A may not use B)`.
The includes in KNOWN are violations that exist today and are being
removed; they are tolerated (and left out of the cycle check), anything
else fails.  A KNOWN entry that no longer occurs is reported, not an
error, so that branches removing them need not touch this file.

Usage: check-layers.py [--src DIR] [--no-known]   (exit status 0 or 1)
"""
import argparse
import os
import re
import sys

# The intended order, from the bottom; one tier per line.  Folders of one
# tier are independent of each other.  A folder not listed here (a new one)
# may use nothing and be used by nothing until it is placed in this table.
LAYERS = [
    ["util"],
    ["kvm"],
    ["mem"],
    # chardev (future): stdio/pty/file/socket backends that the UART
    # (devices) and virtio-console use (DESIGN.md section 3), so below both.
    ["bus", "chardev"],
    ["arch/x86", "devices"],
    # block and net (taps, netlink, vhost-net) are host back-ends,
    # independent of virtio
    ["virtio", "block", "net"],
    ["vhost"],
    ["vm"],
    ["mgmt", "snapshot", "migration"],   # snapshot, migration: future
    ["api"],
    ["cli"],
    ["main"],
]

# Same-tier uses that are intended: the virtio-blk device model sits on the
# block layer (virtio/blk.c), virtio-net on net (virtio/net*.c).
EXTRA = {
    "virtio": {"block", "net"},
}

# ---- KNOWN: violations of today, being removed (the lead empties this) ----
# Each is (file, included header), both relative to src/.
KNOWN = {
    # arch/x86 still reads the VM configuration (struct vm_config) for the
    # kernel, initrd, command line and NUMA nodes: to be passed as plain
    # boot parameters.  The only known violation left after issue 10.
    ("arch/x86/acpi.c", "vm/config.h"),
    ("arch/x86/boot.c", "vm/config.h"),
    ("arch/x86/machine.c", "vm/config.h"),
    ("arch/x86/mptable.c", "vm/config.h"),
    # the serial console frontend still takes struct vm (its loop and the
    # component table): to take struct dev_host like the other devices
    ("devices/console.c", "vm/vm.h"),
    # devices use the x86 board's layout constants (same tier)
    ("devices/acpi_pm.c", "arch/x86/layout.h"),
    ("devices/legacy.c", "arch/x86/layout.h"),
    ("devices/pci.c", "arch/x86/acpi.h"),
    ("devices/pci.c", "arch/x86/layout.h"),
}
# ---- end of KNOWN ----------------------------------------------------------

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def tiers():
    t = {}
    for i, names in enumerate(LAYERS):
        for n in names:
            t[n] = i
    return t


def folder_of(rel, folders):
    """The folder a path (relative to src/) belongs to: the longest known prefix."""
    d = os.path.dirname(rel)
    if not d:
        return "main"
    best = None
    for f in folders:
        if d == f or d.startswith(f + "/"):
            if best is None or len(f) > len(best):
                best = f
    return best if best else d.split("/")[0]


def may_use(a, b, t):
    if a == b:
        return True
    if a not in t or b not in t:
        return False
    return t[b] < t[a] or b in EXTRA.get(a, ())


def scan(src):
    """Yield (file, included path) for every quoted include under src."""
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for inc in INCLUDE.findall(text):
                if "/" in inc:
                    yield rel, inc


def find_cycle(edges):
    """One cycle of the folder graph as a list [a, b, ..., a], or None."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    state = {}
    stack = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if not state.get(m):
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if not state.get(n):
            c = visit(n)
            if c:
                return c
    return None


def check(src, known):
    t = tiers()
    folders = list(t)
    violations = []
    edges = {}  # (A, B) -> first file that makes A use B
    seen_known = set()
    for rel, inc in scan(src):
        a = folder_of(rel, folders)
        b = folder_of(inc, folders)
        if a == b:
            continue
        if (rel, inc) in known:
            seen_known.add((rel, inc))
            continue
        edges.setdefault((a, b), rel)
        if not may_use(a, b, t):
            violations.append(f"{rel}: includes {inc} (folder {a} may not use {b})")
    cycle = find_cycle(edges)
    if cycle:
        steps = [f"{x} -> {y} ({edges[(x, y)]})" for x, y in zip(cycle, cycle[1:])]
        violations.append("cycle between folders: " + ", ".join(steps))
    return violations, sorted(known - seen_known)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=os.path.join(os.path.dirname(__file__), "..", "src"))
    ap.add_argument("--no-known", action="store_true",
                    help="tolerate nothing: report the KNOWN violations too")
    args = ap.parse_args()
    violations, stale = check(args.src, set() if args.no_known else KNOWN)
    for s in stale:
        print(f"note: KNOWN entry no longer occurs: {s[0]}: includes {s[1]}")
    for v in violations:
        print(v)
    if violations:
        print(f"check-layers: {len(violations)} violation(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
