"""`mkpy rollout status|history|undo|restart|pause|resume` for Deployments.

Nothing here is special in the API: `status` watches the Deployment and reads the
numbers the Deployment controller writes into `.status`; `restart` changes an annotation
in the pod template (a new template hash, so a new ReplicaSet); `undo` copies an old
ReplicaSet's template back (minikube_py/controllers/rollout.py, shared with the tests).
"""

from __future__ import annotations

import datetime as dt
import time

import click

from minikube_py.api.resources import Resource
from minikube_py.controllers import rollout as rollout_lib
from minikube_py.controllers.adapter import adapt

from . import printers
from .kubeclient import Kube, KubeError, Progress, kind_prefix, kube_options, split_type_name


def _deployment(args: tuple[str, ...]) -> tuple[Resource, str]:
    pairs = split_type_name(args)
    if len(pairs) != 1 or not pairs[0][1]:
        raise KubeError("required resource not specified: use `deployment/NAME` or `deployment NAME`")
    res, name = pairs[0]
    if res.plural != "deployments":
        raise KubeError(f'no rollout for "{res.plural}": only deployments are supported')
    return res, name or ""


def status_message(d: dict) -> tuple[str, bool]:
    """kubectl's DeploymentStatusViewer: (message, done)."""
    name = d["metadata"]["name"]
    spec, st = d.get("spec") or {}, d.get("status") or {}
    if d["metadata"].get("generation", 0) > st.get("observedGeneration", 0):
        return "Waiting for deployment spec update to be observed...", False
    for c in st.get("conditions") or []:
        if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
            raise KubeError(f'deployment "{name}" exceeded its progress deadline')
    want = spec.get("replicas", 1)
    updated = st.get("updatedReplicas", 0)
    total = st.get("replicas", 0)
    available = st.get("availableReplicas", 0)
    if updated < want:
        return (
            f'Waiting for deployment "{name}" rollout to finish: {updated} out of {want} new replicas '
            "have been updated...",
            False,
        )
    if total > updated:
        return (
            f'Waiting for deployment "{name}" rollout to finish: {total - updated} old replicas are '
            "pending termination...",
            False,
        )
    if available < updated:
        return (
            f'Waiting for deployment "{name}" rollout to finish: {available} of {updated} updated '
            "replicas are available...",
            False,
        )
    return f'deployment "{name}" successfully rolled out', True


@click.group("rollout")
def rollout() -> None:
    """Manage the rollout of a Deployment."""


@rollout.command("status")
@click.argument("args", nargs=-1, required=True)
@click.option("-w", "--watch", type=click.BOOL, default=True, is_flag=False, flag_value=True)
@click.option("--timeout", type=float, default=0, help="Seconds before giving up (0: forever).")
@kube_options
def status(kube: Kube, args: tuple[str, ...], watch: bool, timeout: float) -> None:
    """Wait until the Deployment's new ReplicaSet is fully rolled out (watch, no polling)."""
    res, name = _deployment(args)
    d = kube.client.get(res, name, kube.namespace)
    msg, done = status_message(d)
    click.echo(msg)
    if done or not watch:
        return
    deadline = time.monotonic() + timeout if timeout else None
    last = msg
    with Progress(msg) as p:
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise KubeError("timed out waiting for the condition")
            w = kube.client.watch(
                res,
                kube.namespace,
                resource_version=d["metadata"]["resourceVersion"],
                field_selector=f"metadata.name={name}",
                timeout_seconds=int(remaining) + 1 if remaining else 60,
            )
            for ev in w:
                if ev["type"] == "DELETED":
                    raise KubeError(f'deployment "{name}" was deleted')
                d = ev["object"]
                msg, done = status_message(d)
                if msg != last:
                    click.echo(msg)
                    p.update(msg)
                    last = msg
                if done:
                    return


@rollout.command("history")
@click.argument("args", nargs=-1, required=True)
@click.option("--revision", type=int, default=0, help="Show the pod template of this revision.")
@kube_options
def history(kube: Kube, args: tuple[str, ...], revision: int) -> None:
    """List the revisions (one per ReplicaSet the Deployment owns)."""
    res, name = _deployment(args)
    client = adapt(kube.client)
    revs = rollout_lib.history(client, kube.namespace, name)
    if revision:
        hit = next((r for r in revs if r["revision"] == revision), None)
        if hit is None:
            raise KubeError(f"unable to find the specified revision {revision}")
        rs = kube.client.get("replicasets", hit["replicaSet"], kube.namespace)
        tpl = (rs.get("spec") or {}).get("template") or {}
        click.echo(f"{kind_prefix(res)}/{name} with revision #{revision}")
        click.echo(printers.to_yaml(tpl).rstrip())
        return
    click.echo(f"{kind_prefix(res)}/{name} ")
    rows = [["REVISION", "CHANGE-CAUSE"]] + [[str(r["revision"]), r["changeCause"] or "<none>"] for r in revs]
    click.echo(printers.gotab("\n".join("\t".join(r) for r in rows) + "\n"))


@rollout.command("undo")
@click.argument("args", nargs=-1, required=True)
@click.option(
    "--to-revision", type=int, default=0, help="The revision to roll back to (0: the previous one)."
)
@kube_options
def undo(kube: Kube, args: tuple[str, ...], to_revision: int) -> None:
    """Roll back to an earlier pod template."""
    res, name = _deployment(args)
    client = adapt(kube.client)
    before = kube.client.get(res, name, kube.namespace)
    try:
        after = rollout_lib.undo(client, kube.namespace, name, to_revision)
    except rollout_lib.RolloutError as e:
        raise KubeError(str(e)) from None
    if after["metadata"].get("resourceVersion") == before["metadata"].get("resourceVersion"):
        click.echo(
            f"{kind_prefix(res)}/{name} skipped rollback (current template already matches revision "
            f"{to_revision or 'previous'})"
        )
        return
    click.echo(f"{kind_prefix(res)}/{name} rolled back")


@rollout.command("restart")
@click.argument("args", nargs=-1, required=True)
@kube_options
def restart(kube: Kube, args: tuple[str, ...]) -> None:
    """Replace every pod: a new `restartedAt` annotation in the pod template makes a new ReplicaSet."""
    res, name = _deployment(args)
    d = kube.client.get(res, name, kube.namespace)
    if (d.get("spec") or {}).get("paused"):
        raise KubeError(
            f'deployments.apps "{name}" can\'t restart paused deployment (run rollout resume first)'
        )
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": now}}}}}
    kube.client.patch(res, name, patch, kube.namespace, patch_type="strategic")
    click.echo(f"{kind_prefix(res)}/{name} restarted")


def _pause(paused: bool):
    verb = "paused" if paused else "resumed"

    @kube_options
    def cmd(kube: Kube, args: tuple[str, ...]) -> None:
        res, name = _deployment(args)
        d = kube.client.get(res, name, kube.namespace)
        if bool((d.get("spec") or {}).get("paused")) == paused:
            raise KubeError(f"{kind_prefix(res)}/{name} is already {verb}")
        kube.client.patch(res, name, {"spec": {"paused": paused}}, kube.namespace, patch_type="strategic")
        click.echo(f"{kind_prefix(res)}/{name} {verb}")

    cmd.__doc__ = f"Mark the Deployment as {verb}."
    return click.argument("args", nargs=-1, required=True)(cmd)


rollout.command("pause")(_pause(True))
rollout.command("resume")(_pause(False))
