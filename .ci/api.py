#!/usr/bin/env python3
"""The public API of a crate as a sorted listing, one line per item, from rustdoc's JSON
(`cargo rustdoc -- -Z unstable-options --output-format json`, with RUSTC_BOOTSTRAP=1 on the
stable toolchain). Each line is the item's public path and its declaration as written (the
source is `cargo fmt`-formatted, so the text is stable): functions with their signatures,
struct fields with their types, enum variants, trait items, constants, re-exports from other
crates, and the traits each type implements. Usage: api.py <rustdoc json> > listing.txt"""
import json
import re
import sys

files = {}


def source(span):
    """The declaration text of a span, comments and attributes out, whitespace collapsed."""
    if not span:
        return ""
    name = span["filename"]
    if name not in files:
        try:
            files[name] = open(name, encoding="utf-8").read().split("\n")
        except OSError:
            files[name] = []
    lines = files[name]
    (bl, bc), (el, ec) = span["begin"], span["end"]
    chunk = lines[bl - 1 : el]
    if not chunk:
        return ""
    # Columns count from 1; the end is exclusive.
    if len(chunk) == 1:
        chunk = [chunk[0][bc - 1 : ec - 1]]
    else:
        chunk[0] = chunk[0][bc - 1 :]
        chunk[-1] = chunk[-1][: ec - 1]
    kept = [strip_comment(l) for l in chunk if not l.strip().startswith(("//", "#["))]
    text = " ".join(l.strip() for l in kept)
    text = re.sub(r"/\*.*?\*/", "", text)
    return re.sub(r"\s+", " ", text).strip().rstrip(",")


def strip_comment(line):
    """A line without its trailing `// comment` (one outside a string literal)."""
    quoted = False
    for i, c in enumerate(line):
        if c == '"' and (i == 0 or line[i - 1] != "\\"):
            quoted = not quoted
        elif c == "/" and not quoted and line[i : i + 2] == "//" and (i == 0 or line[i - 1] != ":"):
            return line[:i]
    return line


def header(span, stops="{;"):
    """The declaration up to its body: the first `{` or `;` outside brackets."""
    text = re.sub(r"\bmut (\w+)\s*:", r"\1:", source(span))
    text = re.sub(r"\(\s*mut self", "(self", text)
    text = re.sub(r",\s*\)", ")", text)
    text = re.sub(r"\(\s+", "(", text)
    depth = 0
    for i, c in enumerate(text):
        if c in "([<":
            depth += 1
        elif c in ")]>" and depth > 0:
            if not (c == ">" and i > 0 and text[i - 1] == "-"):
                depth -= 1
        elif c in stops and depth == 0:
            return text[:i].strip()
    return text


def major(req):
    """The semver-major part of a version requirement: `0.8.4` -> `0.8`, `1.45` -> `1`."""
    v = req.lstrip("=^~>< ").split(",")[0].strip()
    parts = v.split(".")
    if parts[0] == "0" and len(parts) > 1:
        return f"0.{parts[1]}"
    return parts[0]


def manifest(path, crate, out):
    """A crate's features and the majors of its dependencies: both are public API (a feature
    removed breaks a build; a dependency's new major changes every type re-exported from it)."""
    import os
    import tomllib

    with open(path, "rb") as f:
        toml = tomllib.load(f)
    root = os.path.join(os.path.dirname(path), "..", "..", "Cargo.toml")
    with open(root, "rb") as f:
        workspace = tomllib.load(f).get("workspace", {}).get("dependencies", {})
    for feature, enables in sorted(toml.get("features", {}).items()):
        out.add(f"{crate}: feature {feature} = [{', '.join(enables)}]")
    for dep, spec in sorted(toml.get("dependencies", {}).items()):
        if isinstance(spec, str):
            spec = {"version": spec}
        if spec.get("workspace"):
            ws = workspace.get(dep, {})
            ws = {"version": ws} if isinstance(ws, str) else ws
            merged = dict(ws)
            merged.update({k: v for k, v in spec.items() if k != "workspace"})
            spec = merged
        name = spec.get("package", dep)
        version = spec.get("version", "path")
        optional = " (optional)" if spec.get("optional") else ""
        out.add(f"{crate}: dependency {name} {major(version)}{optional}")


