#!/usr/bin/env python3
"""Refuses a Cargo.lock that pins a yanked crates.io version, reading the sparse index
(index.crates.io), which CI reaches. (cargo-deny reads yanked versions from the index too, but
only inside its advisories check, which needs the RustSec database, not reachable there.)
A crate whose entry cannot be read is named as not checked; with REQUIRE_INDEX=1 that fails.
Usage: yanked.py [Cargo.lock ...]"""
import json
import os
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

INDEX = "https://index.crates.io"


def index_path(name):
    n = name.lower()
    if len(n) <= 2:
        return f"{len(n)}/{n}"
    if len(n) == 3:
        return f"3/{n[0]}/{n}"
    return f"{n[0:2]}/{n[2:4]}/{n}"


def packages(lock):
    out, cur = set(), {}
    for line in open(lock, encoding="utf-8"):
        line = line.strip()
        if line == "[[package]]":
            cur = {}
        elif " = " in line:
            k, v = line.split(" = ", 1)
            cur[k] = v.strip('"')
            if k == "source" and v.strip('"').startswith("registry+https://github.com/rust-lang/crates.io-index"):
                out.add((cur["name"], cur["version"]))
    return out


def fetch(name):
    req = urllib.request.Request(f"{INDEX}/{index_path(name)}", headers={"User-Agent": "supagate-ci"})
    for attempt in range(4):
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.read().decode()
        except OSError:
            if attempt == 3:
                raise
            time.sleep(1 + attempt)


def yanked(pkg):
    name, version = pkg
    for line in fetch(name).splitlines():
        entry = json.loads(line)
        if entry.get("vers") == version:
            return entry.get("yanked", False)
    raise LookupError(f"{name} {version} is not in the index")


def main():
    locks = sys.argv[1:] or ["Cargo.lock"]
    pkgs = sorted(set().union(*(packages(l) for l in locks)))
    def check(pkg):
        try:
            return yanked(pkg)
        except (OSError, LookupError, ValueError) as e:
            return e

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(check, pkgs))
    failed = [(p, r) for p, r in zip(pkgs, results) if isinstance(r, Exception)]
    if len(failed) == len(pkgs):
        print(f"== yanked: NOT checked: the crates.io index is not reachable ({failed[0][1]})")
        return 1 if os.environ.get("REQUIRE_INDEX") == "1" else 0
    for (n, v), e in failed:
        print(f"== yanked: NOT checked: {n} {v} ({e})", file=sys.stderr)
    bad = [f"{n} {v}" for (n, v), y in zip(pkgs, results) if y is True]
    if bad:
        print("== yanked: these locked versions are yanked: " + ", ".join(bad), file=sys.stderr)
        return 1
    print(f"== yanked: none of {len(pkgs) - len(failed)} locked crates.io versions read is yanked")
    return 1 if failed and os.environ.get("REQUIRE_INDEX") == "1" else 0


if __name__ == "__main__":
    sys.exit(main())
