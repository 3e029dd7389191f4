"""The entry point's own argv reading (cli.py) agrees with the click group (commands.py).

cli.parse() reads the plain shapes the kubelet and `run` use without importing
click; for any argv it accepts, click must read the same verb and parameters,
and anything it is unsure of must go to click (None).
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import click
import pytest

from minikube_py.runtime import cli, launcher
from minikube_py.runtime.commands import runtime
from minikube_py.runtime.state import DEFAULT_ROOT


def _click_reads(argv: list[str]) -> tuple[str, str, dict[str, object]]:
    ctx = runtime.make_context("mkpy-runc", list(argv))
    with warnings.catch_warnings():  # click 8.2 deprecates protected_args (the verb and after)
        warnings.simplefilter("ignore", DeprecationWarning)
        words = ctx.protected_args + ctx.args
    verb, command, rest = runtime.resolve_command(ctx, words)
    sub = command.make_context(verb, rest, parent=ctx)
    return ctx.params["root"], verb, sub.params


ACCEPTED = [
    ["create", "--bundle", "/b", "c1"],
    ["--root", "/r", "create", "-b", "/b", "--pid-file", "/p", "--console-socket", "/s", "c1"],
    ["--root=/r", "--debug", "--log", "/l", "--log-format", "json", "create", "c1", "--bundle=/b"],
    ["--systemd-cgroup", "start", "c1"],
    ["state", "c1"],
    ["kill", "c1"],
    ["kill", "c1", "KILL"],
    ["kill", "--all", "c1", "9"],
    ["kill", "-a", "c1"],
    ["delete", "c1"],
    ["delete", "--force", "c1"],
    ["delete", "c1", "-f"],
    ["run", "--bundle", "/b", "-d", "c1"],
    ["run", "c1"],
    ["--root", "/r", "run", "--", "c1"],
]


@pytest.mark.parametrize("argv", ACCEPTED, ids=" ".join)
def test_plain_argv_is_read_as_click_reads_it(argv):
    assert cli.parse(argv) == _click_reads(argv)


REFUSED = [
    [],                                   # no verb: click prints the usage
    ["--help"], ["create", "--help"], ["-h"], ["--version"],
    ["create"],                           # missing id
    ["start", "c1", "c2"],                # one too many
    ["kill", "c1", "9", "x"],
    ["create", "-b/b", "c1"],             # short option glued to its value: click's job
    ["delete", "-fa", "c1"],
    ["delete", "--force=yes", "c1"],      # a flag takes no value
    ["create", "c1", "--bundle"],         # option without its value
    ["--root"],
    ["create", "--bundel", "/b", "c1"],   # a typo
    ["--bogus", "start", "c1"],
    ["exec", "c1", "ls"], ["list"], ["spec"], ["trace", "c1"], ["logs", "c1"], ["ps", "c1"],
    ["unknown-verb", "c1"],
]


@pytest.mark.parametrize("argv", REFUSED, ids=lambda a: " ".join(a) or "(empty)")
def test_anything_else_goes_to_click(argv):
    assert cli.parse(argv) is None


def test_refused_typos_are_click_errors_naming_the_argument():
    with pytest.raises(click.UsageError, match="--bundel"):
        _click_reads(["create", "--bundel", "/b", "c1"])
    with pytest.raises(click.UsageError, match=r"(?i)container_id"):
        _click_reads(["create"])


def test_default_root():
    assert cli.parse(["start", "c1"]) == (DEFAULT_ROOT, "start", {"container_id": "c1"})


def _run_cli(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*launcher.command(), "--root", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=60)


def test_fast_path_errors_are_runc_style(tmp_path):
    done = _run_cli(tmp_path, "state", "mkpyt-perf-none")
    assert done.returncode == 1
    assert done.stderr == "mkpy-runc: container 'mkpyt-perf-none' does not exist\n"


def test_click_path_errors_name_the_argument(tmp_path):
    done = _run_cli(tmp_path, "create", "--bundel", "/b", "mkpyt-perf-x")
    assert done.returncode == 2
    assert "No such option '--bundel'" in done.stderr


def test_plain_verbs_import_no_site_click_or_higher_layers(tmp_path):
    # What a launched `mkpy-runc state ID` loads: -S leaves site out, the plain verbs leave click out.
    probe = (f"import sys; sys.path[:0] = {launcher.search_path()!r}\n"
             "from minikube_py.runtime import cli, errors\n"
             f"try: cli.run_verb(*cli.parse(['--root', {str(tmp_path)!r}, 'state', 'mkpyt-perf-none']))\n"
             "except errors.ContainerError: pass\n"
             "print(sorted(m.split('.')[0] for m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, timeout=60)
    loaded = set(eval(done.stdout))
    assert "minikube_py" in loaded, done.stderr
    assert not loaded & {"site", "click", "pyroute2", "aiohttp", "yaml", "rich", "psutil"}


def test_launcher_script_runs_this_checkout(tmp_path):
    script = tmp_path / "mkpy-runc"
    launcher.write_script(str(script))
    first = script.read_text().splitlines()[0]
    assert first == f"#!{sys.executable} -S"
    assert launcher.PACKAGE_ROOT in script.read_text()
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("mkpy-runc version"), done.stderr


@pytest.mark.parametrize("argv", [
    ["--root", "/r", "--log", "{log}", "--log-format", "json", "create", "c1"],
    ["--log={log}", "--debug", "start", "c1"],
    ["--systemd-cgroup", "--log", "{log}", "exec", "--log", "/not-this", "c1", "ls"],
])
def test_errors_go_to_runcs_log_file_as_json(tmp_path, argv):
    """containerd reads the reason of a failure from the last error line of --log."""
    import json

    log = tmp_path / "log.json"
    cli.log_error([w.format(log=log) for w in argv], "process.args[0]: 'x': not found")
    cli.log_error([w.format(log=log) for w in argv], "second")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(x["level"], x["msg"]) for x in lines] == [("error", "process.args[0]: 'x': not found"),
                                                      ("error", "second")]
    assert all(x["time"].endswith("Z") for x in lines)


def test_no_log_file_without_the_global_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli.log_error(["--root", "/r", "exec", "--log", "x.json", "c1", "ls"], "message")
    assert list(tmp_path.iterdir()) == []
