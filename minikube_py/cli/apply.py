"""`mkpy apply|create|delete|scale`: changing objects from manifests, as kubectl does.

`apply` is kubectl's *client-side apply*. It keeps what you applied last in the annotation
`kubectl.kubernetes.io/last-applied-configuration`, and on the next apply computes a
*three-way* strategic merge patch (see `three_way`):

- original = what you applied last (the annotation),
- modified = what you apply now,
- current  = what the server has (with defaults and other writers' changes).

Fields in original but not in modified are deleted; fields in modified that differ from
current are set; everything else on the server (defaults, status, fields someone else set)
is left alone. An empty patch means `unchanged`.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import click
import yaml

from minikube_py.api.errors import ApiError
from minikube_py.api.patch import MERGE_KEYS
from minikube_py.api.resources import Resource, by_kind

from .kubeclient import Kube, KubeError, Progress, kind_prefix, kube_options, server_error, split_type_name

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


# ---------------------------------------------------------------- reading manifests
def read_manifests(paths: tuple[str, ...], recursive: bool = False) -> Iterator[tuple[str, dict]]:
    """(source, object) for every document in files, directories (*.yaml|*.yml|*.json) and stdin."""
    if not paths:
        raise KubeError("must specify one of -f and -k")
    for path in paths:
        if path == "-":
            yield from _documents("STDIN", sys.stdin.read())
        elif os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for f in sorted(files):
                    if f.endswith((".yaml", ".yml", ".json")):
                        full = os.path.join(root, f)
                        with open(full) as fh:
                            yield from _documents(full, fh.read())
                if not recursive:
                    break
        else:
            try:
                with open(path) as fh:
                    text = fh.read()
            except OSError as e:
                raise KubeError(
                    f'the path "{path}" does not exist' if e.errno == 2 else f"{path}: {e}"
                ) from None
            yield from _documents(path, text)


def _documents(source: str, text: str) -> Iterator[tuple[str, dict]]:
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f": line {mark.line + 1}" if mark is not None else ""
        raise KubeError(f"error parsing {source}{where}: {getattr(e, 'problem', None) or e}") from None
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise KubeError(
                f"error validating {source}: a manifest must be a mapping, got {type(doc).__name__}"
            )
        if doc.get("kind") == "List" or (doc.get("kind", "").endswith("List") and "items" in doc):
            for item in doc.get("items") or []:
                yield source, item
        else:
            yield source, doc


def resource_of(source: str, obj: dict) -> Resource:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    name = (obj.get("metadata") or {}).get("name", "")
    if not api_version or not kind:
        missing = "apiVersion" if not api_version else "kind"
        raise KubeError(f'error validating "{source}": error validating data: {missing} not set')
    res = by_kind(api_version, kind)
    if res is None:
        raise KubeError(
            f'resource mapping not found for name: "{name}" namespace: "" from "{source}": '
            f'no matches for kind "{kind}" in version "{api_version}"'
        )
    if not name:
        raise KubeError(f'error validating "{source}": metadata.name is required')
    return res


def target_namespace(kube: Kube, res: Resource, obj: dict) -> str | None:
    if not res.namespaced:
        return None
    own = (obj.get("metadata") or {}).get("namespace")
    if own and kube.explicit_namespace and own != kube.namespace:
        raise KubeError(
            f'the namespace from the provided object "{own}" does not match the namespace '
            f"\"{kube.namespace}\". You must pass '--namespace={own}' to perform this operation."
        )
    return own or kube.namespace


# ---------------------------------------------------------------- three-way merge
def _go_json(obj: Any) -> str:
    """Go's json.Marshal of a map: sorted keys, no spaces."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def with_last_applied(obj: dict, namespace: str | None) -> dict:
    """The object as kubectl sends it: namespace filled in, the annotation set to itself."""
    modified = copy.deepcopy(obj)
    meta = modified.setdefault("metadata", {})
    if namespace:
        meta["namespace"] = namespace
    anns = meta.setdefault("annotations", {}) or {}
    meta["annotations"] = anns
    anns.pop(LAST_APPLIED, None)
    anns[LAST_APPLIED] = _go_json(modified) + "\n"
    return modified


def _key_for(field: str, items: list) -> str | None:
    if field == "ports":
        return "containerPort" if any(isinstance(i, dict) and "containerPort" in i for i in items) else "port"
    return MERGE_KEYS.get(field)


def three_way(original: dict | None, modified: dict, current: dict) -> dict:
    """The strategic merge patch that takes `current` to `modified`, deleting what `original`
    had and `modified` dropped. Keys only the server knows (defaults, status) are kept."""
    original = original or {}
    patch: dict[str, Any] = {}
    for k in original:
        if k not in modified and k in current:
            patch[k] = None
    for k, mv in modified.items():
        cv, ov = current.get(k), original.get(k)
        if isinstance(mv, dict) and isinstance(cv, dict):
            sub = three_way(ov if isinstance(ov, dict) else {}, mv, cv)
            if sub:
                patch[k] = sub
        elif isinstance(mv, list) and isinstance(cv, list) and mv and all(isinstance(i, dict) for i in mv):
            key = _key_for(k, mv + cv)
            if key is None or not all(key in i for i in mv):
                if mv != cv:
                    patch[k] = mv
                continue
            items = _list_diff(key, ov if isinstance(ov, list) else [], mv, cv)
            if items:
                patch[k] = items
                patch[f"$setElementOrder/{k}"] = [{key: i[key]} for i in mv]
        elif mv != cv:
            patch[k] = mv
    return patch


