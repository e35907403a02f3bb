# The docs cannot drift from the program: every `--help` of every command
# and verb works; every synopsis in README.md and docs/*.md is the usage
# line its `--help` prints; and every documented example command runs as
# written, with no usage error.  The examples run in a throwaway network
# and mount namespace (their bridges, taps and dnsmasq die with it), with
# a private state directory; no KVM is needed (a VM that cannot start
# fails with its reason, which is fine: only the command line is judged).
import os
import pathlib
import re
import shlex
import subprocess

import pytest

from conftest import BUILD

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
EXE = BUILD / "vessel"


def code_lines():
    """(file, line number, text) of each shell line in a fenced or
    indented code block; backslash and indented continuations joined."""
    out = []
    for f in DOCS:
        lines = f.read_text().splitlines()
        fenced = False
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            if line.strip().startswith("```"):
                fenced = not fenced
                continue
            if not fenced and not line.startswith("    "):
                continue
            text, start = line.strip(), i
            # "cmd \" or a synopsis whose options go on, indented deeper
            indent = len(line) - len(line.lstrip())
            while i < len(lines) and (text.endswith("\\") or (
                    text.startswith("vessel ") and "[" in text and lines[i].strip() and
                    len(lines[i]) - len(lines[i].lstrip()) > indent + 4 and
                    not lines[i].strip().startswith("vessel "))):
                text = text.rstrip("\\").rstrip() + " " + lines[i].strip()
                i += 1
            text = re.sub(r"^[$#] ", "", text)
            out.append((f.relative_to(ROOT), start, text))
    return out


def vessel_lines():
    return [(f, n, t) for f, n, t in code_lines() if t.startswith("vessel ")]


def synopsis(text):
    return "[" in text or " | FILE" in text


def run(*args, **kw):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, **kw)


def words_after(text, header):
    """The first words of the indented lines under "HEADER:"."""
    out, on = [], False
    for line in text.splitlines():
        if line.startswith(header + ":"):
            on = True
        elif on and re.match(r"^  [a-z]", line):
            out.append(line.split()[0])
        elif on and out and not line.strip():
            break
    return out


def every_command():
    top = run("--help").stdout
    cmds = [[c] for c in words_after(top, "commands")]
    cmds += [["img", v] for v in words_after(run("img", "--help").stdout, "verbs")]
    # net's usage lists its commands after the first line, with no header
    net = run("net", "--help").stdout.split("\n", 1)[1]
    cmds += [["net", v] for v in dict.fromkeys(re.findall(r"^  ([a-z]+) ", net, re.M))]
    return cmds


def test_every_help_prints_its_usage():
    cmds = every_command()
    assert len(cmds) > 40 and ["img", "measure"] in cmds and ["net", "create"] in cmds, cmds
    for c in cmds:
        r = run(*c, "--help")
        assert r.returncode == 0 and not r.stderr, (c, r.returncode, r.stderr)
        assert r.stdout.startswith("usage: vessel " + " ".join(c)), (c, r.stdout[:200])


def usage_of(words):
    """The usage line (and its continuations) that `vessel WORDS --help` prints."""
    r = run(*words, "--help")
    text = r.stdout.split("\n\n")[0]
    lines = [l.strip() for l in text.splitlines()]
    # continuation lines of a long usage are indented; "(...)" notes are not usage
    usage = " ".join(l for l in lines if not l.startswith("("))
    return " ".join(usage.removeprefix("usage: ").split())


def test_documented_synopses_are_the_help():
    seen = 0
    for f, n, text in vessel_lines():
        if not synopsis(text):
            continue
        words = text.split()[1:3] if text.split()[1] in ("img", "net") else text.split()[1:2]
        want = " ".join(text.split())
        assert usage_of(words) == want, f"{f}:{n}: the docs say\n  {want}\n--help says\n  " \
                                        f"{usage_of(words)}"
        seen += 1
    assert seen >= 12, seen


def example_commands():
    """Each documented example as argv lists: `a | b`, `a && b`, `> file`
    and comments split off; README's compact `vessel list --all | info web`
    means `vessel info web` too."""
    out = []
    for f, n, text in vessel_lines():
        if synopsis(text) or "..." in text:
            continue
        lex = shlex.shlex(text, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        lex.commenters = "#"
        words, cmd, redirect = list(lex), [], False
        for w in words + ["&&"]:
            if w in ("|", "&&", ";"):
                if cmd:
                    out.append((f, n, cmd if cmd[0] == "vessel" else ["vessel"] + cmd))
                cmd = []
            elif w == ">":
                redirect = True
            elif redirect:
                redirect = False
            else:
                cmd.append(w)
    return out


FIXTURES = {
    # what the examples name: a definition, the idle test guest, files
    "web.json": lambda d: '{"kernel": "%s/bzImage", "memory": "2G"}' % d,
    "idle.json": lambda d: '{"kernel": "%s", "memory": "64M"}' % (
        BUILD / "tests/guests/mgmt/idle.elf"),
    "bzImage": lambda d: "not a kernel",
    "initrd.img": lambda d: "not an initrd",
}


def test_documented_examples_run_as_written(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the examples run in a network namespace of their own, which needs root")
    cmds = example_commands()
    assert len(cmds) >= 40, cmds
    work = tmp_path / "work"
    work.mkdir()
    for name, make in FIXTURES.items():
        (work / name).write_text(make(work))
    results = tmp_path / "results"
    results.mkdir()
    script = ["set -u", "ip link set lo up", "mount -t tmpfs tmpfs /run",
              f"cd {shlex.quote(str(work))}", "export EDITOR=true VISUAL="]
    for i, (_, _, argv) in enumerate(cmds):
        line = " ".join(shlex.quote(a) for a in [str(EXE)] + argv[1:])
        # a server (vhost-user-blk) or a console runs until killed: that is no error
        script.append(f"timeout -s KILL 10 {line} </dev/null >{results}/{i}.out "
                      f"2>{results}/{i}.err; echo $? >{results}/{i}.rc")
    # Whatever the examples left running (dnsmasq, a monitor) dies with the namespace.
    script.append('me=$(readlink /proc/self/ns/net); for p in /proc/[0-9]*; do '
                  '[ "$(readlink $p/ns/net 2>/dev/null)" = "$me" ] && '
                  '[ "${p#/proc/}" != $$ ] && [ "${p#/proc/}" != $PPID ] && '
                  'kill -9 "${p#/proc/}" 2>/dev/null; done; true')
    env = dict(os.environ, VESSEL_STATE_DIR=str(tmp_path / "state"))
    r = subprocess.run(["unshare", "--net", "--mount", "--fork", "bash", "-c",
                        "\n".join(script)], capture_output=True, text=True, env=env,
                       timeout=60 + 12 * len(cmds))
    assert r.returncode == 0, r.stderr
    bad = []
    for i, (f, n, argv) in enumerate(cmds):
        rc = int((results / f"{i}.rc").read_text())
        err = (results / f"{i}.err").read_text()
        # 2 is a malformed command line (README "Exit status"; vessel img keeps
        # qemu-img's statuses, where 2 and 3 mean other things); 137 a kill at 10 s
        malformed = re.search(r"usage:|invalid option|unrecognized option|unknown option|"
                              r"unexpected argument", err)
        if malformed or (argv[1] != "img" and rc not in (0, 1, 137)):
            bad.append(f"{f}:{n}: {shlex.join(argv)}: exit {rc}: {err.strip()}")
    assert not bad, "\n".join(bad)
