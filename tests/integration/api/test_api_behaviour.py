"""API behaviour over HTTP with our client, on SQLite and on etcd (the `api` fixture)."""

from __future__ import annotations

import base64
import json
import pathlib
import threading
import urllib.request

import pytest

from minikube_py.api.client import Client
from minikube_py.api.errors import ApiError


def pod(name: str, labels: dict | None = None, node: str | None = None, **spec) -> dict:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}], **spec},
    }
    if node:
        body["spec"]["nodeName"] = node
    return body


def cm(name: str, labels: dict | None = None, **data) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels or {}},
        "data": data,
    }


def error_of(fn, *args, **kwargs) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*args, **kwargs)
    return info.value


def revision(c: Client) -> int:
    return int(c.list("namespaces")["metadata"]["resourceVersion"])


# ---------------------------------------------------------------- discovery and auth
def test_version_discovery_and_auth(api):
    c = api.client
    assert c.version()["gitVersion"].startswith("v1.30.")
    assert c.request("GET", "/api")["versions"] == ["v1"]
    groups = {g["name"] for g in c.request("GET", "/apis")["groups"]}
    assert {"apps", "coordination.k8s.io", "networking.k8s.io", "events.k8s.io"} <= groups
    core = {r["name"]: r for r in c.request("GET", "/api/v1")["resources"]}
    assert core["pods"]["shortNames"] == ["po"] and core["pods"]["namespaced"] is True
    assert "watch" in core["pods"]["verbs"] and "pods/status" in core and "pods/binding" in core
    assert core["nodes"]["namespaced"] is False
    apps = {r["name"]: r for r in c.request("GET", "/apis/apps/v1")["resources"]}
    assert apps["deployments/scale"]["kind"] == "Scale" and apps["deployments"]["shortNames"] == ["deploy"]

    anonymous = Client(api.url)
    assert error_of(anonymous.list, "pods").code == 401
    assert error_of(Client(api.url, token="wrong").get, "namespaces", "default").reason == "Unauthorized"
    assert anonymous.request("GET", "/healthz") == "ok"
    # The unix socket (node agents) needs no token.
    local = Client.from_socket(str(api.tmp / "api.sock"))
    assert local.get("namespaces", "default")["status"]["phase"] == "Active"


# ---------------------------------------------------------------- CRUD
def test_crud_defaults_and_errors(api):
    c = api.client
    created = c.create(pod("web", {"app": "web"}))
    meta, spec = created["metadata"], created["spec"]
    assert meta["namespace"] == "default" and meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1 and int(meta["resourceVersion"]) > 0
    assert spec["restartPolicy"] == "Always" and spec["terminationGracePeriodSeconds"] == 30
    assert spec["dnsPolicy"] == "ClusterFirst" and spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}

    got = c.get("pods", "web")
    assert got == created
    assert error_of(c.create, pod("web")).reason == "AlreadyExists"
    err = error_of(c.get, "pods", "nope")
    assert (err.code, err.reason, err.message) == (404, "NotFound", 'pods "nope" not found')

    got["metadata"]["labels"]["tier"] = "front"
    updated = c.update(got)
    assert int(updated["metadata"]["resourceVersion"]) > int(got["metadata"]["resourceVersion"])
    assert updated["metadata"]["generation"] == 1  # labels are not spec
    assert [p["metadata"]["name"] for p in c.list("pods", "default")["items"]] == ["web"]

    deleted = c.delete("pods", "web")  # unscheduled: nothing to wait for, gone at once
    assert deleted["metadata"]["name"] == "web"
    assert error_of(c.get, "pods", "web").code == 404


def test_stale_update_is_a_conflict(api):
    c = api.client
    first = c.create(cm("settings", a="1"))
    second = dict(first, data={"a": "2"})
    c.update(second)
    stale = dict(first, data={"a": "3"})
    err = error_of(c.update, stale)
    assert err.code == 409 and err.reason == "Conflict" and "has been modified" in err.message
    assert c.get("configmaps", "settings")["data"] == {"a": "2"}
    # Without a resourceVersion the update is unconditional (like kubectl replace --force does not need).
    unconditional = {**first, "metadata": {**first["metadata"], "resourceVersion": ""}, "data": {"a": "4"}}
    assert c.update(unconditional)["data"] == {"a": "4"}


