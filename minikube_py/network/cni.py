"""Calling CNI plugins the way a container runtime does (what libcni does for containerd/CRI-O).

    result = cni.invoke("/etc/cni/net.d/10-mkpy.conflist", "ADD", "pod-abc", "/run/netns/pod-abc",
                        cni_path=["/usr/lib/cni"], netns="/run/netns/mkpy-node")

A network configuration *list* (conflist) names a chain of plugins. ADD runs them
in order, each getting the previous one's result as `prevResult`; DEL runs them in
reverse with the cached ADD result; CHECK runs them in order with it. The final ADD
result is cached on disk (like /var/lib/cni/results), because DEL and CHECK need
it, possibly from another process after a restart. Plugins run inside `netns`
(the node's namespace, where the bridge lives) through nsenter.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from minikube_py.network.cni_types import (
    ERR_INVALID_CONFIG,
    SUPPORTED_VERSIONS,
    CniError,
    exec_plugin,
    find_plugin,
)
from minikube_py.network.netns import nsenter_argv

DEFAULT_CACHE_DIR = "/var/lib/cni/results"
# name -> (module, interpreter flags). mkpy-ipam needs only the standard library, so it
# starts with -S (no site-packages scan): it runs twice per pod and start-up is most of its time.
EXECUTABLES = {
    "mkpy-cni": ("minikube_py.network.cni_plugin", ""),
    "mkpy-ipam": ("minikube_py.network.ipam_plugin", " -S"),
}


def load_conflist(source: str | os.PathLike | dict) -> dict:
    """A conflist from a path (.conflist, or a single-plugin .conf) or a dict, checked."""
    if isinstance(source, dict):
        conf, where = source, "conflist"
    else:
        where = str(source)
        try:
            conf = json.loads(Path(source).read_text())
        except OSError as exc:
            raise CniError(ERR_INVALID_CONFIG, f"cannot read {where}", str(exc)) from None
        except ValueError as exc:
            raise CniError(ERR_INVALID_CONFIG, f"{where} is not JSON", str(exc)) from None
    if not isinstance(conf, dict):
        raise CniError(ERR_INVALID_CONFIG, f"{where}: expected a JSON object")
    if "plugins" not in conf and "type" in conf:  # a single .conf: a list of one
        conf = {"cniVersion": conf.get("cniVersion"), "name": conf.get("name"), "plugins": [conf]}
    if conf.get("cniVersion") not in SUPPORTED_VERSIONS:
        raise CniError(ERR_INVALID_CONFIG, f"{where}: cniVersion {conf.get('cniVersion')!r} is not supported")
    if not isinstance(conf.get("name"), str) or not conf["name"] or "/" in conf["name"]:
        raise CniError(ERR_INVALID_CONFIG, f"{where}: name must be a non-empty string without '/'")
    plugins = conf.get("plugins")
    if not isinstance(plugins, list) or not plugins:
        raise CniError(ERR_INVALID_CONFIG, f"{where}: plugins must be a non-empty list")
    for i, p in enumerate(plugins):
        if not isinstance(p, dict) or not isinstance(p.get("type"), str) or not p["type"]:
            raise CniError(ERR_INVALID_CONFIG, f"{where}: plugins[{i}].type must name a plugin")
    return conf


def load_dir(conf_dir: str | os.PathLike) -> dict:
    """The network a kubelet would use: the first *.conflist/*.conf (by name) in `conf_dir`."""
    names = sorted(n for n in os.listdir(conf_dir) if n.endswith((".conflist", ".conf", ".json")))
    if not names:
        raise CniError(ERR_INVALID_CONFIG, f"no network configuration in {conf_dir}")
    return load_conflist(os.path.join(conf_dir, names[0]))


def _plugin_config(conflist: dict, plugin: dict, prev: dict | None, runtime_config: dict | None) -> dict:
    conf = dict(plugin, name=conflist["name"], cniVersion=conflist["cniVersion"])
    conf.pop("capabilities", None)
    if prev is not None:
        conf["prevResult"] = prev
    # Only what the plugin declared in `capabilities` reaches it, as runtimeConfig.
    wanted = {k: v for k, v in (runtime_config or {}).items() if (plugin.get("capabilities") or {}).get(k)}
    if wanted:
        conf["runtimeConfig"] = wanted
    return conf


def _cache_path(cache_dir: str, network: str, container_id: str, ifname: str) -> Path:
    return Path(cache_dir) / f"{network}-{container_id}-{ifname}"


def invoke(
    conflist: str | os.PathLike | dict,
    command: str,
    container_id: str,
    netns_path: str,
    ifname: str = "eth0",
    cni_path: list[str] | None = None,
    *,
    netns: str | None = None,
    cache_dir: str = DEFAULT_CACHE_DIR,
    args: dict[str, str] | None = None,
    runtime_config: dict | None = None,
    timeout: float = 60,
) -> dict:
    """Run a plugin chain. ADD returns the final result; DEL and CHECK return {};
    VERSION returns {plugin type: its version answer}. Failures raise CniError."""
    conf = load_conflist(conflist)
    command = command.upper()
    path = list(cni_path or ["/usr/lib/cni", "/opt/cni/bin"])
    env = dict(
        os.environ,
        CNI_CONTAINERID=container_id,
        CNI_NETNS=netns_path or "",
        CNI_IFNAME=ifname,
        CNI_PATH=os.pathsep.join(path),
        CNI_ARGS=";".join(f"{k}={v}" for k, v in (args or {}).items()),
    )
    prefix = nsenter_argv(netns, []) if netns else []  # ["nsenter", "--net=PATH", "--"]

    def run(plugin: dict, cmd: str, prev: dict | None) -> dict | None:
        exe = find_plugin(plugin["type"], path)
        return exec_plugin(
            exe,
            cmd,
            env,
            _plugin_config(conf, plugin, prev, runtime_config),
            argv_prefix=prefix,
            timeout=timeout,
        )

    cache = _cache_path(cache_dir, conf["name"], container_id, ifname)
    if command == "VERSION":
        return {p["type"]: run(p, "VERSION", None) for p in conf["plugins"]}
    if command == "ADD":
        prev: dict | None = None
        done: list[dict] = []
        try:
            for plugin in conf["plugins"]:
                prev = run(plugin, "ADD", prev) or prev
                done.append(plugin)
        except CniError:
            # Leave nothing half-applied: undo the plugins that succeeded, newest first. The one
            # that failed cleans up after itself (the spec asks that of a plugin); a DEL to it here
            # could tear down a previous, valid ADD of the same container.
            for plugin in reversed(done):
                try:
                    run(plugin, "DEL", prev)
                except CniError:
                    pass
            raise
        result = prev or {}
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "kind": "cniCacheV1",
                    "containerId": container_id,
                    "ifName": ifname,
                    "networkName": conf["name"],
                    "result": result,
                }
            )
        )
        os.replace(tmp, cache)
        return result
    cached = _read_cache(cache)
    if command == "DEL":
        for plugin in reversed(conf["plugins"]):
            run(plugin, "DEL", cached)
        cache.unlink(missing_ok=True)
        return {}
    if command == "CHECK":
        if conf.get("disableCheck"):
            return {}
        if cached is None:
            raise CniError(
                ERR_INVALID_CONFIG,
                f"no cached ADD result for {container_id}/{ifname}",
                "CHECK needs a previous ADD",
            )
        for plugin in conf["plugins"]:
            run(plugin, "CHECK", cached)
        return {}
    raise CniError(ERR_INVALID_CONFIG, f"command {command!r} is not ADD, DEL, CHECK or VERSION")


def _read_cache(cache: Path) -> dict | None:
    try:
        return json.loads(cache.read_text()).get("result")
    except (FileNotFoundError, ValueError):
        return None


def install_executables(bin_dir: str | os.PathLike, python: str = sys.executable) -> list[Path]:
    """Write `mkpy-cni` and `mkpy-ipam` launchers into `bin_dir` (a CNI_PATH entry), running
    this very checkout of minikube_py with `python` (pip's console scripts do the same)."""
    root = str(Path(__file__).resolve().parents[2])
    out = []
    Path(bin_dir).mkdir(parents=True, exist_ok=True)
    for name, (module, flags) in EXECUTABLES.items():
        path = Path(bin_dir) / name
        text = (
            f"#!{python}{flags}\n# CNI plugin launcher written by minikube_py.network.cni\n"
            f"import sys\nsys.path.insert(0, {root!r})\nfrom {module} import main\nsys.exit(main())\n"
        )
        if not path.exists() or path.read_text() != text:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.chmod(0o755)
            os.replace(tmp, path)
        out.append(path)
    return out
