#!/usr/bin/env python3
"""Write vessel's manual pages from its own help texts.

usage: scripts/mkman.py VESSEL OUTDIR

One source: `vessel --help` lists the commands, and `vessel CMD --help`
(for img and net, each verb's too) is the text of each page, so a page
cannot say other than the program does.  Writes OUTDIR/vessel.1 (the
overview, exit statuses, environment and files) and OUTDIR/vessel-CMD.1
for each command.  `make install` installs them; tests/integration/
test_install.py renders each with man(1) and checks it against --help.
"""
import datetime
import pathlib
import re
import subprocess
import sys

SOURCE_DATE = datetime.date(2026, 12, 1).strftime("%B %Y")


def helptext(vessel, *args):
    r = subprocess.run([vessel, *args, "--help"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or not r.stdout.strip():
        raise SystemExit(f"mkman: vessel {' '.join(args)} --help failed: {r.stderr.strip()}")
    return r.stdout.rstrip("\n")


def esc(line):
    """A text line as roff: backslashes, and a leading . or ' kept literal."""
    line = line.replace("\\", "\\e")
    return "\\&" + line if line[:1] in (".", "'") else line


def verbatim(text):
    return ".nf\n" + "\n".join(esc(line) for line in text.splitlines()) + "\n.fi\n"


def commands(top):
    """(name, summary) from `vessel --help`'s command list."""
    out, inside = [], False
    for line in top.splitlines():
        if line.startswith("commands:"):
            inside = True
        elif inside and re.match(r"^  \S", line):
            name, summary = line.strip().split(None, 1)
            out.append((name, summary.strip()))
        elif inside and not line.strip() and out:
            break
    return out


def verbs(text, header):
    """The verbs listed under `header:` in a group's help (img, net)."""
    out, inside = [], False
    for line in text.splitlines():
        if line.strip().startswith(header):
            inside = True
        elif inside and re.match(r"^  [a-z]", line):
            out.append(line.split()[0])
        elif inside and out and not line.strip():
            break
    return out


EXIT = """\
.SH EXIT STATUS
.TP
.B 0
done
.TP
.B 1
the operation failed: an undefined or stopped VM, a refused change, a failed system call
.TP
.B 2
the command line is malformed: a missing or extra argument, an unknown option
.PP
Every failure is one line on standard error, starting with \\fBvessel:\\fR.
\\fBvessel run\\fR, \\fBvessel img\\fR (qemu-img's statuses) and \\fBvessel numastat\\fR
(3: a guest node is split or remote) add their own; see their pages.
"""


def page(name, section_title, summary, body, see):
    head = (f'.TH {name.upper()} 1 "{SOURCE_DATE}" "vessel" "{section_title}"\n'
            f".SH NAME\n{name} \\- {esc(summary)}\n")
    return head + body + ".SH SEE ALSO\n" + ",\n".join(f".BR {s} (1)" for s in see) + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    vessel, out = sys.argv[1], pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    top = helptext(vessel)
    cmds = commands(top)
    if len(cmds) < 10:
        sys.exit(f"mkman: found only {len(cmds)} commands in 'vessel --help'")
    listing = "".join(f".TP\n.BR vessel\\-{n} (1)\n{esc(s)}\n" for n, s in cmds)
    overview = (
        ".SH SYNOPSIS\n.B vessel\n[\\fB\\-v\\fR|\\fB\\-q\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR...]\n"
        ".SH DESCRIPTION\nvessel is a virtual machine monitor on Linux KVM and a daemonless\n"
        "manager of VMs: each running VM is its own process with a REST API on a\n"
        "Unix socket, and the commands below define, start, inspect and change them.\n"
        "\\fB\\-v\\fR logs more (twice: debug), \\fB\\-q\\fR prints only errors.\n"
        ".SH COMMANDS\n" + listing + EXIT +
        ".SH ENVIRONMENT\n.TP\n.B VESSEL_STATE_DIR\nthe state directory (D/run and D/lib) "
        "instead of /run/vessel and\n/var/lib/vessel (root) or $XDG_RUNTIME_DIR/vessel and "
        "$XDG_DATA_HOME/vessel.\n"
        ".SH FILES\n.TP\n.I /var/lib/vessel/NAME.json\na VM's definition "
        "(\\fBvessel dumpconfig\\fR prints it)\n.TP\n.I /run/vessel/NAME/\n"
        "a running VM's API socket, console socket, pid, log (vmm.log) and last exit\n")
    (out / "vessel.1").write_text(page("vessel", "vessel manual", "virtual machines on KVM",
                                       overview, [f"vessel\\-{n}" for n, _ in cmds]))
    for name, summary in cmds:
        text = helptext(vessel, name)
        body = ".SH DESCRIPTION\n" + verbatim(text)
        group = {"img": "verbs:", "net": "commands:"}.get(name)
        if group:
            for v in verbs(text, group):
                r = subprocess.run([vessel, name, v, "--help"], capture_output=True,
                                   text=True, timeout=30)
                sub = r.stdout.rstrip("\n")
                # net's verbs share the group's text; img's have their own.
                if r.returncode == 0 and sub and sub != text:
                    body += f".SS {v}\n" + verbatim(sub)
        if name not in ("run", "img", "version"):
            body += EXIT
        (out / f"vessel-{name}.1").write_text(
            page(f"vessel-{name}", "vessel manual", summary, body, ["vessel"]))


if __name__ == "__main__":
    main()