def test_noop_update_keeps_resource_version(api):
    c = api.client
    obj = c.create(cm("same", a="1"))
    assert c.update(obj)["metadata"]["resourceVersion"] == obj["metadata"]["resourceVersion"]


def test_validation_errors_change_nothing(api):
    c = api.client
    before = revision(c)
    bad = pod("Bad_Name")
    bad["spec"]["containers"].append({"name": "app", "ports": [{"containerPort": 70000, "protocol": "ICMP"}]})
    err = error_of(c.create, bad)
    assert err.code == 422 and err.reason == "Invalid"
    fields = {cause["field"] for cause in err.details["causes"]}
    assert {
        "metadata.name",
        "spec.containers[1].name",
        "spec.containers[1].image",
        "spec.containers[1].ports[0].containerPort",
        "spec.containers[1].ports[0].protocol",
    } <= fields
    assert err.message.startswith('Pod "Bad_Name" is invalid: ')
    assert revision(c) == before
    assert c.list("pods", "default")["items"] == []

    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "y"}},
                "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            },
        },
    }
    err = error_of(c.create, dep)
    assert err.details["causes"][0]["field"] == "spec.template.metadata.labels"
    assert error_of(c.create, cm("x"), namespace="missing").code == 404
    assert error_of(c.request, "POST", "/api/v1/namespaces/default/pods", b"{not json").code == 400
    assert revision(c) == before


# ---------------------------------------------------------------- selectors and paging
def test_label_and_field_selectors(api):
    c = api.client
    c.create(pod("a", {"app": "web", "env": "prod"}))
    c.create(pod("b", {"app": "web", "env": "dev"}))
    c.create(pod("c", {"app": "db"}))
    c.bind("default", "a", "node-1")
    c.bind("default", "c", "node-2")

    def names(**kw) -> list[str]:
        return [p["metadata"]["name"] for p in c.list("pods", "default", **kw)["items"]]

    assert names(label_selector="app=web") == ["a", "b"]
    assert names(label_selector="app=web,env!=prod") == ["b"]
    assert names(label_selector="env in (prod,staging)") == ["a"]
    assert names(label_selector="env notin (prod)") == ["b", "c"]
    assert names(label_selector="!env") == ["c"]
    assert names(label_selector="env") == ["a", "b"]
    assert names(field_selector="spec.nodeName=node-2") == ["c"]
    assert names(field_selector="spec.nodeName=") == ["b"]
    assert names(field_selector="metadata.name!=a,status.phase=Pending") == ["b", "c"]
    assert error_of(names, field_selector="spec.bogus=1").code == 400
    assert error_of(names, label_selector="app in (").code == 400

    ev = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "a.1"},
        "reason": "Scheduled",
        "type": "Normal",
        "involvedObject": {"kind": "Pod", "name": "a", "namespace": "default"},
    }
    c.create(ev)
    c.create({**ev, "metadata": {"name": "b.1"}, "involvedObject": {"kind": "Pod", "name": "b"}})
    found = c.list("events", "default", field_selector="involvedObject.name=a,involvedObject.kind=Pod")
    assert [e["metadata"]["name"] for e in found["items"]] == ["a.1"]


def test_paging_with_limit_and_continue(api):
    c = api.client
    for i in range(7):
        c.create(cm(f"cm-{i}", {"page": "yes" if i % 2 == 0 else "no"}))
    seen, token, pages = [], None, 0
    while True:
        page = c.list("configmaps", "default", limit=3, continue_=token)
        pages += 1
        assert len(page["items"]) <= 3
        seen += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
        if not token:
            break
    assert seen == [f"cm-{i}" for i in range(7)] and pages == 3
    filtered = c.list("configmaps", "default", limit=2, label_selector="page=yes")
    assert [i["metadata"]["name"] for i in filtered["items"]] == ["cm-0", "cm-2"]
    rest = c.list(
        "configmaps",
        "default",
        limit=2,
        label_selector="page=yes",
        continue_=filtered["metadata"]["continue"],
    )
    assert [i["metadata"]["name"] for i in rest["items"]] == ["cm-4", "cm-6"]
    assert error_of(c.list, "configmaps", "default", continue_="garbage").code == 400


