"""`mkpy cgroups` and `mkpy seccomp`, through click's test runner."""

import json

from click.testing import CliRunner

from minikube_py.cli.main import cli


def run(*args, stdin=None):
    return CliRunner().invoke(cli, list(args), input=stdin)


def test_plan_prints_each_file_value_and_field():
    resources = {"memory": {"limit": 64 << 20, "swap": 64 << 20}, "pids": {"limit": 10}}
    result = run("cgroups", "plan", "--driver", "v2", "-", stdin=json.dumps(resources))
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.output.splitlines()]
    assert lines == [["memory.swap.max", "0", "<-", "linux.resources.memory.swap"],
                     ["memory.max", str(64 << 20), "<-", "linux.resources.memory.limit"],
                     ["pids.max", "10", "<-", "linux.resources.pids.limit"]]


def test_plan_error_names_the_field_and_fails():
    result = run("cgroups", "plan", "--driver", "v1", "-", stdin='{"cpu": {"shares": 1}}')
    assert result.exit_code != 0
    assert "linux.resources.cpu.shares: 1 is outside 2..262144" in result.output


def test_seccomp_show_prints_the_default_program(tmp_path):
    result = run("seccomp", "show")
    assert result.exit_code == 0
    assert result.output.startswith("   0: ld  arch\n")
    assert "; mount" not in result.output           # not allowed: never compared, falls to the default
    with_admin = run("seccomp", "show", "--cap", "CAP_SYS_ADMIN")
    assert "; mount" in with_admin.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                               "syscalls": [{"names": ["mkdri"], "action": "SCMP_ACT_LOG"}]}))
    result = run("seccomp", "show", str(bad))
    assert result.exit_code != 0 and "names[0]: unknown syscall 'mkdri'" in result.output


def test_detect_says_which_and_why():
    result = run("cgroups", "detect")
    assert result.exit_code == 0 and result.output.split(":")[0] in ("v1", "v2")
