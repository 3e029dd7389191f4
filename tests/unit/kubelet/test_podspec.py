import pytest

from minikube_py.kubelet import podspec
from minikube_py.kubelet.podspec import PodSpecError

POD_YAML = """
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  containers:
  - name: app
    image: busybox
    resources: {limits: {cpu: 500m, memory: 64Mi}}
    ports: [{containerPort: 80, name: http}]
    livenessProbe: {httpGet: {port: http}}
"""


def test_load_and_default():
    [raw] = podspec.load_pods(POD_YAML)
    pod = podspec.parse_pod(raw)
    c = pod["spec"]["containers"][0]
    assert pod["metadata"]["namespace"] == "default"
    assert pod["spec"]["restartPolicy"] == "Always"
    assert pod["spec"]["terminationGracePeriodSeconds"] == 30
    assert c["imagePullPolicy"] == "Always"
    assert c["resources"]["requests"] == {"cpu": "500m", "memory": "64Mi"}   # requests default to limits
    assert c["ports"][0]["protocol"] == "TCP"
    probe = c["livenessProbe"]
    assert (probe["timeoutSeconds"], probe["periodSeconds"], probe["successThreshold"],
            probe["failureThreshold"]) == (1, 10, 1, 3)
    assert probe["httpGet"]["path"] == "/" and probe["httpGet"]["scheme"] == "HTTP"
    assert "namespace" not in raw["metadata"]     # the input is not modified


def test_load_json_and_list():
    pods = podspec.load_pods('{"kind":"List","items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]}')
    assert [p["metadata"]["name"] for p in pods] == ["a", "b"]


def _errors(pod):
    with pytest.raises(PodSpecError) as exc:
        podspec.parse_pod(pod)
    return dict(exc.value.errors), str(exc.value)


def test_errors_name_field_paths():
    errs, text = _errors({"metadata": {"name": "Bad_Name"}, "spec": {
        "restartPolicy": "Sometimes",
        "containers": [{"name": "a", "image": ""},
                       {"name": "a", "image": "x", "ports": [{"containerPort": 70000}],
                        "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1", "memory": "1Q"}},
                        "volumeMounts": [{"name": "nope", "mountPath": "/x"}],
                        "env": [{"name": "1BAD", "value": "x"}]}]}})
    assert errs["spec.containers[0].image"] == "Required value"
    assert errs["spec.containers[1].name"] == 'Duplicate value: "a"'
    assert "spec.restartPolicy" in errs and "Unsupported value" in errs["spec.restartPolicy"]
    assert "metadata.name" in errs
    assert "spec.containers[1].ports[0].containerPort" in errs
    assert "spec.containers[1].resources.limits[memory]" in errs
    assert "must be less than or equal to cpu limit" in errs["spec.containers[1].resources.requests"]
    assert errs["spec.containers[1].volumeMounts[0].name"] == 'Not found: "nope"'
    assert "spec.containers[1].env[0].name" in errs
    assert text.startswith("metadata.name") or "spec.containers[0].image: Required value" in text


def test_missing_containers_and_probe_handler():
    errs, _ = _errors({"metadata": {"name": "p"}, "spec": {}})
    assert errs["spec.containers"] == "Required value"
    errs, _ = _errors({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "image": "i", "livenessProbe": {"periodSeconds": 0, "successThreshold": 2},
         "readinessProbe": {"tcpSocket": {"port": "web"}}}]}})
    assert errs["spec.containers[0].livenessProbe"] == "Required value: must specify a handler type"
    assert "spec.containers[0].livenessProbe.periodSeconds" in errs
    assert "spec.containers[0].livenessProbe.successThreshold" in errs
    assert "spec.containers[0].readinessProbe.tcpSocket.port" in errs


def test_volume_validation():
    errs, _ = _errors({"metadata": {"name": "p"}, "spec": {
        "volumes": [{"name": "v", "hostPath": {"path": "/x", "type": "Dir"}},
                    {"name": "v", "emptyDir": {}}, {"name": "w"},
                    {"name": "s", "secret": {"secretName": "s", "items": [{"key": "k", "path": "../x"}]}}],
        "containers": [{"name": "c", "image": "i"}]}})
    assert "spec.volumes[0].hostPath.type" in errs
    assert errs["spec.volumes[1].name"] == 'Duplicate value: "v"'
    assert errs["spec.volumes[2]"] == "Required value: must specify a volume type"
    assert "spec.volumes[3].secret.items[0].path" in errs


def test_bad_yaml_is_an_error():
    with pytest.raises(PodSpecError, match="not valid YAML"):
        podspec.load_pods("a: [b")