# ---------------------------------------------------------------- watch
def collect(watch, n: int, timeout: float = 10.0) -> list[dict]:
    """Read n events in a thread (a broken server must fail the test, not hang it)."""
    got: list[dict] = []

    def run() -> None:
        for ev in watch:
            got.append(ev)
            if len(got) >= n:
                break

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    watch.stop()
    t.join(5)
    return got


def test_watch_resumes_from_resource_version(api):
    c = api.client
    start = c.create(cm("w1", a="1"))["metadata"]["resourceVersion"]
    c.patch("configmaps", "w1", {"data": {"a": "2"}})
    c.create(cm("w2"))
    c.delete("configmaps", "w1")
    events = collect(c.watch("configmaps", "default", resource_version=start), 3)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("MODIFIED", "w1"),
        ("ADDED", "w2"),
        ("DELETED", "w1"),
    ]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(start)
    assert events[0]["object"]["data"] == {"a": "2"}

    # Resume from the middle: only what came after.
    again = collect(c.watch("configmaps", "default", resource_version=str(rvs[0])), 2)
    assert [e["type"] for e in again] == ["ADDED", "DELETED"]

    # No resourceVersion: the current state first (synthetic ADDED), then live changes.
    w = c.watch("configmaps", "default")
    out: list[dict] = []
    t = threading.Thread(target=lambda: [out.append(e) for e in w], daemon=True)
    t.start()
    c.create(cm("w3"))
    for _ in range(200):
        if len(out) >= 2:
            break
        threading.Event().wait(0.02)
    w.stop()
    t.join(5)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in out[:2]] == [
        ("ADDED", "w2"),
        ("ADDED", "w3"),
    ]


def test_watch_through_a_selector_sees_objects_leave(api):
    c = api.client
    start = c.create(cm("s1", {"app": "web"}))["metadata"]["resourceVersion"]
    c.patch("configmaps", "s1", {"metadata": {"labels": {"app": "db"}}})
    c.patch("configmaps", "s1", {"metadata": {"labels": {"app": "web"}}})
    events = collect(
        c.watch("configmaps", "default", resource_version=str(int(start) - 1), label_selector="app=web"), 3
    )
    assert [e["type"] for e in events] == ["ADDED", "DELETED", "ADDED"]


def test_watch_bookmarks_and_timeout(api):
    c = api.client
    rv = c.create(cm("b1"))["metadata"]["resourceVersion"]
    events = list(c.watch("configmaps", "default", resource_version=rv, timeout_seconds=2, bookmarks=True))
    assert events, "a 2 s watch with bookmarks every 0.3 s must see a bookmark"
    assert {e["type"] for e in events} == {"BOOKMARK"}
    assert all(int(e["object"]["metadata"]["resourceVersion"]) >= int(rv) for e in events)


def test_watch_too_old_is_410_gone(api):
    c = api.client
    first = c.create(cm("old"))["metadata"]["resourceVersion"]
    for i in range(5):
        c.patch("configmaps", "old", {"data": {"n": str(i)}})
    api.call(api.server.backend.compact(1))
    err = error_of(lambda: list(c.watch("configmaps", "default", resource_version=first, resume=False)))
    assert err.code == 410 and err.reason == "Expired"
    # A fresh resourceVersion still works after compaction.
    now_rv = c.get("configmaps", "old")["metadata"]["resourceVersion"]
    c.delete("configmaps", "old")
    assert [e["type"] for e in collect(c.watch("configmaps", "default", resource_version=now_rv), 1)] == [
        "DELETED"
    ]


