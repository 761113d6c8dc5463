#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Check reStructuredText pages with docutils: every warning or error fails.

usage: check-rst.py DIR...
Parses every *.rst under each DIR (not recursively), prints each problem as
FILE:LINE: message, checks that every page is listed in its index.rst's
toctree and that each page starts with the SPDX line, and exits 1 if
anything was found, 77 (skip) when docutils is not installed.
"""
import glob
import io
import os
import re
import sys

SKIP = 77
SPDX = ".. SPDX-License-Identifier: GPL-2.0-or-later"
PROBLEM = re.compile(r"^.+:\d+: \((WARNING|ERROR|SEVERE)/\d\) ")


def main(dirs):
    try:
        import docutils.core
        from docutils import nodes
        from docutils.parsers.rst import Directive, directives, roles
    except ImportError:
        print("SKIP: python3-docutils is not installed")
        return SKIP

    # Sphinx's toctree directive and :doc:/:ref: roles are not docutils':
    # accept them (their targets are checked against the index below).
    class Toctree(Directive):
        has_content = True
        option_spec = {"maxdepth": directives.unchanged, "caption": directives.unchanged}

        def run(self):
            return []

    directives.register_directive("toctree", Toctree)
    for role in ("doc", "ref"):
        roles.register_generic_role(role, nodes.emphasis)
    problems = 0
    for d in dirs:
        pages = sorted(glob.glob(os.path.join(d, "*.rst")))
        if not pages:
            print(f"{d}: no .rst files")
            problems += 1
        index = os.path.join(d, "index.rst")
        listed = set()
        if os.path.exists(index):
            with open(index, encoding="utf-8") as f:
                listed = {line.strip() for line in f if line.startswith("   ")}
        for path in pages:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            if not text.startswith(SPDX + "\n"):
                print(f"{path}:1: the first line must be '{SPDX}'")
                problems += 1
            name = os.path.basename(path)[:-4]
            if os.path.exists(index) and name != "index" and name not in listed:
                print(f"{path}:1: not listed in {index}")
                problems += 1
            err = io.StringIO()
            docutils.core.publish_doctree(
                text, source_path=path,
                settings_overrides={"report_level": 2, "halt_level": 5,
                                    "warning_stream": err})
            for line in err.getvalue().splitlines():
                if PROBLEM.match(line):
                    print(line)
                    problems += 1
    if problems:
        print(f"{problems} problem(s)")
        return 1
    print(f"ok: {sum(len(glob.glob(os.path.join(d, '*.rst'))) for d in dirs)} pages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
