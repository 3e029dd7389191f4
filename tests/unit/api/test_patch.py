from __future__ import annotations

import pytest

from minikube_py.api.patch import PatchError, json_patch, merge_patch, strategic_merge_patch


def test_merge_patch_rfc7386():
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    assert merge_patch(target, {"a": "z", "c": {"f": None}, "l": [3]}) == {
        "a": "z",
        "c": {"d": "e"},
        "l": [3],
    }
    assert merge_patch({"a": 1}, {"b": {"c": None}}) == {"a": 1, "b": {}}
    assert target["c"] == {"d": "e", "f": "g"}  # the input is not modified


def test_json_patch_ops():
    doc = {"a": {"b": [1, 2, 3]}, "x": 1}
    out = json_patch(
        doc,
        [
            {"op": "add", "path": "/a/b/1", "value": 9},
            {"op": "add", "path": "/a/b/-", "value": 4},
            {"op": "remove", "path": "/x"},
            {"op": "replace", "path": "/a/b/0", "value": 0},
            {"op": "copy", "from": "/a/b", "path": "/c"},
            {"op": "move", "from": "/c", "path": "/d"},
            {"op": "test", "path": "/d/1", "value": 9},
            {"op": "add", "path": "/e~1f", "value": "slash"},
        ],
    )
    assert out == {"a": {"b": [0, 9, 2, 3, 4]}, "d": [0, 9, 2, 3, 4], "e/f": "slash"}
    assert doc == {"a": {"b": [1, 2, 3]}, "x": 1}


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "test", "path": "/x", "value": 2}],
        [{"op": "remove", "path": "/nope"}],
        [{"op": "replace", "path": "/a/b/7", "value": 1}],
        [{"op": "frobnicate", "path": "/x"}],
        [{"op": "add", "path": "/x"}],
        {"op": "add"},
    ],
)
def test_json_patch_errors(ops):
    with pytest.raises(PatchError):
        json_patch({"x": 1, "a": {"b": []}}, ops)


POD = {
    "spec": {
        "containers": [
            {
                "name": "app",
                "image": "a:1",
                "ports": [{"containerPort": 80}, {"containerPort": 443}],
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            },
            {"name": "side", "image": "s:1"},
        ],
        "volumes": [{"name": "data", "emptyDir": {}}],
        "tolerations": [{"key": "a"}],
    },
    "metadata": {"finalizers": ["x"], "labels": {"k": "v"}},
}


def test_strategic_merge_by_keys():
    out = strategic_merge_patch(
        POD,
        {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "a:2",
                        "ports": [{"containerPort": 8080}],
                        "env": [{"name": "B", "value": "3"}],
                    },
                    {"name": "new", "image": "n:1"},
                ]
            }
        },
    )
    cs = out["spec"]["containers"]
    assert [c["name"] for c in cs] == ["app", "side", "new"]
    assert cs[0]["image"] == "a:2"
    assert [p["containerPort"] for p in cs[0]["ports"]] == [80, 443, 8080]
    assert cs[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]
    assert POD["spec"]["containers"][0]["image"] == "a:1"


def test_strategic_merge_directives():
    out = strategic_merge_patch(
        POD,
        {
            "spec": {
                "containers": [{"name": "side", "$patch": "delete"}],
                "volumes": [{"name": "cache", "emptyDir": {}}],
                "tolerations": [{"key": "b"}],
            },  # no merge key: replaced
            "metadata": {"finalizers": ["y"], "labels": {"$patch": "replace", "only": "this"}},
        },
    )
    assert [c["name"] for c in out["spec"]["containers"]] == ["app"]
    assert [v["name"] for v in out["spec"]["volumes"]] == ["data", "cache"]
    assert out["spec"]["tolerations"] == [{"key": "b"}]
    assert out["metadata"]["finalizers"] == ["x", "y"]
    assert out["metadata"]["labels"] == {"only": "this"}

    ordered = strategic_merge_patch(
        POD,
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
                "containers": [{"name": "app", "image": "a:3"}],
            }
        },
    )
    assert [c["name"] for c in ordered["spec"]["containers"]] == ["side", "app"]
    assert ordered["spec"]["containers"][1]["image"] == "a:3"

    removed = strategic_merge_patch(POD, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}})
    assert removed["metadata"]["finalizers"] == []
    replaced = strategic_merge_patch(
        POD, {"spec": {"containers": [{"name": "only", "image": "o"}, {"$patch": "replace"}]}}
    )
    assert replaced["spec"]["containers"] == [{"name": "only", "image": "o"}]


def test_strategic_merge_service_ports_by_port():
    svc = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    out = strategic_merge_patch(svc, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}})
    assert out["spec"]["ports"] == [{"port": 80, "targetPort": 9090}, {"port": 443}]
    with pytest.raises(PatchError):
        strategic_merge_patch(POD, {"spec": {"containers": [{"image": "no-name"}]}})


def test_strategic_merge_retain_keys():
    dep = {"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    out = strategic_merge_patch(dep, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
    assert out == {"spec": {"strategy": {"type": "Recreate"}}}