# ---------------------------------------------------------------- patch
def test_patch_types(api):
    c = api.client
    c.create(
        {
            **pod("p", {"a": "1", "b": "2"}),
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "busybox:1.36",
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    },
                    {"name": "side", "image": "busybox:1.36"},
                ]
            },
        }
    )
    merged = c.patch("pods", "p", {"metadata": {"labels": {"a": None, "c": "3"}}}, patch_type="merge")
    assert merged["metadata"]["labels"] == {"b": "2", "c": "3"}

    smp = c.patch(
        "pods",
        "p",
        {"spec": {"containers": [{"name": "side", "image": "busybox:1.37"}]}},
        patch_type="strategic",
    )
    cs = {x["name"]: x for x in smp["spec"]["containers"]}
    assert [x["name"] for x in smp["spec"]["containers"]] == ["app", "side"]
    assert cs["side"]["image"] == "busybox:1.37" and cs["app"]["image"] == "busybox:1.36"
    assert len(cs["app"]["env"]) == 2

    c.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "d"},
            "spec": {
                "selector": {"matchLabels": {"app": "d"}},
                "template": {
                    "metadata": {"labels": {"app": "d"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "app",
                                "image": "busybox:1.36",
                                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            }
                        ]
                    },
                },
            },
        }
    )
    dep = c.patch(
        "deployments",
        "d",
        {
            "spec": {
                "template": {
                    "spec": {
                        "$setElementOrder/containers": [{"name": "app"}],
                        "containers": [
                            {
                                "name": "app",
                                "env": [
                                    {"name": "B", "value": "22"},
                                    {"name": "A", "$patch": "delete"},
                                    {"name": "C", "value": "3"},
                                ],
                            }
                        ],
                    }
                }
            }
        },
        patch_type="strategic",
    )
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "busybox:1.36"
    assert container["env"] == [{"name": "B", "value": "22"}, {"name": "C", "value": "3"}]
    assert dep["metadata"]["generation"] == 2

    jp = c.patch(
        "pods",
        "p",
        [
            {"op": "add", "path": "/metadata/annotations", "value": {"x": "y"}},
            {"op": "replace", "path": "/spec/containers/0/image", "value": "busybox:1.38"},
        ],
        patch_type="json",
    )
    assert (
        jp["metadata"]["annotations"] == {"x": "y"} and jp["spec"]["containers"][0]["image"] == "busybox:1.38"
    )
    rv = jp["metadata"]["resourceVersion"]
    err = error_of(
        c.patch, "pods", "p", [{"op": "test", "path": "/metadata/name", "value": "other"}], patch_type="json"
    )
    assert err.code == 422
    # An immutable field through a patch is refused, and nothing changes.
    err = error_of(c.patch, "pods", "p", {"spec": {"restartPolicy": "Never"}})
    assert err.code == 422 and "pod updates may not change fields" in err.message
    assert c.get("pods", "p")["metadata"]["resourceVersion"] == rv
    # A pinned stale resourceVersion in a patch is a conflict.
    err = error_of(c.patch, "pods", "p", {"metadata": {"resourceVersion": "1", "labels": {"z": "z"}}})
    assert err.code == 409


