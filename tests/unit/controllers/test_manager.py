"""ControllerManager wiring and the CLI groups, without a server."""

import pytest
from click.testing import CliRunner

from minikube_py.cli.main import cli
from minikube_py.controllers.manager import ALL, ControllerManager

from .fakeapi import FakeApi


def test_unknown_controller_is_named():
    with pytest.raises(ValueError, match=r"unknown \['bogus'\]"):
        ControllerManager(controllers=("replicaset", "bogus"))


def test_cli_rejects_unknown_controller_before_connecting():
    out = CliRunner().invoke(cli, ["controller-manager", "--controllers", "replicaset,bogus"])
    assert out.exit_code == 2 and "--controllers" in out.output and "bogus" in out.output


def test_manager_builds_every_loop_on_shared_informers_and_stops_cleanly():
    api = FakeApi()
    cm = ControllerManager()
    cm.start(api, sync_timeout=5)
    try:
        assert [c.name for c in cm.controllers] == [
            "deployment-controller",
            "replicaset-controller",
            "endpoints-controller",
            "namespace-controller",
            "garbage-collector",
            "node-lifecycle-controller",
            "node-ipam-controller",
        ]
        assert len(ALL) == len(cm.controllers)
        # one informer per resource, however many loops read it
        resources = [inf.resource for inf in cm.informers.all()]
        assert len(resources) == len(set(resources)) and "pods" in resources
    finally:
        cm.stop()
    threads = [t for c in cm.controllers for t in c._threads]
    assert threads and not any(t.is_alive() for t in threads)
    assert not any(inf._thread.is_alive() for inf in cm.informers.all())