def main():
    doc = json.load(open(sys.argv[1], encoding="utf-8"))
    index = doc["index"]
    out = set()
    seen = set()

    def public(item):
        return item.get("visibility") == "public"

    def impls(ids, path):
        for iid in ids:
            imp = index.get(str(iid))
            if not imp:
                continue
            inner = imp["inner"]["impl"]
            if inner.get("blanket_impl"):
                continue
            trait = inner.get("trait")
            if trait:
                tpath = trait.get("path") or trait.get("name") or "?"
                if tpath in ("StructuralPartialEq",):
                    continue
                if inner.get("is_synthetic"):
                    out.add(f"impl {tpath} for {path} (auto)")
                    continue
                # Written impls by their header (generics, trait arguments, bounds); derived
                # ones (whose span is the derive attribute) by the trait's name.
                text = header(imp.get("span"))
                if text.startswith(("impl", "unsafe impl")):
                    out.add(f"{path}: {text}")
                else:
                    out.add(f"impl {tpath} for {path}")
                continue
            for mid in inner.get("items", []):
                m = index.get(str(mid))
                if m and public(m):
                    walk(mid, f"{path}::{m['name']}")

    def walk(iid, path):
        item = index.get(str(iid))
        if item is None:
            return
        if "non_exhaustive" in json.dumps(item.get("attrs", [])):
            out.add(f"{path}: #[non_exhaustive]")
        key = (iid, path)
        if key in seen:
            return
        seen.add(key)
        kind, inner = next(iter(item["inner"].items()))
        if kind == "module":
            out.add(f"mod {path}")
            for child in inner["items"]:
                c = index.get(str(child))
                if c is None or not public(c):
                    continue
                if "use" in c["inner"]:
                    walk(child, path)
                else:
                    walk(child, f"{path}::{c['name']}")
        elif kind == "use":
            use = inner
            target = use.get("id")
            if use.get("is_glob"):
                t = index.get(str(target)) if target is not None else None
                if t and "module" in t["inner"]:
                    for child in t["inner"]["module"]["items"]:
                        c = index.get(str(child))
                        if c is not None and public(c):
                            walk(child, f"{path}::{c['name']}" if c.get("name") else path)
                else:
                    out.add(f"{path}: pub use {use['source']}::*")
            elif target is not None and str(target) in index:
                walk(target, f"{path}::{use['name']}")
            else:
                out.add(f"{path}::{use['name']}: pub use {use['source']}")
        elif kind == "struct":
            out.add(f"{path}: {header(item['span'], '{;(')}")
            k = inner["kind"]
            fields = []
            if isinstance(k, dict) and "plain" in k:
                fields = k["plain"]["fields"]
            elif isinstance(k, dict) and "tuple" in k:
                out.add(f"{path}: {header(item['span'], '{;')}")
            for f in fields:
                fi = index.get(str(f))
                if fi and public(fi):
                    out.add(f"{path}::{fi['name']}: field {source(fi['span'])}")
            impls(inner.get("impls", []), path)
        elif kind == "enum":
            out.add(f"{path}: {header(item['span'])}")
            for v in inner["variants"]:
                vi = index.get(str(v))
                if vi:
                    out.add(f"{path}::{vi['name']}: variant {source(vi['span'])}")
            impls(inner.get("impls", []), path)
        elif kind == "union":
            out.add(f"{path}: {header(item['span'])}")
        elif kind == "trait":
            out.add(f"{path}: {header(item['span'])}")
            for t in inner["items"]:
                ti = index.get(str(t))
                if ti:
                    out.add(f"{path}::{ti['name']}: {header(ti['span'])}")
        elif kind == "function":
            out.add(f"{path}: {header(item['span'])}")
        elif kind in ("constant", "static", "type_alias", "assoc_const", "assoc_type"):
            out.add(f"{path}: {header(item['span'], ';')}")
        elif kind in ("macro", "proc_macro"):
            out.add(f"{path}: macro")
        else:
            out.add(f"{path}: {kind}")

    root = doc["root"]
    name = index[str(root)]["name"]
    walk(root, name)
    if len(sys.argv) > 2:
        manifest(sys.argv[2], name, out)
    sys.stdout.write("".join(line + "\n" for line in sorted(out)))


if __name__ == "__main__":
    main()
