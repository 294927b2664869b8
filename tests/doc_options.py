#!/usr/bin/python3
"""The options of deployguard, as --help, README's Usage block, the man page and the getopt
table each list them, must be the same, in the same order, with the same argument names; and
README's Usage block is --help's output, word for word, at most 80 columns wide. The exit
statuses --help names are those of the man page's EXIT STATUS, and each DG_EXIT_ code of the
source is among them.

usage: doc_options.py DEPLOYGUARD README MANPAGE SOURCE

Prints each difference and exits 1; exits 0 when all four agree. make lint runs it.
"""
import re
import subprocess
import sys

dg, readme, manpage, source = sys.argv[1:5]
HIDDEN = {"--dump-bpf"}  # not for users: prints the BPF text and flags (bcc's --ebpf)
OPT = re.compile(r"^\s{2,}(?:-(\w), )?\s*(--[\w-]+)(?: ([A-Z]+))?(?:\s|$)")


def from_usage(text):
    """(short, long, ARG) of each option line of a usage text."""
    out = []
    for line in text.splitlines():
        m = OPT.match(line)
        if m:
            out.append((m.group(1) or "", m.group(2), m.group(3) or ""))
    return out


def from_man(text):
    out = []
    for line in text.splitlines():
        m = re.match(r"^\.It (?:Fl (\w) , )?Fl (-[\w-]+)(?: Ar (\w+))?$", line)
        if m:
            out.append((m.group(1) or "", "-" + m.group(2), (m.group(3) or "").upper()))
    return out


def from_getopt(text):
    table = text[text.index("options[] = {"):]
    table = table[: table.index("};")]
    out = []
    for name, arg in re.findall(r'\{"([\w-]+)", (\w+), NULL, \'.\'\}', table):
        out.append(("--" + name, arg == "required_argument"))
    shorts = re.search(r'getopt_long\(argc, argv, "\+?([^"]*)"', text).group(1).replace(":", "")
    return out, sorted(shorts)


def usage_block(text):
    """The first code block after the Usage heading."""
    block = text[text.index("## Usage") :]
    block = block[block.index("```\n") + 4 :]
    return block[: block.index("```\n")]


helptext = subprocess.run([dg, "--help"], capture_output=True, text=True, check=True).stdout
lists = {
    "--help": from_usage(helptext),
    "README.md": from_usage(usage_block(open(readme).read())),
    "man page": from_man(open(manpage).read()),
}
bad = 0
if usage_block(open(readme).read()) != helptext:
    bad += 1
    print("doc_options: README.md's Usage block is not the output of deployguard --help: paste it")
ref = lists["--help"]
for where, opts in lists.items():
    if opts != ref:
        bad += 1
        print(f"doc_options: {where} differs from --help:")
        for i in range(max(len(ref), len(opts))):
            a = ref[i] if i < len(ref) else None
            b = opts[i] if i < len(opts) else None
            if a != b:
                print(f"  #{i + 1}: --help {a}, {where} {b}")
wide = [line for line in helptext.splitlines() if len(line) > 80]
if wide:
    bad += 1
    print("doc_options: --help has lines over 80 columns:", *wide, sep="\n  ")


def statuses(text):
    """The exit codes a text names: 3-digit codes, 128+N, and the 0 and 1 of a clause."""
    codes = set(re.findall(r"\b(12[0-9])\b", text))
    codes |= {"128+N"} if re.search(r"128 ?\+ ?(Ar )?N", text) else set()
    codes |= set(re.findall(r"\b([01]) (?:if|when)\b", text))
    codes |= set(re.findall(r"\belse ([01])\b", text))
    return codes


man = open(manpage).read()
man_exit = man[man.index(".Sh EXIT STATUS"):]
man_exit = man_exit[: man_exit.index("\n.Sh ", 1)]
help_exit = helptext[helptext.index("Exit status:"):]
help_exit = help_exit[: help_exit.index("\n\n")]
src_codes = set()
for path in (source, "command.h", "rehearse.h"):  # where DG_EXIT_ codes are defined
    src_codes |= set(re.findall(r"#define DG_EXIT_\w+\s+(\d+)", open(path).read()))
if statuses(help_exit) != statuses(man_exit) or not src_codes <= statuses(help_exit):
    bad += 1
    print("doc_options: exit statuses differ: --help", sorted(statuses(help_exit)),
          "man page", sorted(statuses(man_exit)), "source", sorted(src_codes))

longs, shorts = from_getopt(open(source).read())
getopt = [o for o in longs if o[0] not in HIDDEN]
want = [(o[1], bool(o[2])) for o in ref]
if sorted(getopt) != sorted(want) or shorts != sorted(o[0] for o in ref if o[0]):
    bad += 1
    print("doc_options: the getopt table and --help differ:")
    print("  only in getopt:", sorted(set(getopt) - set(want)))
    print("  only in --help:", sorted(set(want) - set(getopt)))
    print("  short options: getopt", shorts, "--help", sorted(o[0] for o in ref if o[0]))
sys.exit(1 if bad else 0)