def _list_diff(key: str, original: list, modified: list, current: list) -> list:
    cur = {i.get(key): i for i in current if isinstance(i, dict)}
    mod_keys = {i[key] for i in modified}
    out: list[dict] = []
    for item in modified:
        if item[key] not in cur:
            out.append(item)
            continue
        orig = next((o for o in original if isinstance(o, dict) and o.get(key) == item[key]), {})
        sub = three_way(orig, item, cur[item[key]])
        if sub:
            out.append({key: item[key], **sub})
    for o in original:
        if isinstance(o, dict) and o.get(key) not in mod_keys and o.get(key) in cur:
            out.append({key: o[key], "$patch": "delete"})
    return out


def apply_one(kube: Kube, source: str, obj: dict, dry_run: str = "none") -> str:
    """Create or patch one object; `dry_run` "client" sends no write, "server" asks the server to
    validate and default the write without storing it."""
    res = resource_of(source, obj)
    ns = target_namespace(kube, res, obj)
    name = obj["metadata"]["name"]
    modified = with_last_applied(obj, ns)
    try:
        current = kube.client.get(res, name, ns)
    except ApiError as e:
        if e.reason != "NotFound":
            raise
        if dry_run != "client":
            kube.client.create(modified, ns, dry_run=dry_run == "server")
        return "created"
    last = ((current.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        original = json.loads(last) if last else None
    except ValueError:
        original = None
    patch = three_way(original, modified, current)
    if not patch:
        return "unchanged"
    if dry_run == "none":
        kube.client.patch(res, name, patch, ns, patch_type="strategic")
    return "configured"


def _each(kube: Kube, files: tuple[str, ...], recursive: bool, action: Any) -> None:
    failed = False
    for source, obj in list(read_manifests(files, recursive)):
        try:
            res = resource_of(source, obj)
            verb = action(source, obj)
        except ApiError as e:
            failed = True
            if e.reason == "Invalid":
                click.echo(server_error(e), err=True)
            else:
                click.echo(
                    f'Error from server ({e.reason}): error when creating "{source}": {e.message}', err=True
                )
            continue
        click.echo(f"{kind_prefix(res)}/{obj['metadata']['name']} {verb}")
    if failed:
        sys.exit(1)


@click.command("apply")
@click.option("-f", "--filename", "files", multiple=True, help="A file, a directory, or - for stdin.")
@click.option("-R", "--recursive", is_flag=True, help="Walk directories given with -f recursively.")
@click.option("--dry-run", type=click.Choice(["none", "client", "server"]), default="none")
@kube_options
def apply(kube: Kube, files: tuple[str, ...], recursive: bool, dry_run: str) -> None:
    """Create or update objects from manifests (kubectl's client-side apply)."""
    suffix = {"none": "", "client": " (dry run)", "server": " (server dry run)"}[dry_run]
    _each(kube, files, recursive, lambda src, obj: apply_one(kube, src, obj, dry_run) + suffix)


@click.command("create")
@click.option("-f", "--filename", "files", multiple=True, help="A file, a directory, or - for stdin.")
@click.option("-R", "--recursive", is_flag=True)
@click.option("--save-config", is_flag=True, help="Record the last-applied annotation, as apply would.")
@kube_options
def create(kube: Kube, files: tuple[str, ...], recursive: bool, save_config: bool) -> None:
    """Create objects from manifests; an object that exists is an error (AlreadyExists)."""

    def one(source: str, obj: dict) -> str:
        res = resource_of(source, obj)
        ns = target_namespace(kube, res, obj)
        kube.client.create(with_last_applied(obj, ns) if save_config else obj, ns)
        return "created"

    _each(kube, files, recursive, one)


# ---------------------------------------------------------------- delete
def wait_gone(kube: Kube, res: Resource, name: str, ns: str | None, uid: str | None, timeout: float) -> bool:
    """Block until the object (this uid) is gone: a watch on its name, not a sleep loop."""
    try:
        obj = kube.client.get(res, name, ns)
    except ApiError as e:
        if e.reason == "NotFound":
            return True
        raise
    if uid and obj["metadata"].get("uid") != uid:
        return True
    w = kube.client.watch(
        res,
        ns,
        resource_version=obj["metadata"]["resourceVersion"],
        field_selector=f"metadata.name={name}",
        timeout_seconds=max(1, int(timeout)),
    )
    return any(ev["type"] == "DELETED" for ev in w)


@click.command("delete")
@click.argument("args", nargs=-1)
@click.option("-f", "--filename", "files", multiple=True)
@click.option("-R", "--recursive", is_flag=True)
@click.option("-l", "--selector", help="Delete every object of TYPE matching this label selector.")
@click.option("--all", "all_", is_flag=True, help="Delete every object of TYPE in the namespace.")
# `--wait=false` as kubectl spells it (a bare `--wait` means true).
@click.option(
    "--wait", type=click.BOOL, default=True, is_flag=False, flag_value=True, help="Wait until gone."
)
@click.option("--grace-period", type=int, default=-1)
@click.option("--now", is_flag=True, help="Grace period 1 second.")
@click.option("--force", is_flag=True, help="Grace period 0: remove at once.")
@click.option("--cascade", type=click.Choice(["background", "foreground", "orphan"]), default="background")
@click.option("--ignore-not-found", is_flag=True)
@click.option("--timeout", type=float, default=0, help="Seconds to wait (0: a week, like kubectl).")
@kube_options
def delete(
    kube: Kube,
    args: tuple[str, ...],
    files: tuple[str, ...],
    recursive: bool,
    selector: str | None,
    all_: bool,
    wait: bool,
    grace_period: int,
    now: bool,
    force: bool,
    cascade: str,
    ignore_not_found: bool,
    timeout: float,
) -> None:
    """Delete objects: `-f FILE`, `TYPE NAME...`, `TYPE/NAME`, `TYPE -l app=x`, `TYPE --all`."""
    targets: list[tuple[Resource, str, str | None]] = []
    if files:
        for source, obj in read_manifests(files, recursive):
            res = resource_of(source, obj)
            targets.append((res, obj["metadata"]["name"], target_namespace(kube, res, obj)))
    elif args:
        pairs = split_type_name(args)
        for res, name in pairs:
            ns = kube.namespace if res.namespaced else None
            if name:
                targets.append((res, name, ns))
            elif selector or all_:
                listed = kube.client.list(res, ns, label_selector=selector)
                targets.extend((res, o["metadata"]["name"], ns) for o in listed.get("items") or [])
            else:
                raise KubeError(
                    "resource(s) were provided, but no name was specified "
                    f'("{res.plural}" needs a name, -l or --all)'
                )
        if not targets:
            click.echo("No resources found", err=True)
            return
    else:
        raise KubeError("You must provide one or more resources by argument or filename.")
    grace = 0 if force else 1 if now else (grace_period if grace_period >= 0 else None)
    if force:
        click.echo(
            "Warning: Immediate deletion does not wait for confirmation that the running resource "
            "has been terminated. The resource may continue to run on the cluster indefinitely.",
            err=True,
        )
    policy = {"background": "Background", "foreground": "Foreground", "orphan": "Orphan"}[cascade]
    failed = False
    deleted = []
    for res, name, ns in targets:
        try:
            gone = kube.client.delete(res, name, ns, grace_period_seconds=grace, propagation_policy=policy)
        except ApiError as e:
            if e.reason == "NotFound" and ignore_not_found:
                continue
            click.echo(server_error(e), err=True)
            failed = True
            continue
        click.echo(f'{kind_prefix(res)} "{name}" deleted')
        uid = (gone.get("metadata") or {}).get("uid") if isinstance(gone, dict) else None
        deleted.append((res, name, ns, uid))
    if wait and deleted and not force:
        limit = timeout or 7 * 24 * 3600
        with Progress("waiting for the objects to go away...") as p:
            for res, name, ns, uid in deleted:
                p.update(f'waiting for {kind_prefix(res)} "{name}" to go away...')
                if not wait_gone(kube, res, name, ns, uid, limit):
                    raise KubeError(f"timed out waiting for the condition on {res.plural}/{name}")
    if failed:
        sys.exit(1)


# ---------------------------------------------------------------- scale
@click.command("scale")
@click.argument("args", nargs=-1, required=True)
@click.option("--replicas", type=int, required=True, help="The new number of replicas.")
@click.option("--current-replicas", type=int, default=-1, help="Only scale if it has this many now.")
@kube_options
def scale(kube: Kube, args: tuple[str, ...], replicas: int, current_replicas: int) -> None:
    """Set the replicas of a Deployment or ReplicaSet through its /scale subresource."""
    if replicas < 0:
        raise KubeError("The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0")
    for res, name in split_type_name(args):
        if "scale" not in res.subresources:
            raise KubeError(f"no objects passed to scale: {res.plural} cannot be scaled")
        if not name:
            raise KubeError("resource(s) were provided, but no name was specified")
        if current_replicas >= 0:
            now = kube.client.get(res, name, kube.namespace, "scale")
            if (now.get("spec") or {}).get("replicas", 0) != current_replicas:
                raise KubeError(
                    f"Expected replicas to be {current_replicas}, was "
                    f"{(now.get('spec') or {}).get('replicas', 0)}"
                )
        kube.client.scale(res, name, replicas, kube.namespace)
        click.echo(f"{kind_prefix(res)}/{name} scaled")
