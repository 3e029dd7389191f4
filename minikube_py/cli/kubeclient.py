"""What every kubectl-style verb of `mkpy` shares: the kubeconfig, the client, names, errors.

The verbs talk only to the API server, over the same HTTP API kubectl uses, with
`minikube_py.api.client.Client`. The kubeconfig is found the way kubectl finds it:
`--kubeconfig`, then `$KUBECONFIG`, then the node's `/etc/mkpy/admin.kubeconfig`
(and `~/.kube/config` last). The context decides the server, the token and the
default namespace; `--context` and `-n` override them.
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import ssl
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import click
import yaml

from minikube_py.api.client import Client
from minikube_py.api.errors import ApiError
from minikube_py.api.resources import RESOURCES, Resource

NODE_KUBECONFIG = "/etc/mkpy/admin.kubeconfig"
TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io, application/json"
NOT_RUNNING = "the node is not running: run `sudo mkpy up`"


class KubeError(click.ClickException):
    """A short message for the user; exit code 1 like kubectl's."""

    def show(self, file: Any = None) -> None:
        msg = self.format_message()
        click.echo(msg if msg.startswith("Error") else f"error: {msg}", err=True)


class KubeClient(Client):
    """The API client plus what printing needs: server-side Tables and raw streams."""

    def request_accept(self, method: str, path: str, accept: str, query: dict | None = None) -> Any:
        self._accept = accept
        try:
            return self.request(method, path, query=query)
        finally:
            self._accept = None

    def _headers(self, content_type: str | None) -> dict[str, str]:
        h = super()._headers(content_type)
        h["User-Agent"] = "mkpy-kubectl"
        if getattr(self, "_accept", None):
            h["Accept"] = self._accept
        return h

    def stream(self, path: str, query: dict[str, Any] | None = None, accept: str = "*/*") -> Iterator[bytes]:
        """GET a streaming endpoint (pods/log, watch) on its own connection; yields lines."""
        if query:
            q = {k: ("true" if v is True else v) for k, v in query.items() if v not in (None, False)}
            if q:
                path += "?" + urllib.parse.urlencode(q)
        conn = self._connect(None)
        try:
            conn.request("GET", path, headers=super()._headers(None) | {"Accept": accept})
            resp = conn.getresponse()
            if resp.status >= 300:
                raw = resp.read()
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                if isinstance(body, dict) and body.get("kind") == "Status":
                    raise ApiError.from_status(body, resp.status)
                raise ApiError("InternalError", raw.decode(errors="replace").strip(), code=resp.status)
            while True:
                line = resp.readline()
                if not line:
                    return
                yield line
        finally:
            conn.close()


@dataclass
class Kube:
    """The resolved connection: a client and the namespace commands default to."""

    client: KubeClient
    namespace: str
    explicit_namespace: bool
    kubeconfig: str
    context: str | None


def find_kubeconfig(flag: str | None) -> str:
    if flag:
        return flag
    env = os.environ.get("KUBECONFIG")
    if env:
        # KUBECONFIG may list several files; like kubectl, the first that exists wins for us.
        for part in env.split(os.pathsep):
            if part and os.path.exists(part):
                return part
    for candidate in (NODE_KUBECONFIG, os.path.expanduser("~/.kube/config")):
        if os.path.exists(candidate):
            return candidate
    raise KubeError(f"no kubeconfig found ({NODE_KUBECONFIG}): {NOT_RUNNING}")


def connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> Kube:
    path = find_kubeconfig(kubeconfig)
    try:
        with open(path) as f:
            cfg = yaml.safe_load(f) or {}
    except OSError as e:
        raise KubeError(f"cannot read kubeconfig {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise KubeError(f"kubeconfig {path} is not valid YAML: {e}") from None
    ctx_name = context or cfg.get("current-context")
    ctx = next((c.get("context") or {} for c in cfg.get("contexts") or [] if c.get("name") == ctx_name), None)
    if ctx is None:
        raise KubeError(f"context was not found for specified context: {ctx_name}")
    try:
        client = KubeClient.from_kubeconfig(path, ctx_name)
    except (KeyError, StopIteration, ValueError) as e:
        raise KubeError(f"kubeconfig {path}: incomplete context {ctx_name!r}: {e}") from None
    ns = namespace or ctx.get("namespace") or "default"
    return Kube(client, ns, bool(namespace), path, ctx_name)


def kube_options(f: Callable) -> Callable:
    """--kubeconfig/--context/-n on a command, and kubectl-style error handling around it."""

    @click.option("--kubeconfig", envvar=None, help="Path to the kubeconfig file.")
    @click.option("--context", "context_", help="The kubeconfig context to use.")
    @click.option("-n", "--namespace", help="The namespace for this request.")
    @functools.wraps(f)
    def wrapper(kubeconfig: str | None, context_: str | None, namespace: str | None, **kw: Any) -> Any:
        ctx = click.get_current_context(silent=True)
        given = (ctx.find_root().obj if ctx is not None else None) or {}
        kube = connect(
            kubeconfig or given.get("kubeconfig"),
            context_ or given.get("context"),
            namespace or given.get("namespace"),
        )
        try:
            return f(kube, **kw)
        except ApiError as e:
            raise KubeError(server_error(e)) from None
        except (ConnectionRefusedError, FileNotFoundError) as e:
            raise KubeError(f"{NOT_RUNNING} ({kube.client.server}: {e.strerror or e})") from None
        except ssl.SSLError as e:
            raise KubeError(f"TLS to {kube.client.server} failed: {e.reason}") from None
        except (OSError, http.client.HTTPException) as e:
            raise KubeError(f"cannot talk to the API server {kube.client.server}: {e}") from None
        except KeyboardInterrupt:
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, SystemExit):
            raise
        except Exception as e:
            if os.environ.get("MKPY_DEBUG"):
                raise
            raise KubeError(f"{type(e).__name__}: {e} (MKPY_DEBUG=1 shows where)") from None

    return wrapper


def server_error(e: ApiError) -> str:
    """kubectl's `Error from server (NotFound): deployments.apps "x" not found`; an Invalid object
    lists one bad field per line, as kubectl does."""
    details = e.details or {}
    causes = details.get("causes") or []
    if e.reason == "Invalid" and causes and details.get("kind"):
        lines = [
            f"* {c.get('field')}: {c.get('message')}" if c.get("field") else f"* {c.get('message')}"
            for c in causes
        ]
        return f'The {details["kind"]} "{details.get("name", "")}" is invalid: \n' + "\n".join(lines)
    return f"Error from server ({e.reason}): {e.message}"


# ---------------------------------------------------------------- naming resources
def resolve(name: str) -> Resource:
    """`po`, `pod`, `pods`, `Pod`, `deployments.apps`, `deploy` -> the resource (core/apps first)."""
    want, _, group = name.partition(".")
    low = want.lower()
    for r in RESOURCES:
        if group and r.group != group:
            continue
        if low in (r.plural, r.singular) or low in r.short_names or want == r.kind:
            return r
    raise KubeError(f'the server doesn\'t have a resource type "{name}"')


def kind_prefix(res: Resource) -> str:
    """How kubectl names an object in messages: `pod`, `service`, `deployment.apps`."""
    return f"{res.singular}.{res.group}" if res.group else res.singular


def split_type_name(args: tuple[str, ...]) -> list[tuple[Resource, str | None]]:
    """kubectl's argument forms: `TYPE`, `TYPE NAME...`, `TYPE1,TYPE2`, `TYPE/NAME TYPE/NAME`."""
    if not args:
        raise KubeError("you must specify the type of resource to get")
    if all("/" in a for a in args):
        out = []
        for a in args:
            t, _, n = a.partition("/")
            if not n:
                raise KubeError(f"arguments in resource/name form must have a single resource and name: {a}")
            out.append((resolve(t), n))
        return out
    if any("/" in a for a in args):
        raise KubeError(
            "there is no need to specify a resource type as a separate argument when passing "
            "arguments in resource/name form"
        )
    types: list[Resource] = []
    for t in args[0].split(","):
        if t == "all":
            # A category: every kind that lists "all" in discovery (pods, services, deployments, ...).
            types.extend(r for r in RESOURCES if "all" in r.categories and r not in types)
        elif t:
            types.append(resolve(t))
    if len(args) == 1:
        return [(r, None) for r in types]
    if len(types) > 1:
        raise KubeError("you may only specify a single resource type when naming objects")
    return [(types[0], n) for n in args[1:]]


def api_path(res: Resource, namespace: str | None, name: str = "", sub: str = "") -> str:
    return Client.path(res, namespace if res.namespaced else None, name, sub)


def stamp(res: Resource, obj: dict) -> dict:
    """List items come without apiVersion/kind; kubectl puts them back before printing."""
    return {"apiVersion": res.api_version, "kind": res.kind, **obj}


# ---------------------------------------------------------------- waiting
class Progress:
    """A rich spinner on a terminal; silent otherwise (scripts and tests read clean output)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._status: Any = None

    def __enter__(self) -> Progress:
        if sys.stderr.isatty():
            from rich.console import Console

            self._status = Console(stderr=True).status(self.text)
            self._status.__enter__()
        return self

    def update(self, text: str) -> None:
        if self._status is not None:
            self._status.update(text)

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(*exc)
