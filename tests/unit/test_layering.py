"""Lower layers never import higher ones (docs/architecture.md, "Layers").

Every module under minikube_py/ is parsed with `ast`; each import (also one inside a
function) is resolved to a module name and both ends are put in a layer. A layer may
import only itself and the layers listed for it in ALLOWED.

  k8s          Kubernetes object logic on plain dicts: imports nothing of minikube_py
  kernel       the syscall facade (and the native _shim it wraps)
  runtime      kernel
  image        kernel, runtime (a Dockerfile RUN step runs a container)
  api-client   minikube_py.api.{client,informer,errors,resources}: the client library
               (like client-go) any node or control-plane layer may use
  api-server   the rest of minikube_py.api (server, storage, registry, objects, ...):
               stores and serves objects, imports nothing of the node or control plane
  network      kernel, runtime, image, api-client (kube-proxy and DNS follow the API)
  kubelet      kernel, runtime, image, network, api-client
  controllers  api-client only (the control plane never touches the node)
  scheduler    api-client, controllers (it is built on the controllers' informers/queue)
  cli          anything (minikube_py.cli, minikube_py.__main__)
  cluster      anything: `mkpy up/down/demo` assemble every layer into a node, and the
               demo drives the kubectl verbs of cli in-process
  multinode    anything: joining nodes (tokens, TLS bootstrap, drain, routes) assembles a
               worker the way cluster assembles a node
k8s is allowed everywhere; the package root minikube_py/__init__.py imports nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import minikube_py

ROOT = Path(minikube_py.__file__).parent

API_CLIENT = {"minikube_py.api.client", "minikube_py.api.informer", "minikube_py.api.errors",
              "minikube_py.api.resources"}

ALLOWED: dict[str, set[str]] = {
    "k8s": set(),
    "kernel": set(),
    "runtime": {"kernel"},
    "image": {"kernel", "runtime"},
    "api-client": set(),
    "api-server": {"api-client"},
    "network": {"kernel", "runtime", "image", "api-client"},
    "kubelet": {"kernel", "runtime", "image", "network", "api-client"},
    "controllers": {"api-client"},
    "scheduler": {"api-client", "controllers"},
    "cli": {"kernel", "runtime", "image", "network", "kubelet", "api-client", "api-server",
            "controllers", "scheduler", "cluster", "multinode"},
    "cluster": {"kernel", "runtime", "image", "network", "kubelet", "api-client", "api-server",
                "controllers", "scheduler", "cli", "multinode"},
    "multinode": {"kernel", "runtime", "image", "network", "kubelet", "api-client", "api-server",
                  "controllers", "scheduler", "cli", "cluster"},
}

# (importing module, imported layer) pairs that break the rule on purpose, with the reason.
EXCEPTIONS = {
    # `mkpy controllers scheduler` is the scheduler's command; it lives with the other
    # control-plane commands and imports the scheduler only when that command runs.
    ("minikube_py.controllers.cli", "scheduler"),
}


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to (None: the package root itself)."""
    parts = module.split(".")
    if parts[0] != "minikube_py":
        return None
    if len(parts) == 1:
        return "root"
    top = parts[1]
    if top == "api":
        return "api-client" if module in API_CLIENT or len(parts) == 2 else "api-server"
    if top in ("_shim", "bin"):
        return "kernel"
    if top == "__main__":
        return "cli"
    return top


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, source: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in the file; `from x import y` yields x.y
    when y is a submodule of x (so `from minikube_py.api import client` is the client)."""
    tree = ast.parse(source if source is not None else path.read_text(), str(path))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            for a in node.names:
                sub = f"{target}.{a.name}"
                if (ROOT.parent / sub.replace(".", "/")).with_suffix(".py").exists() or (
                    ROOT.parent / sub.replace(".", "/") / "__init__.py"
                ).exists():
                    out.append((node.lineno, sub))
    return out


def violations(path: Path, source: str | None = None) -> list[str]:
    me = module_name(path)
    mine = layer_of(me)
    found = []
    for line, target in imported_modules(path, source):
        theirs = layer_of(target)
        if theirs is None or theirs == mine or theirs == "k8s":
            continue
        if mine == "root" or (mine == "api-client" and theirs == "api-client"):
            continue
        if theirs == "root" and target == "minikube_py":
            continue  # `from minikube_py import _shim` names its real target too
        if mine == "cli" or theirs in ALLOWED.get(mine or "", set()) or (me, theirs) in EXCEPTIONS:
            continue
        found.append(f"{path.relative_to(ROOT.parent)}:{line}: {mine} imports {target} ({theirs})")
    return found


def all_modules() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_is_in_a_layer():
    layers = set(ALLOWED) | {"root"}
    unknown = [str(p) for p in all_modules() if layer_of(module_name(p)) not in layers]
    assert unknown == []


def test_no_layer_imports_a_higher_one():
    bad = [v for p in all_modules() for v in violations(p)]
    assert bad == [], "\n".join(bad)


def test_k8s_imports_nothing_else_of_minikube_py():
    for p in (ROOT / "k8s").rglob("*.py"):
        for _, target in imported_modules(p):
            assert not target.startswith("minikube_py.") or target.startswith("minikube_py.k8s"), (p, target)


@pytest.mark.parametrize("path,source,layer", [
    ("runtime/container.py", "from minikube_py.kubelet import qos\n", "kubelet"),
    ("k8s/pod.py", "import re\n\ndef f():\n    from minikube_py.api import client\n", "api-client"),
    ("api/registry.py", "from ..network import netns\n", "network"),
    ("network/cni.py", "import minikube_py.kubelet.podspec\n", "kubelet"),
    ("controllers/replicaset.py", "from minikube_py.runtime.client import RuntimeClient\n", "runtime"),
    ("api/client.py", "from .registry import Registry\n", "api-server"),
])
def test_a_bad_import_is_caught(path, source, layer):
    found = violations(ROOT / path, source)
    assert found, source
    assert all(f.endswith(f"({layer})") for f in found), found
    assert {f.split(":")[1] for f in found} == {str(source.count("\n"))}, found
