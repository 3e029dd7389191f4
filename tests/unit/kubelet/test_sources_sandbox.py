import json

from minikube_py.kubelet import podspec, sandbox
from minikube_py.kubelet.apiclient import node_object
from minikube_py.kubelet.cli import pod_row
from minikube_py.kubelet.kubelet import _epoch, container_id_for
from minikube_py.kubelet.sources import StaticPodSource

MANIFEST = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}


def test_static_pods_named_hashed_and_annotated(tmp_path):
    (tmp_path / "web.json").write_text(json.dumps(MANIFEST))
    (tmp_path / "bad.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {}\n")
    (tmp_path / "notes.txt").write_text("ignored")
    src = StaticPodSource(str(tmp_path), "node1")
    pods = src.pods()
    [(uid, pod)] = pods.items()
    assert pod["metadata"]["name"] == "web-node1" and pod["spec"]["nodeName"] == "node1"
    assert pod["metadata"]["annotations"]["kubernetes.io/config.source"] == "file"
    assert pod["metadata"]["annotations"]["kubernetes.io/config.hash"] == uid
    assert "spec.containers: Required value" in src.errors[str(tmp_path / "bad.yaml")]
    assert list(StaticPodSource(str(tmp_path), "node1").pods()) == [uid]           # stable uid
    assert list(StaticPodSource(str(tmp_path), "node2").pods()) != [uid]           # per node
    changed = dict(MANIFEST, spec={"containers": [{"name": "c", "image": "busybox:2"}]})
    (tmp_path / "web.json").write_text(json.dumps(changed) + " ")
    assert list(src.pods()) != [uid]                                               # an edit is a new pod
    (tmp_path / "web.json").unlink()
    assert src.pods() == {}


def test_hosts_and_resolv_conf(tmp_path):
    pod = podspec.parse_pod({"metadata": {"name": "web", "namespace": "shop"}, "spec": {
        "containers": [{"name": "c", "image": "i"}],
        "hostAliases": [{"ip": "10.9.9.9", "hostnames": ["db", "db.local"]}],
        "dnsConfig": {"options": [{"name": "timeout", "value": "2"}]}}})
    hosts = sandbox.hosts_file(pod, ["10.244.0.7"])
    assert "127.0.0.1\tlocalhost" in hosts and "10.244.0.7\tweb" in hosts
    assert "10.9.9.9\tdb\tdb.local" in hosts
    resolv = sandbox.resolv_conf(pod, ["10.96.0.10"])
    assert resolv.splitlines() == ["nameserver 10.96.0.10",
                                   "search shop.svc.cluster.local svc.cluster.local cluster.local",
                                   "options ndots:5 timeout:2"]
    host = tmp_path / "resolv"
    host.write_text("nameserver 1.1.1.1\nsearch lan\n")
    assert sandbox.resolv_conf(pod, [], host_resolv=str(host)).splitlines()[:2] == ["nameserver 1.1.1.1",
                                                                                   "search lan"]
    sandbox.write_pod_files(str(tmp_path / "pod"), pod, ["10.244.0.7"], [])
    assert (tmp_path / "pod" / "hostname").read_text() == "web\n"
    with_uid = dict(pod, metadata=dict(pod["metadata"], uid="u"))
    cfg = sandbox.infra_config(with_uid, "inf", "/r", {"lower": ["/l"]}, "/run/netns/x", ["/bin/sleep", "1"])
    assert cfg["hostname"] == "web" and cfg["process"]["oomScoreAdj"] == -998
    assert {"type": "network", "path": "/run/netns/x"} in cfg["linux"]["namespaces"]
    assert cfg["annotations"]["io.kubernetes.cri.container-type"] == "sandbox"


def test_helpers():
    assert _epoch("1970-01-01T00:01:40.500000000Z") == 100.5
    assert _epoch(None) is None and _epoch(7) == 7.0
    pod = {"metadata": {"name": "web", "namespace": "default", "uid": "0123456789"}}
    assert container_id_for(pod, "app", 3) == "k8s_app_web_default_01234567_3"
    node = node_object("n1", ["192.168.1.5"], kubelet_port=10250)
    assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
    assert node["status"]["addresses"][0] == {"type": "InternalIP", "address": "192.168.1.5"}
    assert node["status"]["capacity"]["pods"] == "110"
    assert node["status"]["conditions"][-1]["type"] == "Ready"


def test_kubectl_like_rows():
    obj = {"metadata": {"name": "crash"}}
    st = {"phase": "Running", "containerStatuses": [
        {"name": "c", "ready": False, "restartCount": 4,
         "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
    assert pod_row(obj, st)[:4] == ["crash", "0/1", "CrashLoopBackOff", "4"]
    st = {"phase": "Running", "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0,
                                                     "state": {"running": {}}}]}
    assert pod_row(obj, st)[:4] == ["crash", "1/1", "Running", "0"]
    st = {"phase": "Pending", "initContainerStatuses": [
        {"name": "i", "ready": True, "state": {"terminated": {"exitCode": 0}}},
        {"name": "j", "ready": False, "state": {"running": {}}}],
        "containerStatuses": [{"name": "c", "ready": False, "restartCount": 0,
                               "state": {"waiting": {"reason": "PodInitializing"}}}]}
    assert pod_row(obj, st)[2] == "Init:1/2"