# ---------------------------------------------------------------- delete semantics
def test_graceful_pod_delete_and_finalizers(api):
    c = api.client
    c.create(pod("g"))
    c.bind("default", "g", "node-1")
    marked = c.delete("pods", "g")
    assert marked["metadata"]["deletionTimestamp"] and marked["metadata"]["deletionGracePeriodSeconds"] == 30
    assert c.get("pods", "g")["metadata"]["deletionTimestamp"]
    assert error_of(c.bind, "default", "g", "node-2").code == 409
    c.delete("pods", "g", grace_period_seconds=0)  # the kubelet confirms the containers are gone
    assert error_of(c.get, "pods", "g").code == 404

    held = c.create({**cm("held"), "metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    c.delete("configmaps", "held")
    still = c.get("configmaps", "held")
    assert still["metadata"]["deletionTimestamp"] and still["metadata"]["finalizers"] == ["example.com/hold"]
    assert held["metadata"]["uid"] == still["metadata"]["uid"]
    err = error_of(c.patch, "configmaps", "held", {"metadata": {"finalizers": ["example.com/hold", "late"]}})
    assert err.code == 422 and "no new finalizers" in err.message
    c.patch("configmaps", "held", {"metadata": {"finalizers": None}})
    assert error_of(c.get, "configmaps", "held").code == 404

    c.create(cm("orphaned"))
    c.delete("configmaps", "orphaned", propagation_policy="Orphan")
    assert c.get("configmaps", "orphaned")["metadata"]["finalizers"] == ["orphan"]
    c.create(cm("fg"))
    c.delete("configmaps", "fg", propagation_policy="Foreground")
    assert c.get("configmaps", "fg")["metadata"]["finalizers"] == ["foregroundDeletion"]

    c.create(cm("pre"))
    err = error_of(c.delete, "configmaps", "pre", preconditions={"uid": "not-the-uid"})
    assert err.code == 409


def test_deletecollection(api):
    c = api.client
    for i in range(4):
        c.create(cm(f"dc-{i}", {"drop": "yes" if i < 3 else "no"}))
    out = c.delete_collection("configmaps", "default", label_selector="drop=yes")
    assert sorted(i["metadata"]["name"] for i in out["items"]) == ["dc-0", "dc-1", "dc-2"]
    assert [i["metadata"]["name"] for i in c.list("configmaps", "default")["items"]] == ["dc-3"]


def test_namespace_lifecycle(api):
    c = api.client
    c.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    c.create(cm("x"), namespace="team")
    c.delete("namespaces", "team")
    ns = c.get("namespaces", "team")
    assert ns["status"]["phase"] == "Terminating" and ns["spec"]["finalizers"] == ["kubernetes"]
    err = error_of(c.create, cm("y"), namespace="team")
    assert err.code == 403 and "being terminated" in err.message
    # The namespace controller empties the namespace, then clears spec.finalizers via /finalize.
    c.delete("configmaps", "x", namespace="team")
    c.request("PUT", "/api/v1/namespaces/team/finalize", {**ns, "spec": {"finalizers": []}})
    assert error_of(c.get, "namespaces", "team").code == 404


# ---------------------------------------------------------------- kinds with special rules
def test_service_ip_and_node_port_allocation(api):
    c = api.client
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    made = c.create(svc)
    ip = made["spec"]["clusterIP"]
    octets = [int(x) for x in ip.split(".")]
    assert octets[0] == 10 and 96 <= octets[1] <= 111 and ip != "10.96.0.1"
    port = made["spec"]["ports"][0]
    assert port["protocol"] == "TCP" and port["targetPort"] == 80 and 30000 <= port["nodePort"] <= 32767
    made["metadata"]["labels"] = {"x": "y"}
    made["spec"]["clusterIP"] = ""
    again = c.update(made)
    assert again["spec"]["clusterIP"] == ip and again["spec"]["ports"][0]["nodePort"] == port["nodePort"]
    taken = {**svc, "metadata": {"name": "other"}, "spec": {**svc["spec"], "clusterIP": ip}}
    err = error_of(c.create, taken)
    assert err.code == 422 and "already allocated" in err.message
    assert error_of(c.patch, "services", "web", {"spec": {"clusterIP": "10.96.9.9"}}).code == 422
    assert c.get("services", "kubernetes")["spec"]["clusterIP"] == "10.96.0.1"


def test_deployment_defaults_status_and_scale(api):
    c = api.client
    dep = c.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "app"},
            "spec": {
                "selector": {"matchLabels": {"app": "app"}},
                "template": {
                    "metadata": {"labels": {"app": "app"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]},
                },
            },
        }
    )
    spec = dep["spec"]
    assert (
        spec["replicas"] == 1
        and spec["revisionHistoryLimit"] == 10
        and spec["progressDeadlineSeconds"] == 600
    )
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert spec["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Always"

    status = c.update_status(
        {**dep, "status": {"replicas": 1, "readyReplicas": 1}, "spec": {**spec, "replicas": 9}}
    )
    assert status["status"]["readyReplicas"] == 1 and status["spec"]["replicas"] == 1  # /status ignores spec
    main = c.update({**status, "status": {}})
    assert main["status"]["readyReplicas"] == 1  # the main resource ignores status

    scale = c.get("deployments", "app", subresource="scale")
    assert (
        scale["kind"] == "Scale"
        and scale["spec"]["replicas"] == 1
        and scale["status"]["selector"] == "app=app"
    )
    scaled = c.scale("deployments", "app", 4)
    assert scaled["spec"]["replicas"] == 4
    after = c.get("deployments", "app")
    assert after["spec"]["replicas"] == 4 and after["metadata"]["generation"] == 2
    assert error_of(c.scale, "deployments", "app", -1).code == 422


def test_binding_sets_node_once(api):
    c = api.client
    c.create(pod("b"))
    assert c.bind("default", "b", "node-1")["status"] == "Success"
    bound = c.get("pods", "b")
    assert bound["spec"]["nodeName"] == "node-1"
    assert any(x["type"] == "PodScheduled" and x["status"] == "True" for x in bound["status"]["conditions"])
    err = error_of(c.bind, "default", "b", "node-2")
    assert err.code == 409 and "already assigned" in err.message


def test_secrets_are_encrypted_at_rest(api, request):
    c = api.client
    plaintext = "mkpyt-api-s3cr3t-value"
    made = c.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds"},
            "stringData": {"password": plaintext},
        }
    )
    assert made["type"] == "Opaque" and "stringData" not in made
    assert base64.b64decode(c.get("secrets", "creds")["data"]["password"]).decode() == plaintext
    encoded = base64.b64encode(plaintext.encode())
    if api.store == "sqlite":
        raw = b"".join(
            (api.tmp / n).read_bytes() for n in ("state.db", "state.db-wal") if (api.tmp / n).exists()
        )
        assert b"creds" in raw  # the key is there, so we are looking at the right file
    else:
        key = base64.b64encode(b"/registry/secrets/default/creds").decode()
        req = urllib.request.Request(
            f"http://{api.server.backend.base.removeprefix('http://')}/v3/kv/range",
            json.dumps({"key": key}).encode(),
            method="POST",
        )
        raw = base64.b64decode(json.load(urllib.request.urlopen(req))["kvs"][0]["value"])
        etcd_dir = request.getfixturevalue("etcd").dir
        on_disk = b"".join(p.read_bytes() for p in pathlib.Path(etcd_dir).rglob("*") if p.is_file())
        assert b"/registry/secrets/default/creds" in on_disk  # etcd's WAL holds the write
        assert plaintext.encode() not in on_disk and encoded not in on_disk
    assert b"k8s:enc:aesgcm:v1:key1:" in raw
    assert plaintext.encode() not in raw and encoded not in raw
    # ConfigMaps are not encrypted (only Secrets are, as configured): the same search finds them.
    c.create(cm("visible", v="mkpyt-api-plain"))
    if api.store == "sqlite":
        raw = b"".join(
            (api.tmp / n).read_bytes() for n in ("state.db", "state.db-wal") if (api.tmp / n).exists()
        )
        assert b"mkpyt-api-plain" in raw


