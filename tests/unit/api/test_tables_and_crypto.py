from __future__ import annotations

import datetime as dt

import pytest

from minikube_py.api import tables
from minikube_py.api.resources import lookup
from minikube_py.api.storage.encryption import EncryptionError, Transformer, write_key_file


@pytest.mark.parametrize(
    "seconds,text",
    [
        (-5, "<invalid>"),
        (0, "0s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (200, "3m20s"),
        (600, "10m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 600, "3h10m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 7200, "3d2h"),
        (40 * 86400, "40d"),
        (3 * 365 * 86400 + 5 * 86400, "3y5d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration_matches_kubectl(seconds, text):
    assert tables.human_duration(seconds) == text


def ago(seconds: int) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_pod_rows():
    pod = {
        "metadata": {"name": "web", "creationTimestamp": ago(300)},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}], "nodeName": "n1"},
        "status": {
            "phase": "Running",
            "podIP": "10.244.0.5",
            "containerStatuses": [
                {
                    "name": "a",
                    "ready": True,
                    "restartCount": 2,
                    "state": {"running": {}},
                    "lastState": {"terminated": {"finishedAt": ago(60)}},
                },
                {
                    "name": "b",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                },
            ],
        },
    }
    cells = tables.row_for(lookup("pods"), pod)
    assert cells == [
        "web",
        "1/2",
        "CrashLoopBackOff",
        "2 (60s ago)",
        "5m",
        "10.244.0.5",
        "n1",
        "<none>",
        "<none>",
    ]
    pod["metadata"]["deletionTimestamp"] = ago(0)
    assert tables.row_for(lookup("pods"), pod)[2] == "Terminating"
    init = {
        "metadata": {"name": "i"},
        "spec": {"initContainers": [{"name": "x"}, {"name": "y"}], "containers": [{}]},
        "status": {
            "phase": "Pending",
            "initContainerStatuses": [{"state": {"terminated": {"exitCode": 0}}}, {"state": {"running": {}}}],
        },
    }
    assert tables.pod_status_reason(init) == "Init:1/2"


def test_service_node_deployment_rows():
    svc = {
        "metadata": {"name": "s", "creationTimestamp": ago(10)},
        "spec": {
            "type": "NodePort",
            "clusterIP": "10.96.3.4",
            "selector": {"app": "web"},
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
        },
    }
    assert tables.row_for(lookup("services"), svc) == [
        "s",
        "NodePort",
        "10.96.3.4",
        "<none>",
        "80:30080/TCP,53/UDP",
        "10s",
        "app=web",
    ]
    node = {
        "metadata": {"name": "n", "labels": {"node-role.kubernetes.io/control-plane": ""}},
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {"kubeletVersion": "v1.30.0"},
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
        },
    }
    row = tables.row_for(lookup("nodes"), node)
    assert row[:3] == ["n", "Ready,SchedulingDisabled", "control-plane"] and row[4:6] == [
        "v1.30.0",
        "10.0.0.1",
    ]
    dep = {
        "metadata": {"name": "d"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert tables.row_for(lookup("deployments"), dep)[:4] == ["d", "2/3", 3, 2]
    table = tables.table(lookup("configmaps"), [{"metadata": {"name": "c"}, "data": {"a": "1"}}], {}, "None")
    assert table["columnDefinitions"][1]["name"] == "Data" and table["rows"] == [
        {"cells": ["c", 1, "<unknown>"]}
    ]


def test_encryption_round_trip_and_authenticated_key(tmp_path):
    key_file = str(tmp_path / "k")
    write_key_file(key_file)
    t = Transformer(key_file)
    sealed = t.to_storage("/registry/secrets/ns/a", b"plain")
    assert sealed.startswith(b"k8s:enc:aesgcm:v1:key1:") and b"plain" not in sealed
    assert t.from_storage("/registry/secrets/ns/a", sealed) == b"plain"
    assert t.to_storage("/registry/configmaps/ns/a", b"plain") == b"plain"
    with pytest.raises(Exception):  # noqa: B017 - a value moved to another key must not decrypt
        t.from_storage("/registry/secrets/ns/b", sealed)
    other = tmp_path / "other"
    other.write_text("key2:" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=\n")
    with pytest.raises(EncryptionError, match="unknown key"):
        Transformer(str(other)).from_storage("/registry/secrets/ns/a", sealed)


def test_storage_and_policy_rows():
    pvc = {
        "metadata": {"name": "data"},
        "spec": {"volumeName": "pv1", "storageClassName": "local", "volumeMode": "Filesystem"},
        "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]},
    }
    assert tables.row_for(lookup("pvc"), pvc)[:7] == [
        "data",
        "Bound",
        "pv1",
        "1Gi",
        "RWO",
        "local",
        "<unset>",
    ]
    pv = {
        "metadata": {"name": "pv1"},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {"namespace": "default", "name": "data"},
        },
        "status": {"phase": "Bound"},
    }
    assert tables.row_for(lookup("pv"), pv)[:6] == ["pv1", "1Gi", "RWX", "Retain", "Bound", "default/data"]
    np = {"metadata": {"name": "deny"}, "spec": {"podSelector": {"matchLabels": {"app": "db"}}}}
    assert tables.row_for(lookup("netpol"), np)[:2] == ["deny", "app=db"]
    assert [c["name"] for c in tables.columns_for(lookup("pvc"))][:3] == ["Name", "Status", "Volume"]
