"""Where pods come from: the static manifest directory (and, with a control plane, the API).

Static pods are kubelet's: a file in --pod-manifest-path is a pod on this node, with
no API server needed. As kubelet does (pkg/kubelet/config/common.go), each gets
  name       <name>-<node name>
  uid        a hash of the manifest, the node and the file (an edit makes a new pod)
  annotations kubernetes.io/config.source=file, config.hash=<uid>, config.seen
  spec.nodeName = this node
"""

from __future__ import annotations

import hashlib
import json
import os
import time

from minikube_py.kubelet import podspec
from minikube_py.kubelet.podspec import PodSpecError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


class StaticPodSource:
    def __init__(self, directory: str, node_name: str) -> None:
        self.directory = directory
        self.node_name = node_name
        self._cache: dict[str, tuple[float, int, list[dict]]] = {}   # path -> (mtime, size, pods)
        self.errors: dict[str, str] = {}                              # path -> why it was skipped

    def pods(self) -> dict[str, dict]:
        """uid -> defaulted, validated pod, for every valid manifest in the directory."""
        out: dict[str, dict] = {}
        try:
            names = sorted(os.listdir(self.directory))
        except FileNotFoundError:
            return out
        seen = set()
        for name in names:
            path = os.path.join(self.directory, name)
            if name.startswith(".") or not name.endswith(MANIFEST_SUFFIXES) or not os.path.isfile(path):
                continue
            seen.add(path)
            st = os.stat(path)
            cached = self._cache.get(path)
            if cached and cached[0] == st.st_mtime and cached[1] == st.st_size:
                pods = cached[2]
            else:
                pods = self._load(path)
                self._cache[path] = (st.st_mtime, st.st_size, pods)
            for pod in pods:
                out[pod["metadata"]["uid"]] = pod
        for path in set(self._cache) - seen:
            del self._cache[path]
            self.errors.pop(path, None)
        return out

    def _load(self, path: str) -> list[dict]:
        try:
            with open(path) as f:
                raw = podspec.load_pods(f.read(), source=path)
            pods = [self.make_static(podspec.parse_pod(r), path) for r in raw]
        except (PodSpecError, OSError) as exc:
            self.errors[path] = str(exc)
            return []
        self.errors.pop(path, None)
        return pods

    def make_static(self, pod: dict, path: str) -> dict:
        meta = pod["metadata"]
        digest = hashlib.md5(json.dumps(pod, sort_keys=True).encode(), usedforsecurity=False)
        digest.update(f"host:{self.node_name}".encode())
        digest.update(f"file:{path}".encode())
        uid = digest.hexdigest()
        meta["uid"] = uid
        meta["name"] = f"{meta['name']}-{self.node_name}"
        ann = meta.setdefault("annotations", {})
        ann.update({"kubernetes.io/config.source": "file", "kubernetes.io/config.hash": uid,
                    "kubernetes.io/config.seen": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        pod["spec"]["nodeName"] = self.node_name
        return pod