def test_events_two_api_groups_one_store(api):
    c = api.client
    c.create(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "e1"},
            "reason": "Pulled",
            "message": "pulled it",
            "type": "Normal",
            "involvedObject": {"kind": "Pod", "name": "x"},
        }
    )
    v1 = c.request("GET", "/apis/events.k8s.io/v1/namespaces/default/events/e1")
    assert (
        v1["apiVersion"] == "events.k8s.io/v1"
        and v1["note"] == "pulled it"
        and v1["regarding"]["name"] == "x"
    )


def test_table_responses(api):
    c = api.client
    c.create(pod("t", node="node-1"))
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    req = urllib.request.Request(
        f"{api.url}/api/v1/namespaces/default/pods?includeObject=Object",
        headers={"Accept": accept, "Authorization": f"Bearer {api.token}"},
    )
    table = json.load(urllib.request.urlopen(req))
    assert table["kind"] == "Table"
    assert [col["name"] for col in table["columnDefinitions"]] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
        "IP",
        "Node",
        "Nominated Node",
        "Readiness Gates",
    ]
    cells = table["rows"][0]["cells"]
    assert cells[:4] == ["t", "0/1", "Pending", "0"] and cells[6] == "node-1"
    assert table["rows"][0]["object"]["kind"] == "Pod"


