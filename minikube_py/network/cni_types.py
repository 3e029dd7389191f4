"""The CNI 1.0 contract, shared by our plugins (mkpy-cni, mkpy-ipam) and the caller (cni.py).

Standard library only: a plugin is a short-lived process and must start fast.

What the spec fixes (https://www.cni.dev/docs/spec/):
  * parameters arrive in the environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS,
    CNI_IFNAME, CNI_ARGS, CNI_PATH) and the network configuration as JSON on stdin;
  * success: exit 0 and, for ADD (and VERSION), a result JSON on stdout;
  * failure: exit non-zero and an error JSON {"cniVersion", "code", "msg", "details"}
    with codes 1-99 reserved by the spec and 100+ for the plugin.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from minikube_py.network.errors import NetworkError

SPEC_VERSION = "1.0.0"
SUPPORTED_VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"]
COMMANDS = ("ADD", "DEL", "CHECK", "VERSION")

# Error codes from the spec.
ERR_INCOMPATIBLE_VERSION = 1
ERR_UNSUPPORTED_FIELD = 2
ERR_UNKNOWN_CONTAINER = 3
ERR_INVALID_ENV = 4
ERR_IO = 5
ERR_DECODE = 6
ERR_INVALID_CONFIG = 7
ERR_TRY_AGAIN = 11
# Ours (100+).
ERR_PLUGIN = 100  # a kernel/netlink operation failed
ERR_CHECK_FAILED = 101  # CHECK found the container's network not as ADD left it
ERR_NO_ADDRESSES = 102  # the IPAM range is full
ERR_EXEC = 103  # a delegated plugin could not be run or said nothing sensible


class CniError(NetworkError):
    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(f"{msg}{': ' + details if details else ''} (CNI error {code})")
        self.code, self.msg, self.details = code, msg, details

    def to_dict(self, version: str = SPEC_VERSION) -> dict:
        return {"cniVersion": version, "code": self.code, "msg": self.msg, "details": self.details}


@dataclass
class CniEnv:
    command: str
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    args: str = ""
    path: list[str] = field(default_factory=list)


def read_env(environ: Mapping[str, str]) -> CniEnv:
    """The CNI_* parameters, checked as the spec requires for each command."""
    command = environ.get("CNI_COMMAND", "")
    if command not in COMMANDS:
        raise CniError(ERR_INVALID_ENV, "CNI_COMMAND is missing or unknown", f"got {command!r}")
    env = CniEnv(
        command,
        environ.get("CNI_CONTAINERID", ""),
        environ.get("CNI_NETNS", ""),
        environ.get("CNI_IFNAME", ""),
        environ.get("CNI_ARGS", ""),
        [p for p in environ.get("CNI_PATH", "").split(os.pathsep) if p],
    )
    need = {
        "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
        "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
        "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
        "VERSION": (),
    }[command]
    missing = [name for name in need if not environ.get(name)]
    if missing:
        raise CniError(ERR_INVALID_ENV, f"{', '.join(missing)} must be set for {command}")
    return env


def parse_config(raw: bytes | str) -> dict:
    """The network configuration from stdin: JSON, with name, type and a supported cniVersion."""
    try:
        conf = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise CniError(ERR_DECODE, "network configuration on stdin is not JSON", str(exc)) from None
    if not isinstance(conf, dict):
        raise CniError(ERR_DECODE, "network configuration on stdin must be a JSON object")
    version = conf.get("cniVersion", "")
    if version not in SUPPORTED_VERSIONS:
        raise CniError(
            ERR_INCOMPATIBLE_VERSION,
            f"cniVersion {version!r} is not supported",
            f"supported: {', '.join(SUPPORTED_VERSIONS)}",
        )
    for key in ("name", "type"):
        if not isinstance(conf.get(key), str) or not conf[key]:
            raise CniError(
                ERR_INVALID_CONFIG, f"network configuration field {key!r} must be a non-empty string"
            )
    return conf


def version_result(version: str = SPEC_VERSION) -> dict:
    return {"cniVersion": version, "supportedVersions": SUPPORTED_VERSIONS}


def shape_result(result: dict, version: str) -> dict:
    """A result in the form of `version`: before 1.0.0 each IP also names its family."""
    out = dict(result, cniVersion=version)
    if version in ("0.3.0", "0.3.1", "0.4.0"):
        out["ips"] = [dict(ip, version="6" if ":" in ip["address"] else "4") for ip in result.get("ips", [])]
    return out


def find_plugin(name: str, path: list[str]) -> str:
    """An executable called `name` in the CNI_PATH directories (never a path: that would escape CNI_PATH)."""
    if not name or "/" in name:
        raise CniError(ERR_INVALID_CONFIG, f"plugin type {name!r} must be a plain executable name")
    for d in path:
        candidate = os.path.join(d, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise CniError(ERR_EXEC, f"plugin {name!r} not found", f"searched CNI_PATH {os.pathsep.join(path)}")


def exec_plugin(
    executable: str,
    command: str,
    env: Mapping[str, str],
    config: dict,
    argv_prefix: list[str] | None = None,
    timeout: float = 60,
) -> dict | None:
    """Run one plugin the way the spec says; the parsed stdout, or CniError with its code."""
    full_env = dict(env, CNI_COMMAND=command)
    try:
        proc = subprocess.run(
            [*(argv_prefix or []), executable],
            input=json.dumps(config).encode(),
            env=full_env,
            capture_output=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CniError(ERR_EXEC, f"could not run {executable}", str(exc)) from None
    out = proc.stdout.strip()
    parsed = None
    if out:
        try:
            parsed = json.loads(out)
        except ValueError:
            raise CniError(
                ERR_EXEC,
                f"{executable} {command} printed something that is not JSON",
                out.decode(errors="replace")[:500],
            ) from None
    if proc.returncode != 0:
        if isinstance(parsed, dict) and "code" in parsed:
            raise CniError(int(parsed["code"]), str(parsed.get("msg", "")), str(parsed.get("details", "")))
        raise CniError(
            ERR_EXEC,
            f"{executable} {command} exited {proc.returncode}",
            (proc.stderr or proc.stdout).decode(errors="replace")[-500:],
        )
    return parsed


def plugin_main(handle: Callable[[CniEnv, dict, bytes], dict | None]) -> int:
    """The life of a CNI plugin process: env + stdin in, a result or an error out."""
    version = SPEC_VERSION
    try:
        env = read_env(os.environ)
        raw = sys.stdin.buffer.read()
        if env.command == "VERSION":
            result: dict | None = version_result()
        else:
            conf = parse_config(raw)
            version = conf["cniVersion"]
            result = handle(env, conf, raw)
    except CniError as exc:
        json.dump(exc.to_dict(version), sys.stdout)
        sys.stdout.write("\n")
        return 1
    except NetworkError as exc:
        json.dump(CniError(ERR_INVALID_CONFIG, str(exc)).to_dict(version), sys.stdout)
        sys.stdout.write("\n")
        return 1
    except Exception as exc:  # noqa: BLE001 - a plugin must always answer in JSON
        json.dump(CniError(ERR_PLUGIN, type(exc).__name__, str(exc)).to_dict(version), sys.stdout)
        sys.stdout.write("\n")
        return 1
    if result is not None:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    return 0
