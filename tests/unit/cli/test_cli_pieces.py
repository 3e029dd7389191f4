"""The pure pieces of mkpy's kubectl verbs: JSONPath, tabwriter layout, apply's three-way patch,
rollout status messages, exec exit codes, kubeconfig discovery."""

from __future__ import annotations

import pytest

from minikube_py.api.patch import strategic_merge_patch
from minikube_py.cli import kubeclient
from minikube_py.cli.apply import three_way, with_last_applied
from minikube_py.cli.exec import exit_code
from minikube_py.cli.logs import parse_since
from minikube_py.cli.printers import JsonPathError, gotab, jsonpath, tabulate
from minikube_py.cli.rollout import status_message

POD_LIST = {
    "items": [
        {"metadata": {"name": "a"}, "status": {"phase": "Running", "podIP": "10.0.0.1"}},
        {"metadata": {"name": "b"}, "status": {"phase": "Pending"}},
    ]
}


@pytest.mark.parametrize(
    ("template", "want"),
    [
        ("{.items[0].metadata.name}", "a"),
        ("{.items[*].metadata.name}", "a b"),
        ('{range .items[*]}{.metadata.name}={.status.phase}{"\\n"}{end}', "a=Running\nb=Pending\n"),
        ('{.items[?(@.status.phase=="Pending")].metadata.name}', "b"),
        ("{.items[-1].metadata.name}", "b"),
        ("{..podIP}", "10.0.0.1"),
        ("names: {.items[0:1].metadata.name}", "names: a"),
    ],
)
def test_jsonpath(template, want):
    assert jsonpath(template, POD_LIST) == want


def test_jsonpath_errors_are_clear():
    with pytest.raises(JsonPathError, match="out of bounds"):
        jsonpath("{.items[5]}", POD_LIST)
    with pytest.raises(JsonPathError, match=r"without \{end\}"):
        jsonpath("{range .items[*]}x", POD_LIST)


def test_tabulate_pads_like_kubectl():
    assert tabulate([["NAME", "AGE"], ["a", "5s"]]) == "NAME   AGE\na      5s\n"


def test_gotab_aligns_blocks_separately():
    text = "Name:\tx\nContainers:\n  c:\n    Image:\tbusybox\nEvents:\t<none>\n"
    assert gotab(text) == "Name:  x\nContainers:\n  c:\n    Image:  busybox\nEvents:     <none>\n"


def test_three_way_deletes_only_what_we_dropped():
    original = {"data": {"a": "1", "b": "2"}}
    modified = {"data": {"a": "1"}}
    current = {"data": {"a": "1", "b": "2", "theirs": "x"}}
    patch = three_way(original, modified, current)
    assert patch == {"data": {"b": None}}
    assert strategic_merge_patch(current, patch) == {"data": {"a": "1", "theirs": "x"}}
    assert three_way(modified, modified, {"data": {"a": "1", "theirs": "x"}}) == {}


def test_three_way_merges_containers_by_name():
    c = lambda name, image: {"name": name, "image": image}  # noqa: E731
    original = {"spec": {"containers": [c("a", "v1"), c("b", "v1")]}}
    modified = {"spec": {"containers": [c("a", "v2")]}}
    current = {"spec": {"containers": [c("a", "v1") | {"imagePullPolicy": "IfNotPresent"}, c("b", "v1")]}}
    patch = three_way(original, modified, current)
    merged = strategic_merge_patch(current, patch)
    assert merged["spec"]["containers"] == [{"name": "a", "image": "v2", "imagePullPolicy": "IfNotPresent"}]


def test_last_applied_is_what_kubectl_writes():
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "v"}}
    ann = with_last_applied(obj, "default")["metadata"]["annotations"]
    assert ann["kubectl.kubernetes.io/last-applied-configuration"] == (
        '{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap",'
        '"metadata":{"annotations":{},"name":"x","namespace":"default"}}\n'
    )


def test_rollout_status_messages():
    d = {
        "metadata": {"name": "d", "generation": 2},
        "spec": {"replicas": 3},
        "status": {"observedGeneration": 1},
    }
    assert status_message(d) == ("Waiting for deployment spec update to be observed...", False)
    d["status"] = {"observedGeneration": 2, "updatedReplicas": 1, "replicas": 3, "availableReplicas": 2}
    assert status_message(d)[0].endswith("1 out of 3 new replicas have been updated...")
    d["status"].update(updatedReplicas=3, replicas=4)
    assert status_message(d)[0].endswith("1 old replicas are pending termination...")
    d["status"].update(replicas=3, availableReplicas=3)
    assert status_message(d) == ('deployment "d" successfully rolled out', True)


def test_exec_exit_code_from_status():
    assert exit_code({"status": "Success"}) == (0, None)
    nonzero = {
        "status": "Failure",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "7"}]},
    }
    assert exit_code(nonzero) == (7, None)
    assert exit_code({"status": "Failure", "message": "boom"}) == (1, "boom")


def test_parse_since():
    assert parse_since("1h30m") == 5400 and parse_since("10s") == 10
    with pytest.raises(kubeclient.KubeError, match="--since"):
        parse_since("ten")


def test_kubeconfig_order(tmp_path, monkeypatch):
    node, env, flag = (tmp_path / n for n in ("node", "env", "flag"))
    for p in (node, env, flag):
        p.write_text("{}")
    monkeypatch.setattr(kubeclient, "NODE_KUBECONFIG", str(node))
    monkeypatch.setenv("KUBECONFIG", str(env))
    assert kubeclient.find_kubeconfig(str(flag)) == str(flag)
    assert kubeclient.find_kubeconfig(None) == str(env)
    monkeypatch.delenv("KUBECONFIG")
    assert kubeclient.find_kubeconfig(None) == str(node)
