#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check that src/ keeps its layers: folders only include folders below them.

Reads every `#include "dir/file.h"` of the .c and .h files under src/, maps
each file to its folder (src/main.c is "main"), and fails on

  (a) a cycle between folders, and
  (b) an include that goes up (or sideways) the layer order of LAYERS:
      a folder may use the folders of lower tiers, plus its EXTRA ones.

Each violation is printed as `file: includes X (folder A may not use B)`.
There are no tolerated exceptions: the last ones went with issue 10.

Usage: check-layers.py [--src DIR]   (exit status 0 or 1)
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
    # (devices) and virtio-console use (docs/architecture.md, "Layers"), so below both.
    ["bus", "chardev"],
    # the firmware tables, boot loaders and the board's address and port
    # map (arch/x86/layout.h), which the PC platform devices implement
    ["arch/x86"],
    ["devices"],
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


def check(src):
    t = tiers()
    folders = list(t)
    violations = []
    edges = {}  # (A, B) -> first file that makes A use B
    for rel, inc in scan(src):
        a = folder_of(rel, folders)
        b = folder_of(inc, folders)
        if a == b:
            continue
        edges.setdefault((a, b), rel)
        if not may_use(a, b, t):
            violations.append(f"{rel}: includes {inc} (folder {a} may not use {b})")
    cycle = find_cycle(edges)
    if cycle:
        steps = [f"{x} -> {y} ({edges[(x, y)]})" for x, y in zip(cycle, cycle[1:])]
        violations.append("cycle between folders: " + ", ".join(steps))
    return violations


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default=os.path.join(os.path.dirname(__file__), "..", "src"))
    args = ap.parse_args()
    violations = check(args.src)
    for v in violations:
        print(v)
    if violations:
        print(f"check-layers: {len(violations)} violation(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