def test_dry_run_server_side_apply_eviction_and_event_expiry(api):
    c = api.client
    before = revision(c)
    dry = c.create(cm("dry", a="1"), dry_run=True)
    assert dry["metadata"]["uid"] and error_of(c.get, "configmaps", "dry").code == 404
    assert revision(c) == before

    # Server-side apply (kubectl apply --server-side) creates, then patches.
    body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  k: first\n"
    path = "/api/v1/namespaces/default/configmaps/ssa?fieldManager=test"
    assert c.request("PATCH", path, body, content_type="application/apply-patch+yaml")["data"] == {
        "k": "first"
    }
    again = c.request(
        "PATCH", path, body.replace(b"first", b"second"), content_type="application/apply-patch+yaml"
    )
    assert again["data"] == {"k": "second"}

    c.create(pod("evictee"))
    c.bind("default", "evictee", "node-1")
    out = c.request(
        "POST",
        "/api/v1/namespaces/default/pods/evictee/eviction",
        {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": "evictee"},
            "deleteOptions": {"gracePeriodSeconds": 0},
        },
    )
    assert out["status"] == "Success" and error_of(c.get, "pods", "evictee").code == 404

    v1 = c.request(
        "POST",
        "/apis/events.k8s.io/v1/namespaces/default/events",
        {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "old"},
            "note": "long ago",
            "reason": "Test",
            "type": "Normal",
            "eventTime": "2020-01-01T00:00:00Z",
            "regarding": {"kind": "Pod", "name": "x"},
        },
    )
    assert v1["apiVersion"] == "events.k8s.io/v1" and v1["note"] == "long ago"
    assert c.get("events", "old")["message"] == "long ago"
    c.create(
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "fresh"},
            "reason": "Test",
            "involvedObject": {"kind": "Pod", "name": "x"},
        }
    )
    assert api.call(api.server.registry.expire_events(3600)) == 1
    assert [e["metadata"]["name"] for e in c.list("events", "default")["items"]] == ["fresh"]


def test_kubernetes_service_endpoints_follow_the_advertised_address(tmp_path):
    from minikube_py.api.testing import ThreadedApiServer

    with ThreadedApiServer(f"sqlite://{tmp_path}/s.db", advertise=("10.0.2.15", 6443)) as api:
        ep = api.client.get("endpoints", "kubernetes")
        assert ep["subsets"] == [
            {
                "addresses": [{"ip": "10.0.2.15"}],
                "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
            }
        ]
        assert api.client.get("services", "kubernetes")["spec"]["ports"][0]["targetPort"] == 6443


def test_paged_list_is_one_snapshot_and_expires(api):
    c = api.client
    for i in range(5):
        c.create(cm(f"snap-{i}", v="old"))
    first = c.list("configmaps", "default", limit=2)
    token = first["metadata"]["continue"]
    c.patch("configmaps", "snap-3", {"data": {"v": "new"}})
    c.delete("configmaps", "snap-4")
    c.create(cm("snap-5"))
    c.delete("configmaps", "snap-2")
    c.create(cm("snap-2", v="recreated"))
    rest = []
    while token:
        page = c.list("configmaps", "default", limit=2, continue_=token)
        assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        rest += page["items"]
        token = page["metadata"].get("continue")
    assert [(i["metadata"]["name"], i["data"]["v"]) for i in rest] == [
        ("snap-2", "old"),
        ("snap-3", "old"),
        ("snap-4", "old"),
    ]
    # Once the snapshot's revision is compacted away, continuing is 410 Gone.
    again = c.list("configmaps", "default", limit=2)
    for i in range(3):
        c.patch("configmaps", "snap-0", {"data": {"v": str(i)}})
    api.call(api.server.backend.compact(1))
    err = error_of(c.list, "configmaps", "default", limit=2, continue_=again["metadata"]["continue"])
    assert err.code == 410


