"""`kubectl top nodes|pods` read metrics.k8s.io, which the API server computes from the kubelets'
/stats/summary: CPU as a rate of cumulative CPU time, memory as the working set."""

from __future__ import annotations

import time

import pytest

from .conftest import NEWEST, NODE, POD

START = time.monotonic()


def _summary() -> dict:
    """A kubelet whose node burns exactly one core and whose pod burns a quarter of one."""
    elapsed = time.monotonic() - START
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def cpu(cores: float) -> dict:
        return {"time": now, "usageCoreNanoSeconds": int(cores * elapsed * 1e9)}

    return {
        "node": {"nodeName": NODE, "cpu": cpu(1.0), "memory": {"time": now, "workingSetBytes": 2 << 30}},
        "pods": [
            {
                "podRef": {"name": POD, "namespace": "default", "uid": "x"},
                "cpu": cpu(0.25),
                "memory": {"time": now, "workingSetBytes": 64 << 20},
                "containers": [
                    {"name": "app", "cpu": cpu(0.25), "memory": {"time": now, "workingSetBytes": 64 << 20}}
                ],
            },
            {  # a pod the API server does not know (e.g. just deleted): not listed
                "podRef": {"name": "gone", "namespace": "default", "uid": "y"},
                "cpu": cpu(0.1),
                "memory": {"time": now, "workingSetBytes": 1 << 20},
                "containers": [],
            },
        ],
    }


@pytest.fixture
def with_metrics(cluster):
    cluster.kubelet.summary = _summary
    node = cluster.api.client.get("nodes", NODE)
    node["status"]["allocatable"] = {"cpu": "2", "memory": "4Gi", "pods": "110"}
    node["status"]["capacity"] = {"cpu": "2", "memory": "4Gi", "pods": "110"}
    cluster.api.client.update_status(node)
    yield cluster
    cluster.kubelet.summary = dict


def _millicores(cell: str) -> int:
    assert cell.endswith("m"), cell
    return int(cell[:-1])


@pytest.mark.parametrize("which", ["1.20", "newest"])
def test_kubectl_top(with_metrics, which, request):
    binary = request.getfixturevalue("kubectl_120") if which == "1.20" else NEWEST
    c = with_metrics
    rows = [line.split() for line in c.kubectl(binary, "top", "nodes").stdout.strip().splitlines()]
    assert rows[0][:3] in (
        ["NAME", "CPU(cores)", "CPU%"],
        ["NAME", "CPU(cores)", "CPU(%)"],
    )  # 1.33 says CPU(%)
    node = next(r for r in rows if r[0] == NODE)
    assert 950 <= _millicores(node[1]) <= 1050  # one core, measured over a short window
    assert 47 <= int(node[2].rstrip("%")) <= 53 and node[3] == "2048Mi" and node[4] == "50%"

    rows = [line.split() for line in c.kubectl(binary, "top", "pods").stdout.strip().splitlines()]
    assert rows[0] == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert [r[0] for r in rows[1:]] == [POD]
    assert 240 <= _millicores(rows[1][1]) <= 260 and rows[1][2] == "64Mi"

    rows = [line.split() for line in c.kubectl(binary, "top", "pod", POD, "--containers").stdout.splitlines()]
    assert rows[0] == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert rows[1][:2] == [POD, "app"] and rows[1][3] == "64Mi"
