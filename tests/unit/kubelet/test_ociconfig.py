import json

import pytest

from minikube_py.kubelet import ociconfig, podspec
from minikube_py.kubelet.command import ContainerConfigError
from minikube_py.kubelet.ociconfig import ContainerContext


def pod(sc=None, pod_sc=None, resources=None, uid="u1"):
    c = {"name": "app", "image": "busybox", "securityContext": sc or {}, "resources": resources or {}}
    return podspec.parse_pod({"metadata": {"name": "web", "namespace": "ns", "uid": uid},
                              "spec": {"securityContext": pod_sc or {}, "containers": [c]}})


def ctx(**kw):
    base = dict(container_id="cid", attempt=2, argv=["sh"], env=["A=1"], image_config={"User": ""},
                rootfs="/b/rootfs", overlay={"lower": ["/l"], "upper": "/u", "work": "/w"},
                netns_path="/run/netns/pod", ipc_path="/proc/9/ns/ipc", uts_path="/proc/9/ns/uts",
                log_path="/logs/ns_web_u1/app/2.log", memory_capacity=2**30)
    base.update(kw)
    return ContainerContext(**base)


def build(p, **kw):
    return ociconfig.container_config(p, p["spec"]["containers"][0], ctx(**kw))


def test_defaults():
    cfg = build(pod())
    assert cfg["process"]["user"] == {"uid": 0, "gid": 0}
    assert cfg["process"]["capabilities"]["bounding"] == ociconfig.DEFAULT_CAPS
    assert cfg["process"]["noNewPrivileges"] is False
    assert cfg["process"]["oomScoreAdj"] == 1000
    assert cfg["root"] == {"path": "/b/rootfs", "readonly": False}
    ns = {n["type"]: n.get("path") for n in cfg["linux"]["namespaces"]}
    assert ns == {"pid": None, "mount": None, "network": "/run/netns/pod", "ipc": "/proc/9/ns/ipc",
                  "uts": "/proc/9/ns/uts"}
    assert cfg["linux"]["cgroupsPath"] == "kubepods/besteffort/podu1/cid"
    assert json.loads(cfg["annotations"]["mkpy.io/overlay"])["upper"] == "/u"
    assert cfg["annotations"]["mkpy.io/log-path"] == "/logs/ns_web_u1/app/2.log"
    assert cfg["annotations"]["io.kubernetes.container.restartCount"] == "2"
    assert "/proc/kcore" in cfg["linux"]["maskedPaths"]


def test_security_context():
    cfg = build(pod(sc={"runAsUser": 1000, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}},
                    pod_sc={"runAsGroup": 3000, "supplementalGroups": [4000], "fsGroup": 2000}))
    assert cfg["process"]["user"] == {"uid": 1000, "gid": 3000, "additionalGids": [4000, 2000]}
    assert cfg["root"]["readonly"] is True
    assert cfg["process"]["noNewPrivileges"] is True
    assert cfg["process"]["capabilities"]["effective"] == ["CAP_NET_BIND_SERVICE"]
    drop = build(pod(sc={"capabilities": {"drop": ["NET_RAW", "chown"]}}))
    assert "CAP_NET_RAW" not in drop["process"]["capabilities"]["bounding"]
    assert "CAP_CHOWN" not in drop["process"]["capabilities"]["bounding"]
    priv = build(pod(sc={"privileged": True}))
    assert "CAP_SYS_ADMIN" in priv["process"]["capabilities"]["bounding"]
    assert "maskedPaths" not in priv["linux"]


def test_seccomp_runtime_default():
    assert "seccomp" not in build(pod())["linux"]                  # Kubernetes' default: Unconfined
    seen = []
    cfg = build(pod(pod_sc={"seccompProfile": {"type": "RuntimeDefault"}}),
                seccomp_default=lambda caps: seen.append(caps) or {"defaultAction": "SCMP_ACT_ERRNO"})
    assert cfg["linux"]["seccomp"] == {"defaultAction": "SCMP_ACT_ERRNO"}
    assert seen == [ociconfig.DEFAULT_CAPS]


def test_run_as_non_root():
    with pytest.raises(ContainerConfigError, match="runAsNonRoot and image will run as root"):
        build(pod(pod_sc={"runAsNonRoot": True}))
    with pytest.raises(ContainerConfigError, match="non-numeric user"):
        build(pod(sc={"runAsNonRoot": True}), image_config={"User": "nobody"})
    cfg = build(pod(sc={"runAsNonRoot": True}), image_config={"User": "nobody"},
                user_lookup=lambda name: (65534, 65534) if name == "nobody" else None)
    assert cfg["process"]["user"] == {"uid": 65534, "gid": 65534}
    assert build(pod(), image_config={"User": "5:6"})["process"]["user"] == {"uid": 5, "gid": 6}


def test_resources_and_qos_in_config():
    cfg = build(pod(resources={"requests": {"cpu": "100m", "memory": "256Mi"},
                               "limits": {"memory": "512Mi"}}))
    assert cfg["linux"]["resources"] == {"cpu": {"shares": 102}, "memory": {"limit": 512 * 2**20}}
    assert cfg["linux"]["cgroupsPath"] == "kubepods/burstable/podu1/cid"
    assert cfg["process"]["oomScoreAdj"] == 750


def test_log_path_and_host_network():
    p = pod()
    assert ociconfig.container_log_path(p, "app", 3, "/tmp/x") == "/tmp/x/ns_web_u1/app/3.log"
    cfg = build(p, netns_path=None)
    assert "network" not in [n["type"] for n in cfg["linux"]["namespaces"]]


def test_stdin_and_tty_become_runtime_annotations():
    ann = build(pod())["annotations"]
    assert not {"mkpy.io/stdin", "mkpy.io/stdin-once", "mkpy.io/console"} & ann.keys()
    p = pod()
    p["spec"]["containers"][0].update(stdin=True, stdinOnce=True, tty=True)
    cfg = build(p)
    assert cfg["process"]["terminal"] is True
    assert {k: cfg["annotations"][k] for k in ("mkpy.io/stdin", "mkpy.io/stdin-once", "mkpy.io/console")} == {
        "mkpy.io/stdin": "true", "mkpy.io/stdin-once": "true", "mkpy.io/console": "monitor"}
