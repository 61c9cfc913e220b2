#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""links.py REPO: every relative link of README.md and docs/*.md names a file of the repository,
and every #anchor names a heading of its page (GitHub's anchors: lower case, punctuation but
hyphens dropped, spaces as hyphens, a repeated heading numbered -1, -2, ...). Prints each broken
link with its page and line; exit 1 when there is one."""
import collections
import glob
import os
import re
import sys


def anchors(path):
    """The anchors GitHub makes for the headings of a Markdown page (not inside code fences)."""
    seen = collections.Counter()
    out = set()
    fence = False
    for line in open(path, encoding="utf-8"):
        if line.startswith("```"):
            fence = not fence
            continue
        m = None if fence else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        out.add(slug if seen[slug] == 0 else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return out


def main(repo):
    os.chdir(repo)
    pages = ["README.md"] + sorted(glob.glob("docs/*.md"))
    known = {}
    bad = 0
    for page in pages:
        fence = False
        for number, line in enumerate(open(page, encoding="utf-8"), 1):
            if line.startswith("```"):
                fence = not fence
            if fence:
                continue
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if re.match(r"^[a-z]+:", target):
                    continue  # http(s):, mailto: and the like
                path, _, anchor = target.partition("#")
                dest = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
                if not os.path.exists(dest):
                    print(f"{page}:{number}: {target}: no file {dest}")
                    bad += 1
                    continue
                if anchor and dest.endswith(".md"):
                    if dest not in known:
                        known[dest] = anchors(dest)
                    if anchor not in known[dest]:
                        print(f"{page}:{number}: {target}: no heading #{anchor} in {dest}")
                        bad += 1
    print(f"links: {len(pages)} pages, {bad} broken")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
