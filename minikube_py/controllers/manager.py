"""ControllerManager: every loop of kube-controller-manager in one process, sharing informers.

cm = ControllerManager()
cm.start(client)      # a minikube_py.api.client.Client (or anything speaking controllers.client)
...
cm.stop()
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from minikube_py.api.informer import InformerFactory

from .adapter import adapt
from .deployment import DeploymentController
from .endpoints import EndpointsController
from .events import EventRecorder
from .framework import Controller
from .garbagecollector import GarbageCollector
from .namespace import NamespaceController
from .nodeipam import NodeIpamController
from .nodelifecycle import NodeLifecycleController
from .replicaset import ReplicaSetController

log = logging.getLogger(__name__)

ALL = (
    "deployment",
    "replicaset",
    "endpoints",
    "namespace",
    "garbagecollector",
    "nodelifecycle",
    "nodeipam",
)


class ControllerManager:
    def __init__(
        self,
        *,
        controllers: tuple[str, ...] = ALL,
        node_grace_period: float = 40.0,
        pod_eviction_timeout: float = 300.0,
        node_monitor_period: float = 5.0,
        clock: Callable[[], float] = time.time,
        host: str = "",
        cluster_cidr: str = "10.244.0.0/16",
        node_cidr_mask: int = 24,
    ) -> None:
        unknown = set(controllers) - set(ALL)
        if unknown:
            raise ValueError(f"controllers: unknown {sorted(unknown)}; known: {', '.join(ALL)}")
        self.enabled = controllers
        self.node_options = {
            "grace_period": node_grace_period,
            "eviction_timeout": pod_eviction_timeout,
            "monitor_period": node_monitor_period,
        }
        import ipaddress

        try:  # fail at start, naming the setting, not later inside a worker
            if not ipaddress.ip_network(cluster_cidr).prefixlen <= node_cidr_mask <= 32:
                raise ValueError(f"node_cidr_mask /{node_cidr_mask} does not fit in {cluster_cidr}")
        except ValueError as e:
            raise ValueError(f"cluster_cidr: {e}") from None
        self.ipam_options = {"cluster_cidr": cluster_cidr, "node_cidr_mask": node_cidr_mask}
        self.clock, self.host = clock, host
        self.controllers: list[Controller] = []
        self.informers: InformerFactory | None = None

    def build(self, client: Any) -> list[Controller]:
        client = adapt(client)
        self.informers = InformerFactory(client)
        recorder = self.recorder = EventRecorder(
            client, "kube-controller-manager", self.host, clock=self.clock
        )
        classes: dict[str, tuple[type[Controller], dict]] = {
            "deployment": (DeploymentController, {}),
            "replicaset": (ReplicaSetController, {}),
            "endpoints": (EndpointsController, {}),
            "namespace": (NamespaceController, {}),
            "garbagecollector": (GarbageCollector, {}),
            "nodelifecycle": (NodeLifecycleController, self.node_options),
            "nodeipam": (NodeIpamController, self.ipam_options),
        }
        self.controllers = [
            cls(client, self.informers, recorder, clock=self.clock, **opts)
            for name, (cls, opts) in classes.items()
            if name in self.enabled
        ]
        return self.controllers

    def start(self, client: Any, sync_timeout: float = 30.0) -> None:
        """Start the informers, wait until their caches are filled, then the workers."""
        self.build(client)
        assert self.informers is not None
        self.recorder.start_background()
        self.informers.start()
        if not self.informers.wait_for_sync(sync_timeout):
            log.warning("controller-manager: caches not synced after %.0fs; starting anyway", sync_timeout)
        for c in self.controllers:
            c.start()
        log.info("controller-manager: started %s", ", ".join(c.name for c in self.controllers))

    def stop(self) -> None:
        for c in self.controllers:
            c.queue.shutdown()
        if self.informers is not None:
            self.informers.stop()
        for c in self.controllers:
            c.stop()
        if getattr(self, "recorder", None) is not None:
            self.recorder.stop_background()
