#!/usr/bin/env python3
"""The public API's breaking changes since a release tag, from the listings in api/ (at the
tag and now), and whether CHANGELOG.md's Unreleased section records each. Breaking: an item
removed or its declaration changed; a variant or a public field added to a type that is not
`#[non_exhaustive]`; a feature or a dependency's major removed or changed. Each must be named
(by its last path segment, a feature's or a dependency's name) in the Unreleased section.
Usage: api-since.py <tag>"""
import os
import re
import subprocess
import sys


def listing(ref, path):
    if ref is None:
        try:
            return set(open(path, encoding="utf-8").read().splitlines())
        except OSError:
            return set()
    r = subprocess.run(["git", "show", f"{ref}:{path}"], capture_output=True, text=True)
    return set(r.stdout.splitlines()) if r.returncode == 0 else set()


def name_of(line):
    """What the CHANGELOG must mention for a listing line."""
    m = re.match(r"^impl (\S+) for (\S+)", line)
    if m:
        return m.group(2).split("::")[-1]
    path, _, rest = line.partition(": ")
    m = re.match(r"(feature|dependency) (\S+)", rest)
    if m:
        return m.group(2)
    return path.split("::")[-1]


def main():
    tag = sys.argv[1]
    files = set(os.listdir("api")) if os.path.isdir("api") else set()
    r = subprocess.run(["git", "ls-tree", "--name-only", f"{tag}:api"], capture_output=True, text=True)
    files |= set(r.stdout.split()) if r.returncode == 0 else set()
    breaking = []
    for f in sorted(files):
        path = f"api/{f}"
        old, new = listing(tag, path), listing(None, path)
        for line in sorted(old - new):
            breaking.append((f, "removed or changed", line))
        exhaustive_ok = {l.split(": ")[0] for l in new if l.endswith(": #[non_exhaustive]")}
        for line in sorted(new - old):
            m = re.match(r"^(\S+)::\w+: (variant|field) ", line)
            if m and m.group(1) not in exhaustive_ok:
                parent_is_new = not any(l.startswith(m.group(1) + ": ") for l in old)
                if not parent_is_new:
                    breaking.append((f, f"{m.group(2)} added to an exhaustive type", line))
    text = open("CHANGELOG.md", encoding="utf-8").read()
    unreleased = re.search(r"^## \[Unreleased\](.*?)(^## \[|\Z)", text, re.S | re.M)
    unreleased = unreleased.group(1) if unreleased else ""
    missing = [(f, why, line) for f, why, line in breaking if f"`{name_of(line)}" not in unreleased and name_of(line) not in unreleased]
    for f, why, line in breaking:
        print(f"== api: since {tag}: {f}: {why}: {line}")
    if missing:
        for f, why, line in missing:
            print(f"== api: not in CHANGELOG.md's Unreleased section: `{name_of(line)}` ({why}, {f})", file=sys.stderr)
        return 1
    print(f"== api: since {tag}: {len(breaking)} breaking change(s), each named in CHANGELOG.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
