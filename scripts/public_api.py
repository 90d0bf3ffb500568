#!/usr/bin/env python3
"""Lists the public surface of the workspace's library crates from rustdoc's JSON output.

Usage: public_api.py TARGET_DOC_DIR CRATE...  (crate names with underscores)

Walks each crate from its root module the way a user reaches items: public modules,
re-exports (`pub use`), and the public fields, variants, inherent methods and associated
constants of every listed type. Items under `#[doc(hidden)]` are absent from rustdoc's output and so from the
list. Trait implementations are left out: they are the traits' surface, not the crate's.
Prints Markdown, one line per item with the first sentence of its docs.
"""

import json
import re
import sys

KINDS = {
    "module": "mod",
    "struct": "struct",
    "enum": "enum",
    "union": "union",
    "trait": "trait",
    "function": "fn",
    "constant": "const",
    "static": "static",
    "type_alias": "type",
    "macro": "macro",
    "proc_macro": "macro",
    "trait_alias": "trait",
}


def summary(docs):
    """The first sentence of a doc comment, on one line."""
    if not docs:
        return ""
    para = docs.strip().split("\n\n")[0]
    para = " ".join(line.strip() for line in para.splitlines())
    # Intra-doc link targets add nothing on one line.
    para = re.sub(r"\[`([^`]+)`\]\([^)]*\)", r"`\1`", para)
    para = re.sub(r"\[`([^`]+)`\]", r"`\1`", para)
    m = re.search(r"(?<![.\w]\.\w)(?<!e\.g)(?<!i\.e)\.(\s|$)", para)
    if m:
        para = para[: m.start() + 1]
    return para


def kind_of(item):
    return next(iter(item["inner"]))


class Crate:
    def __init__(self, path):
        with open(path) as f:
            self.doc = json.load(f)
        self.index = self.doc["index"]
        self.paths = self.doc["paths"]
        self.name = self.index[str(self.doc["root"])]["name"]
        self.lines = []
        self.seen_modules = set()
        # Every path an item is reachable at (first pass), and the items already listed.
        self.aliases = {}
        self.listed = set()
        self.collecting = False

    def item(self, id_):
        return self.index.get(str(id_))

    def emit(self, depth, kind, path, docs, note=""):
        if self.collecting:
            return
        text = summary(docs)
        line = "  " * depth + f"- {kind} `{path}`"
        if note:
            line += f" ({note})"
        if text:
            line += f": {text}"
        self.lines.append(line)

    def walk_module(self, module, prefix):
        if module["id"] in self.seen_modules:
            return
        self.seen_modules.add(module["id"])
        children = []
        for child_id in module["inner"]["module"]["items"]:
            child = self.item(child_id)
            if child is None or child["visibility"] != "public" and kind_of(child) != "macro":
                continue
            children.append(child)
        # Modules last, so that each module's own items sit right under its heading.
        order = {"module": 1}
        children.sort(key=lambda c: (order.get(self.target_kind(c), 0), self.name_of(c)))
        for child in children:
            self.walk_item(child, prefix, 0)

    def name_of(self, item):
        if kind_of(item) == "use":
            return item["inner"]["use"]["name"]
        return item["name"] or ""

    def target_kind(self, item):
        if kind_of(item) != "use":
            return kind_of(item)
        target = item["inner"]["use"]["id"]
        resolved = self.item(target) if target is not None else None
        if resolved is not None:
            return kind_of(resolved)
        summary_ = self.paths.get(str(target)) if target is not None else None
        return summary_["kind"] if summary_ else "use"

    def walk_item(self, item, prefix, depth):
        kind = kind_of(item)
        if kind == "use":
            use = item["inner"]["use"]
            if use["is_glob"]:
                self.emit(depth, "use", f"{prefix}{use['source']}::*", item["docs"])
                return
            target = self.item(use["id"]) if use["id"] is not None else None
            if target is None or target["crate_id"] != 0:
                # A re-export of another crate's item.
                self.emit(depth, "use", f"{prefix}{use['name']}", item["docs"], f"re-export of `{use['source']}`")
                return
            if kind_of(target) == "module":
                self.emit(depth, "mod", f"{prefix}{use['name']}", item["docs"] or target["docs"])
                self.walk_module(target, f"{prefix}{use['name']}::")
                return
            self.walk_named(target, prefix, use["name"], depth, item["docs"])
            return
        if kind == "module":
            self.emit(depth, "mod", f"{prefix}{item['name']}", item["docs"])
            self.walk_module(item, f"{prefix}{item['name']}::")
            return
        self.walk_named(item, prefix, item["name"], depth, None)

    def walk_named(self, item, prefix, name, depth, use_docs):
        kind = kind_of(item)
        path = f"{prefix}{name}"
        if self.collecting:
            self.aliases.setdefault(item["id"], []).append(path)
            return
        if item["id"] in self.listed:
            return
        self.listed.add(item["id"])
        others = [p for p in self.aliases.get(item["id"], []) if p != path]
        note = "also `" + "`, `".join(others) + "`" if others else ""
        self.emit(depth, KINDS.get(kind, kind), path, use_docs or item["docs"], note)
        if kind in ("struct", "enum", "union"):
            if kind == "enum":
                for v in item["inner"]["enum"]["variants"]:
                    var = self.item(v)
                    if var is not None:
                        self.emit(depth + 1, "variant", f"{name}::{var['name']}", var["docs"])
            if kind == "struct":
                shape = item["inner"]["struct"]["kind"]
                if isinstance(shape, dict) and "plain" in shape:
                    for f in shape["plain"]["fields"]:
                        field = self.item(f)
                        if field is not None and field["visibility"] == "public":
                            self.emit(depth + 1, "field", f"{name}::{field['name']}", field["docs"])
            self.walk_impls(item["inner"][kind]["impls"], name, depth + 1)
        elif kind == "trait":
            for m in item["inner"]["trait"]["items"]:
                member = self.item(m)
                if member is not None:
                    self.emit(depth + 1, KINDS.get(kind_of(member), kind_of(member)), f"{name}::{member['name']}", member["docs"])

    def walk_impls(self, impls, owner, depth):
        for impl_id in impls:
            impl = self.item(impl_id)
            if impl is None:
                continue
            inner = impl["inner"]["impl"]
            if inner["trait"] is not None or inner["is_synthetic"] or inner["blanket_impl"] is not None:
                continue
            for m in inner["items"]:
                member = self.item(m)
                if member is None or member["visibility"] != "public":
                    continue
                k = kind_of(member)
                self.emit(depth, KINDS.get(k, k), f"{owner}::{member['name']}", member["docs"])

    def render(self):
        root = self.item(self.doc["root"])
        self.collecting = True
        self.walk_module(root, "")
        self.collecting = False
        self.seen_modules.clear()
        self.walk_module(root, "")
        return self.lines


def main():
    doc_dir, crates = sys.argv[1], sys.argv[2:]
    for name in crates:
        crate = Crate(f"{doc_dir}/{name}.json")
        print(f"## {name.replace('_', '-')}")
        print()
        print("\n".join(crate.render()))
        print()


if __name__ == "__main__":
    main()
