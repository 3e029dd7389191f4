"""How kubectl prints: aligned columns, YAML/JSON, `-o name` and `-o jsonpath=...`.

Columns are aligned like Go's text/tabwriter as kubectl configures it
(minwidth 6, padding 3, spaces): a column is as wide as its widest cell + 3, at least 6;
the last cell of a line is not padded.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from .kubeclient import KubeError


def tabulate(rows: list[list[str]]) -> str:
    if not rows:
        return ""
    ncols = max(len(r) for r in rows)
    widths = [0] * ncols
    for r in rows:
        for i, cell in enumerate(r[:-1]):
            widths[i] = max(widths[i], len(cell) + 3, 6)
    out = []
    for r in rows:
        line = "".join(cell.ljust(widths[i]) for i, cell in enumerate(r[:-1])) + (r[-1] if r else "")
        out.append(line)
    return "\n".join(out) + "\n"


def cell_text(v: Any) -> str:
    if v is None:
        return "<none>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)


class _GoStyleDumper(yaml.SafeDumper):
    """Quote like kubectl's Go YAML: "12", not '12'."""

    def choose_scalar_style(self) -> str:
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line strings (last-applied-configuration, scripts) as `|` blocks, as Go's YAML does.
    style = "|" if "\n" in value and not value.startswith(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_GoStyleDumper.add_representer(str, _str)


def to_yaml(obj: Any) -> str:
    return yaml.dump(
        obj,
        Dumper=_GoStyleDumper,
        default_flow_style=False,
        sort_keys=True,
        allow_unicode=True,
        width=1 << 30,
    )


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=4, sort_keys=True, ensure_ascii=False) + "\n"


def as_list(items: list[dict]) -> dict:
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


# ---------------------------------------------------------------- jsonpath
class JsonPathError(KubeError):
    pass


_TOKEN = re.compile(r"\{((?:[^{}\"]|\"(?:\\.|[^\"\\])*\")*)\}")


def jsonpath(template: str, data: Any) -> str:
    """kubectl's JSONPath template: text outside {} is literal; inside: .a.b, [*], [0], [?(@.k=="v")],
    {range EXPR}...{end}, and string literals {"\\n"}."""
    parts: list[tuple[str, str]] = []
    pos = 0
    for m in _TOKEN.finditer(template):
        if m.start() > pos:
            parts.append(("text", template[pos : m.start()]))
        parts.append(("expr", m.group(1).strip()))
        pos = m.end()
    if pos < len(template):
        parts.append(("text", template[pos:]))
    out, rest = _render(parts, data)
    if rest:
        raise JsonPathError("error parsing jsonpath: unexpected {end}")
    return out


def _render(parts: list[tuple[str, str]], data: Any) -> tuple[str, list]:
    out = []
    while parts:
        kind, val = parts.pop(0)
        if kind == "text":
            out.append(val)
        elif val == "end":
            return "".join(out), [("end", ""), *parts]
        elif re.match(r"range\b", val):
            body, depth = [], 1
            while parts:
                p = parts.pop(0)
                if p[0] == "expr" and re.match(r"range\b", p[1]):
                    depth += 1
                elif p[0] == "expr" and p[1] == "end":
                    depth -= 1
                    if depth == 0:
                        break
                body.append(p)
            else:
                raise JsonPathError("error parsing jsonpath: {range} without {end}")
            for item in evaluate(val[len("range") :].strip(), data):
                text, _ = _render(list(body), item)
                out.append(text)
        elif val.startswith('"'):
            out.append(json.loads(val))
        else:
            values = evaluate(val, data)
            out.append(" ".join(_scalar(v) for v in values))
    return "".join(out), []


def _scalar(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return "" if v is None else str(v)


_STEP = re.compile(r"\.\.?([A-Za-z0-9_\-/$]+|\*)|\[([^\]]*)\]|\.(?=\[)")
_FILTER = re.compile(r"\?\(@\.([\w.\-/]+)\s*(==|!=)\s*(['\"])(.*?)\3\)")


def evaluate(expr: str, data: Any) -> list[Any]:
    expr = expr.strip()
    if expr in ("", ".", "$", "@"):
        return [data]
    if expr.startswith(("$", "@")):
        expr = expr[1:]
    current = [data]
    pos = 0
    while pos < len(expr):
        m = _STEP.match(expr, pos)
        if not m:
            raise JsonPathError(f"error parsing jsonpath {expr!r} at {expr[pos:]!r}")
        pos = m.end()
        nxt: list[Any] = []
        if m.group(0).startswith("..") and m.group(1):
            for c in current:
                nxt.extend(_descend(c, m.group(1)))
        elif m.group(1) is not None:
            key = m.group(1)
            for c in current:
                if key == "*":
                    nxt.extend(c.values() if isinstance(c, dict) else c if isinstance(c, list) else [])
                elif isinstance(c, dict) and key in c:
                    nxt.append(c[key])
        elif m.group(2) is not None:
            sel = m.group(2).strip()
            for c in current:
                nxt.extend(_select(c, sel))
        else:
            nxt = current
        current = nxt
    return current


def _descend(node: Any, key: str) -> list[Any]:
    found = []
    if isinstance(node, dict):
        if key in node:
            found.append(node[key])
        for v in node.values():
            found.extend(_descend(v, key))
    elif isinstance(node, list):
        for v in node:
            found.extend(_descend(v, key))
    return found


def _select(node: Any, sel: str) -> list[Any]:
    if sel == "*":
        return list(node) if isinstance(node, list) else list(node.values()) if isinstance(node, dict) else []
    f = _FILTER.fullmatch(sel)
    if f:
        path, op, _, want = f.groups()
        hits = []
        for item in node if isinstance(node, list) else []:
            got = evaluate("." + path, item)
            ok = bool(got) and _scalar(got[0]) == want
            if (op == "==") == ok:
                hits.append(item)
        return hits
    if sel.startswith(("'", '"')):
        key = sel[1:-1]
        return [node[key]] if isinstance(node, dict) and key in node else []
    if not isinstance(node, list):
        return []
    if ":" in sel:
        a, _, b = sel.partition(":")
        return node[int(a) if a else None : int(b) if b else None]
    try:
        i = int(sel)
    except ValueError:
        raise JsonPathError(f"error parsing jsonpath: bad index [{sel}]") from None
    if -len(node) <= i < len(node):
        return [node[i]]
    raise JsonPathError(f"array index out of bounds: index {i}, length {len(node)}")


# ---------------------------------------------------------------- Go's text/tabwriter
def gotab(text: str, minwidth: int = 0, padding: int = 2) -> str:
    """Align tab-separated cells exactly as Go's text/tabwriter (what `kubectl describe` uses).

    A column is aligned over a *block*: the consecutive lines that have a tab-terminated cell
    in that column; a line with fewer cells ends the block (so sections align on their own).
    """
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def write(lo: int, hi: int) -> None:
        for cells in lines[lo:hi]:
            parts = []
            for j, c in enumerate(cells):
                parts.append(c.ljust(widths[j]) if j < len(widths) else c)
            out.append("".join(parts))

    def fmt(lo: int, hi: int) -> None:
        column = len(widths)
        this = lo
        while this < hi:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(lo, this)
            lo = this
            width = minwidth
            while this < hi and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(lo, this)
            widths.pop()
            lo = this
        write(lo, hi)

    fmt(0, len(lines))
    return "\n".join(out)
