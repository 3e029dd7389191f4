"""`mkpy rollout`, `describe` and `get events` on a Deployment the real controllers roll out."""

from __future__ import annotations

from .conftest import SEED, same_as_kubectl, wait_for

NS = "mkpyt-cli-roll"


def image(cluster) -> str:
    d = cluster.client.get("deployments", "myapp-deployment", NS)
    return d["spec"]["template"]["spec"]["containers"][0]["image"]


def test_rollout_status_history_undo_restart(cluster, tmp_path):
    cluster.kubectl("create", "namespace", NS)
    cluster.mkpy("apply", "-n", NS, "-f", f"{SEED}/deployment.yaml")
    out = cluster.mkpy("rollout", "status", "-n", NS, "deployment/myapp-deployment", "--timeout", "60").stdout
    assert out.splitlines()[-1] == 'deployment "myapp-deployment" successfully rolled out'

    v2 = tmp_path / "v2.yaml"
    v2.write_text(open(f"{SEED}/deployment.yaml").read().replace("myapp:v1.0", "myapp:v2.0"))
    assert "configured" in cluster.mkpy("apply", "-n", NS, "-f", str(v2)).stdout
    out = cluster.mkpy("rollout", "status", "-n", NS, "deploy", "myapp-deployment", "--timeout", "60").stdout
    assert out.splitlines()[-1] == 'deployment "myapp-deployment" successfully rolled out'
    assert (
        any(
            line.startswith('Waiting for deployment "myapp-deployment" rollout to finish')
            for line in out.splitlines()
        )
        or len(out.splitlines()) == 1
    )

    k = cluster.kubectl("rollout", "history", "-n", NS, "deployment/myapp-deployment")
    m = cluster.mkpy("rollout", "history", "-n", NS, "deployment/myapp-deployment")
    assert m.stdout == k.stdout
    assert [line.split()[0] for line in m.stdout.splitlines()[2:] if line.strip()] == ["1", "2"]

    assert cluster.mkpy("rollout", "undo", "-n", NS, "deployment/myapp-deployment").stdout == (
        "deployment.apps/myapp-deployment rolled back\n"
    )
    assert image(cluster) == "myregistry.com/myapp:v1.0"
    cluster.mkpy("rollout", "status", "-n", NS, "deployment/myapp-deployment", "--timeout", "60")
    wait_for(
        lambda: (
            sorted(
                p["spec"]["containers"][0]["image"]
                for p in cluster.client.list("pods", NS)["items"]
                if not p["metadata"].get("deletionTimestamp")
            )
            == ["myregistry.com/myapp:v1.0"] * 3
        ),
        what="three v1.0 pods after undo",
    )

    before = {p["metadata"]["name"] for p in cluster.client.list("pods", NS)["items"]}
    assert cluster.mkpy("rollout", "restart", "-n", NS, "deployment/myapp-deployment").stdout == (
        "deployment.apps/myapp-deployment restarted\n"
    )
    cluster.mkpy("rollout", "status", "-n", NS, "deployment/myapp-deployment", "--timeout", "60")
    wait_for(
        lambda: {p["metadata"]["name"] for p in cluster.client.list("pods", NS)["items"]}.isdisjoint(before),
        what="every pod replaced by the restart",
    )
    m = cluster.mkpy(
        "rollout", "undo", "-n", NS, "deployment/myapp-deployment", "--to-revision", "99", check=False
    )
    assert m.returncode == 1 and "unable to find specified revision 99" in m.stderr


def test_describe_and_events_like_kubectl(cluster):
    ns = "mkpyt-cli-desc"
    cluster.kubectl("create", "namespace", ns)
    cluster.mkpy("apply", "-n", ns, "-f", SEED)
    cluster.mkpy("rollout", "status", "-n", ns, "deployment/myapp-deployment", "--timeout", "60")
    wait_for(
        lambda: (cluster.client.get("endpoints", "myapp-service", ns).get("subsets") or [{}])[0].get(
            "addresses"
        ),
        what="endpoints",
    )
    pod = sorted(p["metadata"]["name"] for p in cluster.client.list("pods", ns)["items"])[0]
    for args in (
        ("describe", "pod", pod),
        ("describe", "deployment", "myapp-deployment"),
        ("describe", "svc", "myapp-service"),
        ("describe", "node"),
        ("describe", "pods", "-l", "app=myapp"),
        ("get", "events", "--sort-by=.metadata.creationTimestamp"),
    ):
        same_as_kubectl(cluster, *args, "-n", ns)
    desc = cluster.mkpy("describe", "deploy", "myapp-deployment", "-n", ns).stdout
    for section in ("Pod Template:", "Conditions:", "NewReplicaSet:", "Events:", "ScalingReplicaSet"):
        assert section in desc
    events = cluster.mkpy(
        "get", "events", "-n", ns, "--sort-by=.metadata.creationTimestamp"
    ).stdout.splitlines()
    assert events[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert any("deployment/myapp-deployment" in e for e in events)
    m = cluster.mkpy("describe", "deploy", "nope", "-n", ns, check=False)
    assert (m.returncode, m.stderr) == (
        1,
        'Error from server (NotFound): deployments.apps "nope" not found\n',
    )
