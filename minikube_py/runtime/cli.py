"""`mkpy-runc` and `python -m minikube_py.runtime.cli`: the runtime's command line, as runc has it.

The command line itself - help, every verb and flag, argument errors - is the
click group in commands.py. This entry point exists for speed: the kubelet runs
the runtime once for every create, start, kill and delete, and `mkpy-runc run`
should cost no more than `runc run` (~25 ms). Importing click alone costs ~16 ms.

So main() first reads the plain argv shapes those callers use, by the table
below (runc's own flags, options before or after the container id), and calls
container.Runtime directly. Anything else - --help, --version, a typo, a missing
argument, `-bDIR`, `exec`, `list`, ... - goes to click, which handles it exactly
as before, error messages included. tests/unit/runtime/test_cli_argv.py checks
that the table and the click group read every shape the same way.
"""

from __future__ import annotations

import os
import sys

from minikube_py.runtime.errors import ContainerError
from minikube_py.runtime.state import DEFAULT_ROOT

# option -> (parameter name, takes a value?); parameter None = accepted and ignored
Options = dict[str, tuple[str | None, bool]]

GLOBAL_OPTIONS: Options = {
    "--root": ("root", True),
    "--log": (None, True), "--log-format": (None, True),  # runc compatibility
    "--systemd-cgroup": (None, False), "--debug": (None, False),
}
_BUNDLE: Options = {
    "--bundle": ("bundle", True), "-b": ("bundle", True),
    "--pid-file": ("pid_file", True), "--console-socket": ("console_socket", True),
}
_BUNDLE_DEFAULTS = {"bundle": ".", "pid_file": None, "console_socket": None}

# verb -> (its options, its positional parameters, defaults of the optional ones)
VERBS: dict[str, tuple[Options, list[str], dict[str, object]]] = {
    "create": (_BUNDLE, ["container_id"], _BUNDLE_DEFAULTS),
    "start": ({}, ["container_id"], {}),
    "state": ({}, ["container_id"], {}),
    "kill": ({"--all": ("all_", False), "-a": ("all_", False)}, ["container_id", "signal"],
             {"signal": "SIGTERM", "all_": False}),
    "delete": ({"--force": ("force", False), "-f": ("force", False)}, ["container_id"], {"force": False}),
    "run": ({**_BUNDLE, "--detach": ("detach", False), "-d": ("detach", False)}, ["container_id"],
            {**_BUNDLE_DEFAULTS, "detach": False}),
}


def parse(argv: list[str]) -> tuple[str, str, dict[str, object]] | None:
    """(root, verb, parameters) for a plain argv of a VERBS verb; None for anything else."""
    words = list(argv)
    found = _take_options(words, GLOBAL_OPTIONS, interspersed=False)
    if found is None or not words or words[0] not in VERBS:
        return None
    verb = words.pop(0)
    options, positionals, defaults = VERBS[verb]
    params = dict(defaults)
    given = _take_options(words, options, interspersed=True)  # leaves the positionals in `words`
    required = [name for name in positionals if name not in defaults]
    if given is None or not len(required) <= len(words) <= len(positionals):
        return None
    params.update(given)
    params.update(zip(positionals, words, strict=False))
    return str(found.get("root", DEFAULT_ROOT)), verb, params


def _take_options(words: list[str], known: Options, interspersed: bool) -> dict[str, object] | None:
    """Move the options in `known` out of `words` into a dict; None at the first one we do not know."""
    found: dict[str, object] = {}
    rest: list[str] = []
    while words:
        word = words.pop(0)
        if word == "--":  # everything after it is positional
            rest += words
            break
        if not word.startswith("-") or word == "-":
            rest.append(word)
            if not interspersed:  # a group's options end at the verb
                rest += words
                break
            continue
        name, eq, value = word.partition("=") if word.startswith("--") else (word, "", "")
        if name not in known:
            return None
        param, takes_value = known[name]
        if not takes_value:
            if eq:
                return None
            found_value: object = True
        elif eq:
            found_value = value
        elif words:
            found_value = words.pop(0)
        else:
            return None
        if param:
            found[param] = found_value
    words[:] = rest
    return found


def run_verb(root: str, verb: str, params: dict[str, object]) -> int:
    """Do what parse() read, as commands.py would; the exit status."""
    from minikube_py.runtime.container import Runtime

    rt = Runtime(root)
    cid = str(params["container_id"])
    if verb == "create":
        rt.create(cid, str(params["bundle"]), pid_file=params["pid_file"],
                  console_socket=params["console_socket"])
    elif verb == "start":
        rt.start(cid)
    elif verb == "state":
        import json

        print(json.dumps(rt.state(cid), indent=2))
    elif verb == "kill":
        rt.kill(cid, str(params["signal"]), all_processes=bool(params["all_"]))
    elif verb == "delete":
        rt.delete(cid, force=bool(params["force"]))
    elif verb == "run":
        return rt.run(cid, str(params["bundle"]), detach=bool(params["detach"]),
                      pid_file=params["pid_file"], console_socket=params["console_socket"])
    return 0


def log_error(argv: list[str], message: str) -> None:
    """Append the error to runc's --log file as a JSON line, if the caller gave one.

    containerd's shim gives `--log <bundle>/log.json --log-format json` and, when the
    runtime fails, reports the last {"level": "error"} line of that file as its reason
    ("OCI runtime create failed: ..."). Other callers read stderr, which has it too.
    """
    path = None
    words = iter(argv)
    for word in words:  # the global options, up to the verb
        name, eq, value = word.partition("=")
        if name not in GLOBAL_OPTIONS:
            break
        if GLOBAL_OPTIONS[name][1] and not eq:
            value = next(words, "")
        if name == "--log":
            path = value
    if not path:
        return
    import json
    import time

    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        with open(path, "a") as f:
            f.write(json.dumps({"level": "error", "msg": message, "time": stamp}) + "\n")
    except OSError:
        pass  # the message is on stderr anyway


def main(argv: list[str] | None = None) -> None:
    """Entry point of mkpy-runc and `python -m minikube_py.runtime.cli`.

    It leaves with os._exit once the output is flushed: tearing down the interpreter
    (every imported module, then a last garbage collection) costs ~10 ms, a third
    of a whole `runc run`, and a finished CLI has nothing left to clean up.
    """
    argv = sys.argv[1:] if argv is None else argv
    code: object = 0
    try:
        parsed = parse(argv)
        if parsed is None:
            from minikube_py.runtime.commands import runtime

            runtime.main(args=argv, prog_name="mkpy-runc")
        else:
            code = run_verb(*parsed)
    except ContainerError as exc:
        print(f"mkpy-runc: {exc}", file=sys.stderr)
        log_error(argv, str(exc))
        code = 1
    except SystemExit as exc:
        code = exc.code
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # reader gone, or stream closed
            pass
    os._exit(code)


if __name__ == "__main__":
    main()
