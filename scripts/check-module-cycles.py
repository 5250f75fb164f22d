#!/usr/bin/env python3
"""Fails when the modules inside a workspace crate import each other in a circle.

Cargo already keeps the crates in one direction; this keeps the modules inside each crate so.
For every crate of the workspace (the `members` of Cargo.toml; third_party/ is outside the
workspace and not checked) it walks the module tree from src/lib.rs and src/main.rs (each a
crate of its own) through the `mod x;` declarations, and records for each module file which
other module files its code names: `use crate::…`, `use super::…`, `use self::…`, a `use` of a
child module, and paths written in the code (`crate::x::f()`, `super::y::T`). A path counts
for the deepest module file it reaches (`crate::booking::store::host_by_id` → booking/store.rs;
`super::lang_of` → the parent's file).

A module naming one of its own descendants (`pub mod x; pub use x::f;`, a parent composing its
parts) is not counted: the tree already says the parent owns its children. Every other edge is
(a child using its parent's helpers, siblings, cousins, top-level modules), and a circle among
them fails the check with the files in order, e.g.

    web: booking/manage.rs -> booking/public.rs -> booking/manage.rs

Comments and string literals are ignored (doc links do not count), `#[cfg(test)]` modules count
like any other code. Python 3 standard library only.

Usage: scripts/check-module-cycles.py [REPO_ROOT]   (exit status 1 when a circle is found)
"""

import os
import re
import sys
import tomllib

# Circles that are known and being removed by someone else right now: crate → the files such a
# circle may run through. A circle wholly among listed files is reported but does not fail the
# check; a listed entry without a circle any more is reported too, so that it gets removed.
ALLOWED = {
    # Circles being removed: each entry is a set of files (relative to the crate's src/) that
    # may form a circle for now, with the issue that removes it. Empty: there are none.
}


def strip_comments_and_strings(src):
    """The source with comments, string and char literals blanked (newlines kept)."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            i = j
            continue
        if src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * src.count("\n", i, j))
            i = j
            continue
        m = re.match(r'b?r(#*)"', src[i:i + 260])
        if m and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            end = '"' + m.group(1)
            j = src.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * src.count("\n", i, j))
            i = j
            continue
        if c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            j += 1
            out.append('""' + "\n" * src.count("\n", i, j))
            i = j
            continue
        if c == "'":
            # A char literal ('x', '\n', '\u{..}', '"'), not a lifetime ('a).
            m = re.match(r"'(\\(x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'])'", src[i:i + 14])
            if m:
                out.append("' '")
                i += m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out)


MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", re.M)
INLINE_MOD = re.compile(r"(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*\{")
USE = re.compile(r"\buse\s+([^;]+);")
PATH = re.compile(r"(?<![\w:])((?:crate|super|self)(?:\s*::\s*\w+)+)")


def expand_use_tree(tree):
    """`a::{b, c::{d, e}}` → [[a, b], [a, c, d], [a, c, e]] (globs and `self` kept)."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)

    def parse(s, prefix):
        paths = []
        depth, start, parts = 0, 0, []
        for k, ch in enumerate(s):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(s[start:k])
                start = k + 1
        parts.append(s[start:])
        for p in parts:
            if not p:
                continue
            if "{" in p:
                head, inner = p.split("{", 1)
                inner = inner[: inner.rfind("}")]
                head_segs = [x for x in head.split("::") if x]
                paths.extend(parse(inner, prefix + head_segs))
            else:
                segs = [x for x in p.split("::") if x]
                paths.append(prefix + segs)
        return paths

    return parse(tree, [])


