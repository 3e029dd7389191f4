"""`mkpy get`: kubectl get, printing the server's own Tables.

The columns are not computed here. Like kubectl, we ask the API server for a
`meta.k8s.io/v1 Table` (the `Accept` header in TABLE_ACCEPT) and print its cells:
the server (minikube_py/api/tables.py) is the one place that knows what READY or
STATUS of a pod means. `-o yaml|json|name|jsonpath` read the plain objects instead.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from minikube_py.api.errors import ApiError
from minikube_py.api.resources import Resource

from . import printers
from .kubeclient import (
    TABLE_ACCEPT,
    Kube,
    KubeError,
    api_path,
    kind_prefix,
    kube_options,
    server_error,
    split_type_name,
    stamp,
)


def fetch_table(kube: Kube, res: Resource, ns: str | None, name: str | None, query: dict) -> dict:
    return kube.client.request_accept("GET", api_path(res, ns, name or ""), TABLE_ACCEPT, query)


def sort_key(expr: str) -> Any:
    path = expr if expr.startswith("{") else "{" + expr + "}"
    inner = path[1:-1]

    def key(obj: dict) -> tuple:
        vals = printers.evaluate(inner, obj)
        v = vals[0] if vals else None
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return (0, v, "")
        return (1, 0, "" if v is None else printers._scalar(v))

    return key


class TablePrinter:
    """Rows of one or more kinds, printed as kubectl does (one aligned block per kind)."""

    def __init__(self, wide: bool, all_ns: bool, prefix: bool, show_labels: bool) -> None:
        self.wide, self.all_ns, self.prefix, self.show_labels = wide, all_ns, prefix, show_labels
        self.blocks = 0

    def columns(self, table: dict) -> list[int]:
        return [
            i
            for i, c in enumerate(table.get("columnDefinitions") or [])
            if self.wide or not c.get("priority")
        ]

    def header(self, table: dict) -> list[str]:
        cols = table.get("columnDefinitions") or []
        head = [cols[i]["name"].upper() for i in self.columns(table)]
        if self.all_ns:
            head.insert(0, "NAMESPACE")
        if self.show_labels:
            head.append("LABELS")
        return head

    def row(self, res: Resource, table: dict, row: dict, idx: list[int]) -> list[str]:
        cells = [printers.cell_text(row["cells"][i]) for i in idx]
        meta = (row.get("object") or {}).get("metadata") or {}
        if self.prefix and cells:
            cells[0] = f"{kind_prefix(res)}/{cells[0]}"
        if self.all_ns:
            cells.insert(0, meta.get("namespace") or "")
        if self.show_labels:
            labels = meta.get("labels") or {}
            cells.append(",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>")
        return cells

    def block(self, res: Resource, table: dict, rows: list[dict]) -> str:
        idx = self.columns(table)
        lines = [self.header(table)] + [self.row(res, table, r, idx) for r in rows]
        text = printers.tabulate(lines)
        if self.blocks:
            text = "\n" + text
        self.blocks += 1
        return text


@click.command("get", context_settings={"ignore_unknown_options": False})
@click.argument("args", nargs=-1)
@click.option("-o", "--output", help="wide|yaml|json|name|jsonpath=TEMPLATE")
@click.option("-l", "--selector", help="Label selector, e.g. app=myapp,tier!=db")
@click.option("--field-selector", help="Field selector, e.g. status.phase=Running")
@click.option("-A", "--all-namespaces", is_flag=True, help="List across all namespaces.")
@click.option("-w", "--watch", is_flag=True, help="After listing, watch for changes.")
@click.option("--watch-only", is_flag=True, help="Watch for changes without listing first.")
@click.option("--sort-by", help="Sort by a JSONPath, e.g. .metadata.creationTimestamp")
@click.option("--show-labels", is_flag=True, help="Show every object's labels as the last column.")
@click.option("--no-headers", is_flag=True, help="Do not print the column headers.")
@kube_options
def get(
    kube: Kube,
    args: tuple[str, ...],
    output: str | None,
    selector: str | None,
    field_selector: str | None,
    all_namespaces: bool,
    watch: bool,
    watch_only: bool,
    sort_by: str | None,
    show_labels: bool,
    no_headers: bool,
) -> None:
    """Display one or many resources: `get pods,services`, `get deploy myapp -o yaml`, `get po -A -w`."""
    targets = split_type_name(args)
    ns = None if all_namespaces else kube.namespace
    fmt, _, template = (output or "").partition("=")
    if fmt and fmt not in ("wide", "yaml", "json", "name", "jsonpath"):
        raise KubeError(
            f"unable to match a printer suitable for the output format {output!r}, allowed formats are: "
            "json,jsonpath,name,wide,yaml"
        )
    if fmt == "jsonpath" and not template:
        raise KubeError("template format specified but no template given")
    kinds: list[Resource] = []
    for r, _ in targets:
        if r not in kinds:
            kinds.append(r)
    named = any(n for _, n in targets)
    query = {"labelSelector": selector, "fieldSelector": field_selector}
    errors: list[str] = []

    if watch or watch_only:
        if len(kinds) > 1:
            raise KubeError("you may only specify a single resource type")
        return _watch(kube, kinds[0], ns, targets, query, fmt, template, watch_only, all_namespaces)

    if fmt in ("", "wide"):
        printer = TablePrinter(fmt == "wide", all_namespaces, len(kinds) > 1, show_labels)
        out = []
        for res in kinds:
            names = [n for r, n in targets if r is res and n]
            q = dict(query, includeObject="Object" if sort_by else "Metadata")
            tables = []
            if names:
                for n in names:
                    try:
                        tables.append(fetch_table(kube, res, ns or kube.namespace, n, q))
                    except ApiError as e:
                        if e.reason != "NotFound":
                            raise
                        errors.append(server_error(e))
            else:
                tables.append(fetch_table(kube, res, ns, None, q))
            rows = [r for t in tables for r in t.get("rows") or []]
            if not rows:
                continue
            if sort_by:
                key = sort_key(sort_by)
                rows.sort(key=lambda r: key(r.get("object") or {}))
            text = printer.block(res, tables[0], rows)
            if no_headers:
                text = "\n".join(
                    line
                    for i, line in enumerate(text.split("\n"))
                    if i != (1 if text.startswith("\n") else 0)
                )
            out.append(text)
        sys.stdout.write("".join(out))
        if not out and not errors:
            _no_resources(ns, all_namespaces, kinds)
    else:
        items: list[dict] = []
        for res in kinds:
            names = [n for r, n in targets if r is res and n]
            if names:
                for n in names:
                    try:
                        items.append(stamp(res, kube.client.get(res, n, ns or kube.namespace)))
                    except ApiError as e:
                        if e.reason != "NotFound":
                            raise
                        errors.append(server_error(e))
            else:
                listed = kube.client.request("GET", api_path(res, ns), query=query)
                items.extend(stamp(res, o) for o in listed.get("items") or [])
        if sort_by:
            items.sort(key=sort_key(sort_by))
        single = named and len(targets) == 1 and len(items) == 1
        if fmt == "name":
            for o in items:
                sys.stdout.write(f"{kind_prefix(_res_of(o, kinds))}/{o['metadata']['name']}\n")
        elif items or single:
            doc = items[0] if single else printers.as_list(items)
            if fmt == "yaml":
                sys.stdout.write(printers.to_yaml(doc))
            elif fmt == "json":
                sys.stdout.write(printers.to_json(doc))
            else:
                sys.stdout.write(printers.jsonpath(template, doc))
        if not items and not errors and fmt == "name":
            _no_resources(ns, all_namespaces, kinds)
    for e in errors:
        click.echo(e, err=True)
    if errors:
        sys.exit(1)


def _res_of(obj: dict, kinds: list[Resource]) -> Resource:
    for r in kinds:
        if r.kind == obj.get("kind"):
            return r
    return kinds[0]


def _no_resources(ns: str | None, all_ns: bool, kinds: list[Resource]) -> None:
    if all_ns or not any(r.namespaced for r in kinds):
        click.echo("No resources found", err=True)
    else:
        click.echo(f"No resources found in {ns} namespace.", err=True)


def _watch(
    kube: Kube,
    res: Resource,
    ns: str | None,
    targets: list,
    query: dict,
    fmt: str,
    template: str,
    watch_only: bool,
    all_ns: bool,
) -> None:
    """List, then print one line (or document) per change, as `kubectl get -w` does."""
    names = {n for _, n in targets if n}
    q = dict(query)
    if len(names) == 1:
        q["fieldSelector"] = f"metadata.name={next(iter(names))}"
    table_mode = fmt in ("", "wide")
    printer = TablePrinter(fmt == "wide", all_ns, False, False)
    widths: list[int] = []

    def emit_rows(lines: list[list[str]]) -> None:
        nonlocal widths
        for line in lines:
            while len(widths) < len(line):
                widths.append(0)
            for i, c in enumerate(line[:-1]):
                widths[i] = max(widths[i], len(c) + 3, 6)
            sys.stdout.write("".join(c.ljust(widths[i]) for i, c in enumerate(line[:-1])) + line[-1] + "\n")
        sys.stdout.flush()

    def emit_obj(obj: dict) -> None:
        obj = stamp(res, obj)
        if fmt == "name":
            sys.stdout.write(f"{kind_prefix(res)}/{obj['metadata']['name']}\n")
        elif fmt == "json":
            sys.stdout.write(printers.to_json(obj))
        elif fmt == "yaml":
            sys.stdout.write("---\n" + printers.to_yaml(obj))
        else:
            sys.stdout.write(printers.jsonpath(template, obj))
        sys.stdout.flush()

    header_done = False
    rv = None
    if table_mode:
        table = fetch_table(kube, res, ns, None, dict(q, includeObject="Metadata"))
        rv = (table.get("metadata") or {}).get("resourceVersion")
        idx = printer.columns(table)
        rows = [] if watch_only else [printer.row(res, table, r, idx) for r in table.get("rows") or []]
        if rows or watch_only:
            emit_rows([printer.header(table), *rows])
            header_done = True
        elif not rows:
            _no_resources(ns, all_ns, [res])
        columns = table
    else:
        listed = kube.client.request("GET", api_path(res, ns), query=q)
        rv = (listed.get("metadata") or {}).get("resourceVersion")
        if not watch_only:
            for o in listed.get("items") or []:
                emit_obj(o)
    wq = dict(q, watch="true", resourceVersion=rv)
    path = api_path(res, ns)
    for line in kube.client.stream(path, wq, TABLE_ACCEPT if table_mode else "application/json"):
        ev = json.loads(line)
        if ev.get("type") == "ERROR":
            raise ApiError.from_status(ev["object"])
        obj = ev.get("object") or {}
        if not table_mode:
            emit_obj(obj)
            continue
        if obj.get("columnDefinitions"):
            columns = obj
        idx = printer.columns(columns)
        lines = [printer.row(res, columns, r, idx) for r in obj.get("rows") or []]
        if not header_done:
            lines.insert(0, printer.header(columns))
            header_done = True
        emit_rows(lines)
