"""`mkpy logs`: a container's output, through the API server's `pods/NAME/log` subresource.

The API server does not keep logs: it forwards the request to the kubelet of the pod's node
(minikube_py/api/nodeproxy.py), which reads the container's log file. So `logs` is a plain
HTTP GET whose body is the log; with `-f` the body never ends and new lines keep coming.

With `-l app=myapp` (or `deployment/x --all-pods`) and `-f`, this is *stern*: it watches the
pods matching the selector and runs one stream per pod and container, each line prefixed
with a coloured `pod/container`, starting streams for pods that appear (or containers that
restart) and letting the streams of pods that go away end.
"""

from __future__ import annotations

import re
import sys
import threading
from typing import Any

import click

from minikube_py.api.errors import ApiError
from minikube_py.k8s.selectors import selector_string

from .kubeclient import Kube, KubeError, api_path, kube_options, resolve, server_error

COLORS = (31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96)
_DURATION = re.compile(r"(\d+)(h|m|s)")


def parse_since(text: str) -> int:
    """`10s`, `5m`, `1h30m` -> seconds (kubectl's --since)."""
    parts = _DURATION.findall(text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise KubeError(f'invalid argument "{text}" for "--since" flag: use a duration like 10s, 5m or 1h')
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def log_query(
    container: str,
    follow: bool,
    previous: bool,
    tail: int,
    since: str | None,
    since_time: str | None,
    timestamps: bool,
) -> dict[str, Any]:
    return {
        "container": container,
        "follow": follow,
        "previous": previous,
        "tailLines": tail if tail >= 0 else None,
        "sinceSeconds": parse_since(since) if since else None,
        "sinceTime": since_time,
        "timestamps": timestamps,
    }


def containers_of(pod: dict, all_containers: bool, wanted: str | None) -> list[str]:
    spec = pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    if wanted:
        return [wanted]
    if all_containers:
        return [c["name"] for c in spec.get("initContainers") or []] + names
    default = (pod["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
    if default in names:
        return [default]
    if len(names) > 1:
        click.echo(f'Defaulted container "{names[0]}" out of: {", ".join(names)}', err=True)
    return names[:1]


def started(pod: dict, container: str) -> tuple[bool, int]:
    """Has this container run at all (so the kubelet has a log), and how often has it restarted?"""
    st = pod.get("status") or {}
    for cs in (st.get("containerStatuses") or []) + (st.get("initContainerStatuses") or []):
        if cs.get("name") == container:
            state = cs.get("state") or {}
            return ("running" in state or "terminated" in state or bool(cs.get("lastState"))), cs.get(
                "restartCount", 0
            )
    return False, 0


class Printer:
    """Serialises whole lines from many streams; colours the prefix on a terminal."""

    def __init__(self, color: str) -> None:
        self.lock = threading.Lock()
        self.color = sys.stdout.isatty() if color == "auto" else color == "always"
        self.colors: dict[str, int] = {}

    def prefix(self, pod: str, container: str) -> str:
        text = f"{pod}/{container}"
        if not self.color:
            return text + " "
        code = self.colors.setdefault(pod, COLORS[len(self.colors) % len(COLORS)])
        return f"\x1b[{code}m{pod}\x1b[0m/\x1b[2m{container}\x1b[0m "

    def line(self, prefix: str, data: bytes) -> None:
        with self.lock:
            out = sys.stdout.buffer
            out.write(prefix.encode() + data if data.endswith(b"\n") else prefix.encode() + data + b"\n")
            out.flush()


def stream_one(
    kube: Kube, ns: str, pod: str, query: dict, prefix: str = "", printer: Printer | None = None
) -> None:
    path = api_path(resolve("pods"), ns, pod, "log")
    for chunk in kube.client.stream(path, query):
        if printer is not None:
            printer.line(prefix, chunk)
        else:
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()


class Stern:
    """Follow every container of every pod matching a selector, as pods come and go."""

    def __init__(
        self,
        kube: Kube,
        ns: str,
        selector: str,
        all_containers: bool,
        container: str | None,
        query: dict,
        printer: Printer,
    ) -> None:
        self.kube, self.ns, self.selector = kube, ns, selector
        self.all_containers, self.container, self.query, self.printer = (
            all_containers,
            container,
            query,
            printer,
        )
        self.active: dict[tuple[str, str], int] = {}  # (pod, container) -> restartCount being streamed
        self.lock = threading.Lock()

    def _run(self, pod: str, container: str, restarts: int, first: bool) -> None:
        q = dict(self.query, container=container, follow=True)
        if not first:
            # A restarted container or a pod seen after we started: its whole (new) log.
            q.pop("tailLines", None)
            q.pop("sinceSeconds", None)
        try:
            stream_one(self.kube, self.ns, pod, q, self.printer.prefix(pod, container), self.printer)
        except ApiError as e:
            if e.reason != "NotFound":
                click.echo(f"{pod}/{container}: {e.message}", err=True)
        except OSError:
            pass
        finally:
            with self.lock:
                if self.active.get((pod, container)) == restarts:
                    del self.active[(pod, container)]

    def consider(self, pod: dict, first: bool) -> None:
        if pod["metadata"].get("deletionTimestamp") and not first:
            return
        name = pod["metadata"]["name"]
        names = (
            containers_of(pod, True, None) if self.all_containers or not self.container else [self.container]
        )
        if not self.all_containers and not self.container:
            names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
        for c in names:
            ok, restarts = started(pod, c)
            if not ok:
                continue
            with self.lock:
                if self.active.get((name, c), -1) >= restarts:
                    continue
                self.active[(name, c)] = restarts
            threading.Thread(
                target=self._run, args=(name, c, restarts, first), daemon=True, name=f"mkpy-logs-{name}-{c}"
            ).start()

    def run(self) -> None:
        listed = self.kube.client.list("pods", self.ns, label_selector=self.selector)
        for p in listed.get("items") or []:
            self.consider(p, True)
        if not listed.get("items"):
            click.echo(f"waiting for pods matching {self.selector} in namespace {self.ns}...", err=True)
        for ev in self.kube.client.watch(
            "pods",
            self.ns,
            label_selector=self.selector,
            resource_version=listed["metadata"]["resourceVersion"],
        ):
            if ev["type"] in ("ADDED", "MODIFIED"):
                self.consider(ev["object"], False)


def pods_for(kube: Kube, target: str) -> tuple[list[dict], str | None]:
    """POD, pod/POD, deployment/NAME, rs/NAME, svc/NAME -> (pods, the selector used or None)."""
    kind, _, name = target.partition("/")
    if not name or resolve(kind).plural == "pods":
        pod = name or target
        try:
            return [kube.client.get("pods", pod, kube.namespace)], None
        except ApiError as e:
            if e.reason != "NotFound":
                raise
            # kubectl's wording for this one.
            raise KubeError(
                f'error from server (NotFound): pods "{pod}" not found in namespace "{kube.namespace}"'
            ) from None
    res = resolve(kind)
    obj = kube.client.get(res, name, kube.namespace)
    spec = obj.get("spec") or {}
    sel = spec.get("selector") or {}
    selector = (
        selector_string(sel)
        if "matchLabels" in sel or "matchExpressions" in sel
        else ",".join(f"{k}={v}" for k, v in sorted(sel.items()))
    )
    if not selector:
        raise KubeError(f"{target} has no selector, so it has no pods")
    pods = kube.client.list("pods", kube.namespace, label_selector=selector).get("items") or []
    pods.sort(key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]))
    if not pods:
        raise KubeError(f"timed out waiting for the condition: no pods of {target} yet")
    return pods, selector


@click.command("logs")
@click.argument("target", required=False)
@click.argument("container_arg", required=False)
@click.option("-c", "--container", help="The container (default: the only one, or the default-container).")
@click.option("-f", "--follow", is_flag=True, help="Keep streaming new lines.")
@click.option("-p", "--previous", is_flag=True, help="The previous (crashed) instance's log.")
@click.option("--tail", type=int, default=-1, help="Only the last N lines.")
@click.option("--since", help="Only lines newer than a duration: 10s, 5m, 1h.")
@click.option("--since-time", help="Only lines after an RFC3339 time.")
@click.option("--timestamps", is_flag=True, help="Prefix each line with its RFC3339 timestamp.")
@click.option("-l", "--selector", help="Every pod matching this label selector (stern-style with -f).")
@click.option("--all-containers", is_flag=True, help="Every container of the pod(s).")
@click.option("--all-pods", is_flag=True, help="With TYPE/NAME: every pod of it, not only the first.")
@click.option("--prefix", is_flag=True, help="Prefix each line with pod/container.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto")
@kube_options
def logs(
    kube: Kube,
    target: str | None,
    container_arg: str | None,
    container: str | None,
    follow: bool,
    previous: bool,
    tail: int,
    since: str | None,
    since_time: str | None,
    timestamps: bool,
    selector: str | None,
    all_containers: bool,
    all_pods: bool,
    prefix: bool,
    color: str,
) -> None:
    """Print a container's log: `logs POD`, `logs -f deployment/x --all-pods`, `logs -f -l app=x`."""
    container = container or container_arg
    if selector and target:
        raise KubeError("only one of a selector (-l) or a pod/TYPE/NAME may be given")
    if not selector and not target:
        raise KubeError("expected POD, TYPE/NAME or -l selector; see `mkpy logs --help`")
    query = log_query(
        "", follow, previous, tail if tail >= 0 or not selector else 10, since, since_time, timestamps
    )
    printer = Printer(color)
    if selector:
        pods = kube.client.list("pods", kube.namespace, label_selector=selector).get("items") or []
        many = True
    else:
        pods, found_by = pods_for(kube, target or "")
        if found_by and not all_pods and len(pods) > 1:
            click.echo(f"Found {len(pods)} pods, using pod/{pods[0]['metadata']['name']}", err=True)
            pods = pods[:1]
        many = all_pods and len(pods) > 1
        selector = found_by if all_pods else None
    if follow and selector and (many or all_pods):
        Stern(kube, kube.namespace, selector, all_containers, container, query, printer).run()
        return
    if not pods:
        click.echo(f"No resources found in {kube.namespace} namespace.", err=True)
        return
    show_prefix = prefix or (follow and len(pods) * (2 if all_containers else 1) > 1)
    sources = [(p["metadata"]["name"], c) for p in pods for c in containers_of(p, all_containers, container)]
    if follow and len(sources) > 1:
        threads = []
        for pod, c in sources:
            t = threading.Thread(
                target=stream_one,
                args=(kube, kube.namespace, pod, dict(query, container=c), printer.prefix(pod, c), printer),
                daemon=True,
            )
            t.start()
            threads.append(t)
        for t in threads:
            while t.is_alive():
                t.join(0.5)
        return
    failed = False
    for pod, c in sources:
        try:
            stream_one(
                kube,
                kube.namespace,
                pod,
                dict(query, container=c),
                printer.prefix(pod, c) if show_prefix else "",
                printer if show_prefix else None,
            )
        except ApiError as e:
            if len(sources) == 1:
                raise
            click.echo(server_error(e), err=True)
            failed = True
    if failed:
        sys.exit(1)
