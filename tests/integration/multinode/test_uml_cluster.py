"""A cluster of real kernels: three user-mode-linux VMs joined by `uml_switch` — a control plane
(`mkpy up`) and two workers (`mkpy node join`), each with its own kernel, cgroup v2 and iptables.

It runs in the test command (and CI): about 1.5-2 minutes on 2 cores, bounded (each VM's job
gives up at MKPY_UML_DEADLINE, default 480 s; the host's watchdog ends a VM at 600 s). A failure
names the phase that did not happen and shows every VM's console tail and component logs.
MKPY_UML_CLUSTER=0 skips it (e.g. while iterating on something else); MKPY_UML_ECHO=1 streams the
consoles.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest
from vmlane import uml

from minikube_py.api import auth

pytestmark = [
    pytest.mark.integration,
    pytest.mark.boots_vms,
    pytest.mark.skipif(os.environ.get("MKPY_UML_CLUSTER") == "0", reason="MKPY_UML_CLUSTER=0"),
    pytest.mark.skipif(
        bool(uml.available()) or not shutil.which("uml_switch"), reason="needs root, UML, uml_switch"
    ),
    pytest.mark.skipif(os.environ.get("MKPY_IN_VM") == "1", reason="boots VMs from the host"),
]

HERE = Path(__file__).resolve().parent
MACS = {"cp": "fe:fd:c0:a8:3c:0a", "w1": "fe:fd:c0:a8:3c:0b", "w2": "fe:fd:c0:a8:3c:0c"}


VM_TIMEOUT = 600.0


def _consoles(runs: dict) -> str:
    return "\n".join(
        f"--- console of {role} (last 2500 chars) ---\n{run.output[-2500:]}"
        for role, run in sorted(runs.items())
    )


@pytest.mark.timeout(int(VM_TIMEOUT) + 120)
def test_three_kernels_one_cluster(tmp_path, repo_root):
    t0 = time.monotonic()
    # The host makes the PKI (with the cp's LAN address), so it knows the CA hash up front.
    pki = tmp_path / "pki"
    auth.ensure_serving_cert(str(pki), hosts=("192.168.60.10",))
    token = auth.new_token()
    sock = str(tmp_path / "switch.ctl")
    runs: dict[str, uml.VmResult] = {}
    out: dict[str, dict] = {}
    try:
        with uml.uml_switch(sock):

            def boot(role: str) -> None:
                results = tmp_path / f"vm-{role}"
                # A VM sees only its results dir of the host's /tmp: the CA goes there.
                shutil.copytree(pki, results / "pki")
                runs[role] = uml.run_in_vm(
                    [
                        sys.executable,
                        str(HERE / "uml_cluster_node.py"),
                        role,
                        str(results),
                        str(results / "pki"),
                        token,
                    ],
                    cwd=str(repo_root),
                    env={"PYTHONPATH": str(repo_root), "PYTHONDONTWRITEBYTECODE": "1",
                         "MKPY_UML_DEADLINE": os.environ.get("MKPY_UML_DEADLINE", "480"),
                         # kubectl (default, when installed) or mkpy for logs/exec through the API
                         "MKPY_UML_TOOL": os.environ.get("MKPY_UML_TOOL", "kubectl")},
                    mem="1024M",
                    timeout=VM_TIMEOUT,
                    results_dir=str(results),
                    hostname=role,
                    kernel_args=[f"eth0=daemon,{MACS[role]},unix,{sock}"],
                    echo=bool(os.environ.get("MKPY_UML_ECHO")),  # the consoles, interleaved, for debugging
                )

            threads = [threading.Thread(target=boot, args=(r,)) for r in ("cp", "w1", "w2")]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for role in ("cp", "w1", "w2"):
                run = runs.get(role)
                assert run is not None, f"VM {role} did not boot\n{_consoles(runs)}"
                path = run.results_dir / f"{role}.json"
                assert path.exists(), f"VM {role} wrote no result\n{_consoles(runs)}"
                out[role] = json.loads(path.read_text())
            failed = [role for role in ("cp", "w1", "w2") if "error" in out[role]]
            assert not failed, "\n".join(
                [f"=== VM {role}: {out[role]['error']}" for role in failed]
                + [f"=== {role} {comp}.log (tail):\n{text}" for role in failed
                   for comp, text in (out[role].get("logs") or {}).items()]
                + [_consoles(runs)]
            )  # fmt: skip
    finally:
        for r in runs.values():
            uml.cleanup(r)
    cp = out["cp"]
    print(f"uml cluster: {time.monotonic() - t0:.0f} s wall; NotReady after {cp['not_ready_after']} s,"
          f" pods back after {cp['back_after']} s; logs/exec with {cp['streams']['tool']}")  # fmt: skip
    # cp keeps the first /24; the workers get the next two, in the order they joined
    assert cp["cidrs"]["cp"] == "10.244.0.0/24"
    assert sorted([cp["cidrs"]["w1"], cp["cidrs"]["w2"]]) == ["10.244.1.0/24", "10.244.2.0/24"]
    assert sorted(cp["spread"]) == ["w1", "w2"]  # cp is cordoned: both workers run pods
    pods = {p for names in cp["spread"].values() for p in names}
    for node in ("cp", "w1", "w2"):
        probe = cp["cp"] if node == "cp" else cp[node]
        answered = {a for a in probe["http"] if not a.startswith("error")}
        # the Service answers from every node, with pods of both workers (traffic crosses nodes)
        assert answered and answered <= pods, (node, probe["http"])
        assert {n for n, names in cp["spread"].items() if answered & set(names)} == {"w1", "w2"}, node
        assert probe["dns"] == probe["dns_local"] and len(probe["dns"]) == 1, (node, probe)
        assert not probe["dns"][0].startswith("error"), (node, probe["dns"])
    # ... and from a pod on every node, by the Service's DNS name (cluster DNS from the pod network)
    for node in ("cp", "w1", "w2"):
        got = cp["pods"][node]
        answered = [a for a in got["http"] if a in pods]
        assert len(answered) >= len(got["http"]) // 2, (node, got)  # most calls answered, by web pods
        assert {n for n, names in cp["spread"].items() if set(answered) & set(names)} == {"w1", "w2"}, node
        assert any(cp["svc_ip"] in line for line in got["dns"]), (node, got["dns"])
    # kubectl logs/exec of pods on the workers, through cp's API server to the worker's kubelet at
    # its real InternalIP (no loopback endpoint): the node addresses are right
    for node, ip in (("w1", "192.168.60.11"), ("w2", "192.168.60.12")):
        st = cp["streams"][node]
        assert st["addresses"] == {"InternalIP": ip, "Hostname": node}, st
        assert st["endpoint_annotation"] is None, st
        # `hostname` in the pod is the pod's name; pods' MTU leaves room for VXLAN's 50 bytes
        assert st["exec"] == [st["pod"], "1450"], st
        assert st["logs"] == "probe-done", st
    assert cp["etcd_keys"] > 20, cp["etcd_keys"]  # the control plane keeps its objects in etcd
    # w1 (--backend auto) reaches w2 by host-gw on this LAN; w2 (--backend vxlan) reaches every peer
    # through its VTEP (the pod CIDR's network address) on mkpy.1, and the Service answers above
    # crossed that tunnel (w2's pods answered cp and w1)
    cidr = cp["cidrs"]
    assert cp["w1"]["routes"] == {cidr["cp"]: "via 192.168.60.10", cidr["w2"]: "via 192.168.60.12"}, cp["w1"]
    assert cp["w2"]["routes"] == {
        c: "vxlan " + c.split("/")[0] for c in (cidr["cp"], cidr["w1"])
    }, cp["w2"]["routes"]
    assert list(cp["after"]) == ["w1"] and len(cp["after"]["w1"]) == 6
