#!/usr/bin/env bash
# docs/cli.md holds the exact `--help` text of every command between markers:
#     <!-- help: CMD -->  ```text ... ```  <!-- /help -->
# (CMD `cvmpi` is the top-level `cvmpi --help`). Check mode fails naming each command whose block
# differs from its --help, or that has no block; --update rewrites the blocks in place.
#   cli_help.sh CVMPI [--update]
set -euo pipefail
CVMPI=${1:?usage: cli_help.sh CVMPI [--update]}
MODE=${2:-check}
case $MODE in check | --update) ;; *)
    echo "usage: cli_help.sh CVMPI [--update]" >&2
    exit 2
    ;;
esac
DOC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/docs/cli.md
CVMPI=$(command -v "$CVMPI")
# The MPI commands start MPI even for --help; Open MPI's libraries leak at exit (tests/mpi/lib.sh).
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
# The commands are the ones `cvmpi --help` lists under "Commands:".
mapfile -t commands < <("$CVMPI" --help | sed -n '/^Commands:/,/^$/p' | awk 'NR > 1 && NF {print $1}')
[ "${#commands[@]}" -gt 0 ] || {
    echo "cli_help.sh: \`$CVMPI --help' lists no commands" >&2
    exit 1
}
exec /usr/bin/python3 - "$CVMPI" "$MODE" "$DOC" "${commands[@]}" <<'PY'
import re, subprocess, sys

cvmpi, mode, doc, commands = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
text = open(doc, encoding="utf-8").read()
block = re.compile(r"<!-- help: (\S+) -->\n```text\n(.*?)```\n<!-- /help -->", re.S)


def help_of(cmd):
    args = [cvmpi, "--help"] if cmd == "cvmpi" else [cvmpi, cmd, "--help"]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("cli_help.sh: `%s' exits %d" % (" ".join(["cvmpi"] + args[1:]), r.returncode))
    return r.stdout


found = [m.group(1) for m in block.finditer(text)]
bad = []
for cmd in ["cvmpi"] + commands:
    if cmd not in found:
        bad.append("%s: no `<!-- help: %s -->` block in docs/cli.md" % (cmd, cmd))
for cmd in found:
    if cmd != "cvmpi" and cmd not in commands:
        bad.append("%s: docs/cli.md has a help block for a command cvmpi does not list" % cmd)
if mode == "--update":
    new = block.sub(lambda m: "<!-- help: %s -->\n```text\n%s```\n<!-- /help -->"
                    % (m.group(1), help_of(m.group(1))), text)
    if new != text:
        open(doc, "w", encoding="utf-8").write(new)
        print("cli_help.sh: docs/cli.md updated")
else:
    for m in block.finditer(text):
        if m.group(1) in commands + ["cvmpi"] and m.group(2) != help_of(m.group(1)):
            line = text.count("\n", 0, m.start()) + 1
            bad.append("%s: docs/cli.md:%d differs from `cvmpi %s--help` (run "
                       "tests/docs/cli_help.sh CVMPI --update)"
                       % (m.group(1), line, "" if m.group(1) == "cvmpi" else m.group(1) + " "))
for b in bad:
    print("cli_help.sh: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