def test_concurrent_read_modify_write_loses_no_increment(api):
    """Optimistic concurrency under contention: 6 writers x 15 increments, each retrying on 409."""
    api.client.create(cm("counter", n="0"))
    conflicts = [0]

    def writer() -> None:
        c = api.client
        for _ in range(15):
            while True:
                obj = c.get("configmaps", "counter")
                obj["data"]["n"] = str(int(obj["data"]["n"]) + 1)
                try:
                    c.update(obj)
                    break
                except ApiError as e:
                    assert e.code == 409
                    conflicts[0] += 1

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert api.client.get("configmaps", "counter")["data"]["n"] == "90"


def test_unknown_fields_strict_warn_ignore(api):
    c = api.client
    typo = pod("typo")
    typo["spec"]["containers"][0]["imagee"] = "nginx"
    typo["specs"] = {}
    err = error_of(c.request, "POST", "/api/v1/namespaces/default/pods?fieldValidation=Strict", typo)
    assert err.code == 400 and err.message == (
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
        'unknown field "spec.containers[0].imagee", unknown field "specs"'
    )
    assert error_of(c.get, "pods", "typo").code == 404
    req = urllib.request.Request(
        f"{api.url}/api/v1/namespaces/default/pods",
        json.dumps(typo).encode(),
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req) as resp:
        warnings = resp.headers.get_all("Warning")
        created = json.load(resp)
    assert warnings == [
        '299 - "unknown field \\"spec.containers[0].imagee\\""',
        '299 - "unknown field \\"specs\\""',
    ]
    assert "imagee" not in created["spec"]["containers"][0] and "specs" not in created  # dropped, as k8s does
    c.create({**cm("quiet"), "extra": 1})  # our client: Warn by default, nothing raised
    assert "extra" not in c.get("configmaps", "quiet")


def test_two_api_servers_on_one_etcd_never_share_a_service_ip(etcd, tmp_path):
    """Allocation is claimed in the store, so servers racing on one etcd cannot hand out the same
    ClusterIP or NodePort (26 Services in a /27's 29 usable addresses: without the claims the two
    servers collide in most runs)."""
    from minikube_py.api.testing import ThreadedApiServer

    etcd.wipe()
    url = f"etcd://{etcd.endpoint}"
    with (
        ThreadedApiServer(url, service_cidr="10.96.0.0/27") as a,
        ThreadedApiServer(url, service_cidr="10.96.0.0/27") as b,
    ):
        made: list[dict] = []

        def create(server, prefix: str) -> None:
            c = server.client
            for i in range(13):
                made.append(
                    c.create(
                        {
                            "apiVersion": "v1",
                            "kind": "Service",
                            "metadata": {"name": f"{prefix}-{i}"},
                            "spec": {"type": "NodePort", "ports": [{"port": 80}]},
                        }
                    )
                )

        threads = [threading.Thread(target=create, args=(s, p)) for s, p in ((a, "a"), (b, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        ips = [s["spec"]["clusterIP"] for s in made]
        ports = [s["spec"]["ports"][0]["nodePort"] for s in made]
        assert len(made) == 26 and len(set(ips)) == 26 and len(set(ports)) == 26
        assert "10.96.0.1" not in ips  # the kubernetes Service's

        # Deleting a Service frees its claims; a NodePort -> ClusterIP change frees the port.
        a0 = next(s for s in made if s["metadata"]["name"] == "a-0")
        a.client.delete("services", "a-0")
        freed = a0["spec"]["ports"][0]["nodePort"]
        b.client.patch("services", "b-0", {"spec": {"type": "ClusterIP"}})
        claims = [k.key for k in a.call(a.server.backend.list("/registry/ranges/"))[0]]
        assert f"/registry/ranges/servicenodeports/{freed}" not in claims
        assert f"/registry/ranges/serviceips/{a0['spec']['clusterIP']}" not in claims
        assert len([k for k in claims if "nodeports" in k]) == 24
        taken = b.client.get("services", "a-1")["spec"]["clusterIP"]
        err = error_of(
            b.client.create,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "dup"},
                "spec": {"clusterIP": taken, "ports": [{"port": 1}]},
            },
        )
        assert err.code == 422 and "already allocated" in err.message
