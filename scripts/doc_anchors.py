"""Keep the docs' links into the code pointing at the lines they name.

The docs link to code by line, e.g. [`pivot_root`](../minikube_py/runtime/rootfs.py#L120), so a
student lands on the call. Code moves; this finds each link whose label names something in
backticks (a function, class, method, constant or route) and checks that the linked line defines
or holds it. `--fix` moves a stale anchor to the nearest line that does.

    python scripts/doc_anchors.py           # list stale anchors, exit 1 if any
    python scripts/doc_anchors.py --fix     # rewrite them in place
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\[([^\]]+)\]\(([^)#\s]+)#L(\d+)((?:-L?\d+)?)\)")
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass
class Anchor:
    doc: Path
    start: int  # where the match starts in the doc's text
    end: int
    label: str
    path: str
    line: int
    tail: str  # "-L12" of a range, kept as an offset
    name: str

    def target(self) -> Path:
        return (self.doc.parent / self.path).resolve()


def _name(label: str) -> str | None:
    """What the label names: its last backticked token that is not a file, as the code spells it."""
    for token in reversed(re.findall(r"`([^`]+)`", label)):
        token = token.strip()
        if token.endswith((".py", ".c", ".h", ".md", ".sh", ".toml", ".yaml")) or token.endswith("/"):
            continue
        if token.startswith("/"):
            return token  # a route: found as it is written
        token = token.split("(")[0].rstrip(":")
        words = WORD.findall(token.split(".")[-1]) if "." in token else WORD.findall(token)
        if words and "." not in token and " " in token.strip():
            return None  # a phrase, not a name
        return words[-1] if words else None
    return None


def _holds(line: str, name: str) -> bool:
    if name.startswith("/"):
        return name in line
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", line) is not None


def _defines(line: str, name: str) -> bool:
    if name.startswith("/"):
        return name in line
    return re.match(rf"\s*(?:async\s+def|def|class)\s+{re.escape(name)}\b|\s*{re.escape(name)}\s*[:=]|"
                    rf".*\b{re.escape(name)}\s*\(", line) is not None


def project_docs() -> list[Path]:
    return [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]


def anchors(docs: list[Path]) -> list[Anchor]:
    found = []
    for doc in docs:
        text = doc.read_text()
        for m in LINK.finditer(text):
            name = _name(m.group(1))
            if name:
                found.append(Anchor(doc, m.start(), m.end(), m.group(1), m.group(2), int(m.group(3)),
                                    m.group(4), name))
    return found


def stale(anchor: Anchor) -> bool:
    target = anchor.target()
    if not target.exists():
        return True
    lines = target.read_text().splitlines()
    # The linked line, or the two after it (a decorator or a signature may come first).
    return not any(_holds(ln, anchor.name) for ln in lines[anchor.line - 1:anchor.line + 2])


def _owner(label: str) -> str | None:
    """`Registry.watch` -> Registry (a class the method is looked for in), else None."""
    for token in reversed(re.findall(r"`([^`]+)`", label)):
        parts = token.split("(")[0].split(".")
        if len(parts) == 2 and parts[0][:1].isupper():
            return parts[0]
    return None


def best_line(anchor: Anchor) -> int | None:
    """The nearest line that defines the name (inside its class, for `Class.method`), else the
    nearest that holds it."""
    target = anchor.target()
    if not target.exists():
        return None
    lines = target.read_text().splitlines()
    first = 0
    if owner := _owner(anchor.label):
        starts = [i for i, ln in enumerate(lines) if re.match(rf"class\s+{owner}\b", ln)]
        if starts:
            first = starts[0]
            anchor = Anchor(**{**anchor.__dict__, "line": first + 1})  # nearest after the class line
    for test in (_defines, _holds):
        hits = [i + 1 for i, ln in enumerate(lines) if i >= first and test(ln, anchor.name)]
        if test is _defines:  # a definition proper beats a call
            proper = [i for i in hits if re.match(r"\s*(?:async\s+def|def|class)\s", lines[i - 1])]
            hits = proper or hits
        if hits:
            return min(hits, key=lambda i: abs(i - anchor.line))
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fix", action="store_true", help="rewrite stale anchors in place")
    args = parser.parse_args()
    bad = [a for a in anchors(project_docs()) if stale(a)]
    unfixable = []
    for doc in sorted({a.doc for a in bad}):
        text = doc.read_text()
        for a in sorted((a for a in bad if a.doc == doc), key=lambda a: -a.start):
            line = best_line(a) if args.fix else None
            where = f"{doc.relative_to(REPO)}: [{a.label}]({a.path}#L{a.line})"
            if line is None:
                (unfixable if args.fix else []).append(where)
                print(f"stale: {where}: `{a.name}` is not on that line")
                continue
            tail = ""
            if a.tail:  # keep a range's length
                length = int(a.tail.lstrip("-L")) - a.line
                tail = f"-L{line + length}"
            text = text[:a.start] + f"[{a.label}]({a.path}#L{line}{tail})" + text[a.end:]
            print(f"fixed: {where} -> #L{line}")
        if args.fix:
            doc.write_text(text)
    return 1 if (unfixable if args.fix else bad) else 0


if __name__ == "__main__":
    sys.exit(main())