class Crate:
    def __init__(self, name, src_dir):
        self.name = name
        self.src_dir = src_dir
        # module path (tuple) → file path
        self.files = {}

    def walk(self, root_file):
        self.files = {}
        self._walk((), root_file, os.path.dirname(root_file))

    def _walk(self, modpath, path, child_dir):
        self.files[modpath] = path
        with open(path, encoding="utf-8") as f:
            code = strip_comments_and_strings(f.read())
        for m in MOD_DECL.finditer(code):
            name = m.group(1)
            for cand, cdir in (
                (os.path.join(child_dir, name + ".rs"), os.path.join(child_dir, name)),
                (os.path.join(child_dir, name, "mod.rs"), os.path.join(child_dir, name)),
            ):
                if os.path.isfile(cand):
                    self._walk(modpath + (name,), cand, cdir)
                    break

    def file_of(self, modpath):
        """The deepest module file on `modpath`."""
        for k in range(len(modpath), -1, -1):
            if tuple(modpath[:k]) in self.files:
                return tuple(modpath[:k])
        return ()

    def edges(self):
        """{module: {module it names}} (descendants and itself left out)."""
        graph = {}
        for modpath, path in self.files.items():
            with open(path, encoding="utf-8") as f:
                code = strip_comments_and_strings(f.read())
            targets = set()
            # Inline modules (mod tests { … }) shift what `self`/`super` mean inside them.
            inline_at = []
            for m in INLINE_MOD.finditer(code):
                depth, k = 1, m.end()
                while k < len(code) and depth:
                    depth += {"{": 1, "}": -1}.get(code[k], 0)
                    k += 1
                inline_at.append((m.start(), k, m.group(1)))

            def here(pos):
                inner = [name for (a, b, name) in inline_at if a <= pos < b]
                return list(modpath) + inner

            def resolve(segs, pos):
                cur = here(pos)
                if not segs:
                    return None
                if segs[0] == "crate":
                    base, rest = [], segs[1:]
                elif segs[0] in ("self", "super"):
                    base, rest = cur, segs
                    while rest and rest[0] in ("self", "super"):
                        if rest[0] == "super":
                            base = base[:-1]
                        rest = rest[1:]
                elif tuple(cur + [segs[0]]) in self.files:
                    base, rest = cur, segs
                else:
                    return None
                full = list(base) + [s for s in rest if s not in ("*", "self")]
                return self.file_of(full)

            for m in USE.finditer(code):
                for segs in expand_use_tree(m.group(1)):
                    t = resolve(segs, m.start())
                    if t is not None:
                        targets.add(t)
            for m in PATH.finditer(code):
                segs = [s for s in re.split(r"\s*::\s*", m.group(1)) if s]
                t = resolve(segs, m.start())
                if t is not None:
                    targets.add(t)
            graph[modpath] = {
                t for t in targets if t != modpath and t[: len(modpath)] != modpath
            }
        return graph

    def label(self, modpath):
        return os.path.relpath(self.files[modpath], self.src_dir)


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan), each as a cycle."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def one_cycle(graph, comp):
    """A concrete circle through the component, starting at its first module."""
    members = set(comp)
    start = min(comp)
    # Shortest path back to start (BFS) from each successor.
    from collections import deque

    prev = {start: None}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(graph.get(v, ())):
            if w not in members:
                continue
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return comp + [comp[0]]


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    with open(os.path.join(root, "Cargo.toml"), "rb") as f:
        members = tomllib.load(f)["workspace"]["members"]
    failed = False
    seen_allowed = set()
    for member in members:
        src = os.path.join(root, member, "src")
        for root_file in ("lib.rs", "main.rs"):
            path = os.path.join(src, root_file)
            if not os.path.isfile(path):
                continue
            crate = Crate(member if root_file == "lib.rs" else member + " (bin)", src)
            crate.walk(path)
            graph = crate.edges()
            for comp in cycles(graph):
                labels = frozenset(crate.label(m) for m in comp)
                circle = " -> ".join(crate.label(m) for m in one_cycle(graph, comp))
                if len(comp) > len(one_cycle(graph, comp)) - 1:
                    circle += f" (all in one circle: {', '.join(sorted(labels))})"
                allowed = [
                    k for k, files in enumerate(ALLOWED.get(member, [])) if labels <= files
                ]
                if allowed:
                    seen_allowed.update((member, k) for k in allowed)
                    print(f"allowed (being removed in issue 17): {crate.name}: {circle}")
                else:
                    failed = True
                    print(f"import circle in {crate.name}: {circle}", file=sys.stderr)
    for member, entries in ALLOWED.items():
        for k, files in enumerate(entries):
            if (member, k) not in seen_allowed:
                print(
                    f"note: no circle left among {member}: {', '.join(sorted(files))}; "
                    "remove that entry from ALLOWED in scripts/check-module-cycles.py"
                )
    if failed:
        sys.exit(1)
    print(f"no import circles inside the {len(members)} workspace crates (but those allowed above)")


if __name__ == "__main__":
    main()
