import base64

import pytest

from minikube_py.kubelet import command, podspec
from minikube_py.kubelet.command import ContainerConfigError, DictObjects, EnvContext

IMG = {"Entrypoint": ["/entry"], "Cmd": ["--default"], "Env": ["PATH=/bin", "IMG=1"]}


@pytest.mark.parametrize("c,expected", [
    ({}, ["/entry", "--default"]),
    ({"command": ["/bin/sh"]}, ["/bin/sh"]),
    ({"args": ["x"]}, ["/entry", "x"]),
    ({"command": ["/bin/sh"], "args": ["-c", "true"]}, ["/bin/sh", "-c", "true"]),
])
def test_command_and_args(c, expected):
    assert command.process_args(c, IMG, {}) == expected


def test_empty_entrypoint_reset_and_no_command():
    assert command.process_args({}, {"Entrypoint": [""], "Cmd": ["sh"]}, {}) == ["sh"]
    with pytest.raises(ContainerConfigError, match="no command specified"):
        command.process_args({}, {}, {})


@pytest.mark.parametrize("text,expected", [
    ("$(A)", "a"), ("x$(A)y", "xay"), ("$(MISSING)", "$(MISSING)"), ("$$(A)", "$(A)"),
    ("$$", "$"), ("$(A", "$(A"), ("$A", "$A"), ("end$", "end$"), ("$(A)$(B)", "ab"), ("$()", "$()"),
])
def test_expand(text, expected):
    assert command.expand(text, {"A": "a", "B": "b"}.get) == expected


def test_args_expand_with_container_env():
    c = {"command": ["echo", "$(GREETING)", "$(PATH)"]}
    assert command.process_args(c, IMG, {"GREETING": "hi"}) == ["echo", "hi", "$(PATH)"]


def _pod(container):
    return podspec.parse_pod({"metadata": {"name": "p", "namespace": "ns", "uid": "u-1",
                                           "labels": {"app": "x"}, "annotations": {"a": "b"}},
                              "spec": {"nodeName": "n1", "containers": [container]}})


def test_env_order_expansion_and_refs():
    objects = DictObjects(
        configmaps={("ns", "cfg"): {"data": {"COLOR": "blue", "bad key": "x", "MODE": "fast"}}},
        secrets={("ns", "sec"): {"data": {"PASSWORD": base64.b64encode(b"hunter2").decode()}}})
    c = {"name": "c", "image": "i",
         "envFrom": [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "sec"}, "prefix": "S_"}],
         "env": [{"name": "LATER_REF", "value": "$(FIRST)"},
                 {"name": "FIRST", "value": "one"},
                 {"name": "BOTH", "value": "$(FIRST)-$(COLOR)-$$(FIRST)"},
                 {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                 {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                 {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
                 {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                 {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                 {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                 {"name": "HIP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                 {"name": "M", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "MODE"}}},
                 {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "PASSWORD"}}},
                 {"name": "OPT",
                  "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k", "optional": True}}},
                 {"name": "COLOR", "value": "red"}]}
    pod = _pod(c)
    ctx = EnvContext(pod=pod, pod_ips=["10.1.0.5"], host_ips=["192.168.1.2"], objects=objects,
                     service_env={"COLOR": "svc", "WEB_SERVICE_HOST": "10.96.0.9"})
    env, skipped = command.container_env(pod["spec"]["containers"][0], ctx)
    assert skipped == ["bad key"]
    assert env["LATER_REF"] == "$(FIRST)"        # only variables defined earlier expand
    assert env["BOTH"] == "one-blue-$(FIRST)"
    assert (env["POD"], env["NS"], env["UID"], env["APP"], env["NODE"]) == ("p", "ns", "u-1", "x", "n1")
    assert (env["IP"], env["HIP"]) == ("10.1.0.5", "192.168.1.2")
    assert env["M"] == "fast" and env["S_PASSWORD"] == "hunter2" and env["PW"] == "hunter2"
    assert "OPT" not in env
    assert env["COLOR"] == "red"                 # the pod's own value wins over envFrom and services
    assert env["WEB_SERVICE_HOST"] == "10.96.0.9"
    assert command.oci_env(env, IMG, "p")[:3] == ["HOSTNAME=p", "PATH=/bin", "IMG=1"]


@pytest.mark.parametrize("env,msg", [
    ({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}},
     'configmap "nope" not found'),
    ({"name": "X", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "k"}}},
     "couldn't find key k in Secret ns/sec"),
    ({"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}, "unsupported fieldPath"),
])
def test_env_errors(env, msg):
    pod = _pod({"name": "c", "image": "i", "env": [env]})
    ctx = EnvContext(pod=pod, objects=DictObjects(secrets={("ns", "sec"): {"data": {}}}))
    with pytest.raises(ContainerConfigError, match=msg):
        command.container_env(pod["spec"]["containers"][0], ctx)


def test_resource_field_ref():
    pod = _pod({"name": "c", "image": "i", "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}},
                "env": [{"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                        {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                                           "divisor": "1Mi"}}}]})
    env, _ = command.container_env(pod["spec"]["containers"][0], EnvContext(pod=pod))
    assert env == {"CPU": "1", "MEM": "64"}      # 250m rounds up to 1 core
