"""Two user-mode-linux kernels as two nodes, joined by `uml_switch` (the multi-machine shape).

Each VM is booted with `eth0=daemon,<mac>,unix,<switch socket>`; the switch is an
ordinary process on the host, so nothing changes in the host's network. A pod on
node a reaches a pod on node b by IP with its own address (host-gw routes, no NAT),
and reaching node b's LAN address (outside the pod network) is masqueraded.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from pathlib import Path

import pytest
from vmlane import uml

pytestmark = [pytest.mark.integration, pytest.mark.boots_vms]

HERE = Path(__file__).resolve().parent


@pytest.mark.skipif(
    bool(uml.available()) or not shutil.which("uml_switch"), reason="needs root, UML and uml_switch"
)
@pytest.mark.skipif(os.environ.get("MKPY_IN_VM") == "1", reason="boots VMs from the host")
def test_pod_to_pod_across_two_uml_nodes(tmp_path, repo_root):
    sock = str(tmp_path / "switch.ctl")
    runs: dict[str, uml.VmResult] = {}
    outcome: dict[str, dict] = {}
    try:
        with uml.uml_switch(sock):

            def boot(role: str, mac: str) -> None:
                runs[role] = uml.run_in_vm(
                    # the VM's results dir is the one host directory it can write: the answer goes there
                    [sys.executable, str(HERE / "uml_node.py"), role, str(tmp_path / f"vm-{role}")],
                    cwd=str(repo_root),
                    env={"PYTHONPATH": str(repo_root), "PYTHONDONTWRITEBYTECODE": "1"},
                    mem="512M",
                    timeout=400,
                    results_dir=str(tmp_path / f"vm-{role}"),
                    hostname=f"node-{role}",
                    kernel_args=[f"eth0=daemon,{mac},unix,{sock}"],
                )

            threads = [
                threading.Thread(target=boot, args=("b", "fe:fd:c0:a8:3c:03")),
                threading.Thread(target=boot, args=("a", "fe:fd:c0:a8:3c:02")),
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(runs) == ["a", "b"], "a VM did not boot (see the error above)"
            for role, run in runs.items():
                path = run.results_dir / f"{role}.json"
                assert path.exists(), f"VM {role} wrote no result; console:\n{run.output[-3000:]}"
                outcome[role] = json.loads(path.read_text())
                assert "error" not in outcome[role], f"VM {role}:\n{outcome[role]['error']}"
    finally:
        for r in runs.values():
            uml.cleanup(r)
    assert outcome["a"]["pod_ip"] == "10.244.0.2/24" and outcome["b"]["pod_ip"] == "10.244.1.2/24"
    assert outcome["a"]["to_pod"] == "ok" and outcome["a"]["to_node"] == "ok"
    assert outcome["b"]["seen"] == {"pod": "10.244.0.2", "node": "192.168.60.2"}
