"""The scheduler loop: pick a node for every pod that has none, and bind it.

For each pending pod (spec.nodeName empty, spec.schedulerName default-scheduler):
1. snapshot the nodes and the pods on them (from informers, plus pods we bound a moment
   ago that the cache has not shown yet: "assumed" pods, so two quick decisions do not
   both spend the same free memory);
2. filter: every node runs plugins.FILTERS; the survivors are feasible;
3. score the feasible nodes (least allocated + spread of the pod's owner), take the best;
4. POST pods/<name>/binding; the API server sets spec.nodeName and the kubelet of that
   node takes over.
If no node fits: the pod gets condition PodScheduled=False/Unschedulable with
kube-scheduler's message, a FailedScheduling event says the same, and the pod is tried
again when a node or pod changes (something may have freed up) or after retry_interval.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from minikube_py.api.informer import InformerFactory
from minikube_py.controllers.client import ApiClient, is_conflict, is_not_found
from minikube_py.controllers.events import NORMAL, WARNING, EventRecorder
from minikube_py.controllers.podutil import is_terminal
from minikube_py.controllers.workqueue import WorkQueue
from minikube_py.k8s.meta import is_deleting, key_of, now_rfc3339, split_key

from . import plugins
from .plugins import NodeInfo

log = logging.getLogger(__name__)
Obj = dict[str, Any]
DEFAULT_SCHEDULER = "default-scheduler"


class Scheduler:
    def __init__(
        self,
        *,
        name: str = DEFAULT_SCHEDULER,
        retry_interval: float = 10.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name, self.retry_interval, self.clock = name, retry_interval, clock
        self.rng = rng or random.Random()
        self.queue = WorkQueue(base_delay=0.1, max_delay=10.0)
        self.assumed: dict[str, tuple[str, Obj]] = {}  # pod key -> (node, pod as bound)
        self.unschedulable: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.client: ApiClient | None = None
        self.informers: InformerFactory | None = None
        self._own_informers = False
        self.scheduled = 0
        self.failed = 0

    # ------------------------------------------------------------ wiring
    def attach(
        self,
        client: ApiClient,
        informers: InformerFactory | None = None,
        recorder: EventRecorder | None = None,
    ) -> None:
        self.client = client
        self._own_informers = informers is None
        self.informers = informers or InformerFactory(client)
        self.recorder = recorder or EventRecorder(client, self.name, clock=self.clock)
        self.pods = self.informers.informer("pods")
        self.nodes = self.informers.informer("nodes")
        self.pods.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.nodes.add_handler(
            lambda n: self._retry_unschedulable(), lambda o, n: self._retry_unschedulable(), None
        )

    def start(self, client: ApiClient) -> None:
        """Run in background threads against `client` until stop()."""
        from minikube_py.controllers.adapter import adapt

        self.attach(adapt(client))
        assert self.informers is not None
        self.recorder.start_background()
        self.informers.start()
        self.informers.wait_for_sync(30)
        t = threading.Thread(target=self._worker, name="scheduler", daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self) -> None:
        self.queue.shutdown()
        if self.informers is not None and self._own_informers:
            self.informers.stop()
        for t in self._threads:
            t.join(5)
        if getattr(self, "recorder", None) is not None:
            self.recorder.stop_background()

    # ------------------------------------------------------------ events -> queue
    def _wants(self, pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        return (
            not spec.get("nodeName")
            and (spec.get("schedulerName") or DEFAULT_SCHEDULER) == self.name
            and not is_deleting(pod)
            and not is_terminal(pod)
        )

    def _pod_added(self, pod: Obj) -> None:
        if self._wants(pod):
            self.queue.add(key_of(pod))

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = key_of(new)
        if (new.get("spec") or {}).get("nodeName"):
            with self._lock:
                self.assumed.pop(key, None)  # the cache caught up with our binding
                self.unschedulable.discard(key)
        elif self._wants(new) and (old.get("spec") != new.get("spec") or key not in self.unschedulable):
            self.queue.add(key)

    def _pod_deleted(self, pod: Obj) -> None:
        key = key_of(pod)
        with self._lock:
            self.assumed.pop(key, None)
            self.unschedulable.discard(key)
        if (pod.get("spec") or {}).get("nodeName"):
            self._retry_unschedulable()  # its resources are free now

    def _retry_unschedulable(self) -> None:
        with self._lock:
            keys = list(self.unschedulable)
        for k in keys:
            self.queue.add(k)

    # ------------------------------------------------------------ the cycle
    def snapshot(self) -> list[NodeInfo]:
        infos = {n["metadata"]["name"]: NodeInfo(n) for n in self.nodes.list()}
        seen = set()
        for p in self.pods.list():
            node = (p.get("spec") or {}).get("nodeName")
            if node in infos and not is_terminal(p):
                infos[node].pods.append(p)
                seen.add(key_of(p))
        with self._lock:
            for key, (node, pod) in self.assumed.items():
                if key not in seen and node in infos:
                    infos[node].pods.append(pod)
        return sorted(infos.values(), key=lambda ni: ni.name)

    def find_node(self, pod: Obj) -> tuple[str | None, str]:
        """(node name, "") or (None, why not): filters then scores, no side effects."""
        nodes = self.snapshot()
        statuses: dict[str, plugins.Status] = {}
        feasible = []
        for ni in nodes:
            st = plugins.run_filters(pod, ni)
            if st is None:
                feasible.append(ni)
            else:
                statuses[ni.name] = st
        if not feasible:
            return None, plugins.fit_error(len(nodes), statuses)
        scores = plugins.score(pod, feasible)
        best = max(scores.values())
        return self.rng.choice(sorted(n for n, s in scores.items() if s == best)), ""

    def schedule_one(self, key: str) -> str | None:
        assert self.client is not None
        ns, name = split_key(key)
        pod = self.pods.get(name, ns)
        if pod is None or not self._wants(pod):
            return None
        with self._lock:
            if key in self.assumed:
                return None
        node, why = self.find_node(pod)
        if node is None:
            self._unschedulable(pod, why)
            return None
        with self._lock:
            self.assumed[key] = (node, {**pod, "spec": {**pod["spec"], "nodeName": node}})
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name, "namespace": ns},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        try:
            self.client.create("pods", binding, ns, subresource="binding", name=name)
        except Exception as exc:
            with self._lock:
                self.assumed.pop(key, None)
            if is_not_found(exc) or is_conflict(exc):
                return None  # deleted, or someone else bound it
            raise
        with self._lock:
            self.unschedulable.discard(key)
        self.scheduled += 1
        self.recorder.event(pod, NORMAL, "Scheduled", f"Successfully assigned {ns}/{name} to {node}")
        return node

    def _unschedulable(self, pod: Obj, message: str) -> None:
        assert self.client is not None
        key = key_of(pod)
        self.failed += 1
        with self._lock:
            self.unschedulable.add(key)
        self.recorder.event(pod, WARNING, "FailedScheduling", message)
        conds = list((pod.get("status") or {}).get("conditions") or [])
        current = next((c for c in conds if c.get("type") == "PodScheduled"), None)
        if current is None or current.get("status") != "False" or current.get("message") != message:
            cond = {
                "type": "PodScheduled",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": now_rfc3339(self.clock()),
                "reason": "Unschedulable",
                "message": message,
            }
            if current is not None and current.get("status") == "False":
                cond["lastTransitionTime"] = current.get("lastTransitionTime")
            conds = [c for c in conds if c.get("type") != "PodScheduled"] + [cond]
            try:
                self.client.patch(
                    "pods",
                    pod["metadata"]["name"],
                    {"status": {"conditions": conds}},
                    pod["metadata"].get("namespace"),
                    subresource="status",
                )
            except Exception as exc:
                if not is_not_found(exc):
                    raise
        self.queue.add_after(key, self.retry_interval)

    def process_one(self, timeout: float | None = None) -> bool:
        key = self.queue.get(timeout)
        if key is None:
            return False
        try:
            self.schedule_one(key)
            self.queue.forget(key)
        except Exception as exc:  # noqa: BLE001 - any failure: retry this pod with backoff
            delay = self.queue.add_rate_limited(key)
            log.warning("scheduler: %s failed (%s); retry in %.2fs", key, exc, delay)
        finally:
            self.queue.done(key)
        return True

    def drain(self) -> int:
        n = 0
        while self.queue.ready_len() > 0:
            self.process_one(timeout=0)
            n += 1
        return n

    def _worker(self) -> None:
        while self.process_one():
            pass
