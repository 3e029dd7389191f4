"""Load the NetworkPolicy chains into a node namespace: one iptables-restore --noflush per sync.

Every sync rewrites all MKPY-NP-* chains (they are small next to the service chains: one
per selected pod), deletes the ones no longer wanted, and inserts the FORWARD jump as the
first rule if it is missing, so policies are checked before kube-proxy's KUBE-FORWARD
accepts anything.
"""

from __future__ import annotations

import threading

from minikube_py.network.policy.errors import PolicyError
from minikube_py.network.policy.rules import JUMP, PREFIX, Renderer
from minikube_py.network.proxy.errors import ProxyError
from minikube_py.network.proxy.iptables import Iptables, detect
from minikube_py.network.proxy.source import ClusterObjects


def _saved_chains(text: str) -> set[str]:
    return {line[1:].split()[0] for line in text.splitlines() if line.startswith(":")}


class PolicyEnforcer:
    def __init__(self, objects: ClusterObjects, netns: str | None = None,
                 iptables: Iptables | None = None) -> None:
        self.objects = objects
        self.netns = netns
        self._iptables = iptables
        self._lock = threading.Lock()

    @property
    def iptables(self) -> Iptables:
        if self._iptables is None:
            try:
                self._iptables = detect(self.netns)
            except ProxyError as exc:
                raise PolicyError(str(exc)) from None
        return self._iptables

    def desired(self) -> dict[str, list[str]]:
        return Renderer(self.objects.list("Pod"), self.objects.list("Namespace"),
                        self.objects.list("NetworkPolicy")).render()

    def sync(self) -> str:
        with self._lock:
            chains = self.desired()
            saved = self._save()
            stale = sorted(c for c in _saved_chains(saved) if c.startswith(PREFIX) and c not in chains)
            chain, rule = JUMP
            has_jump = any(line.startswith(f"-A {chain} ") and rule.split("-j ")[1] in line
                           for line in saved.splitlines())
            lines = ["*filter"]
            lines += [f":{c} - [0:0]" for c in [*chains, *stale]]
            lines += [f"-A {c} {r}" for c, rules in chains.items() for r in rules]
            if not has_jump:
                lines.append(f"-I {chain} 1 {rule}")
            lines += [f"-X {c}" for c in stale]
            lines.append("COMMIT")
            text = "\n".join(lines) + "\n"
            self._restore(text)
            return text

    def teardown(self) -> None:
        with self._lock:
            saved = self._save()
            ours = sorted(c for c in _saved_chains(saved) if c.startswith(PREFIX))
            jumps = [line for line in saved.splitlines() if line.startswith("-A FORWARD ")
                     and line.rsplit("-j ", 1)[-1].strip() in ours]
            if not (ours or jumps):
                return
            lines = ["*filter", *[f":{c} - [0:0]" for c in ours], *["-D" + j[2:] for j in jumps],
                     *[f"-X {c}" for c in ours], "COMMIT"]
            self._restore("\n".join(lines) + "\n")

    def _save(self) -> str:
        try:
            return self.iptables.save("filter")
        except ProxyError as exc:
            raise PolicyError(str(exc)) from None

    def _restore(self, text: str) -> None:
        try:
            self.iptables.restore(text)
        except ProxyError as exc:
            raise PolicyError(str(exc)) from None
