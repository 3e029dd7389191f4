import base64
import os
import socket

import pytest

from minikube_py.kernel.fake import FakeSyscalls
from minikube_py.kubelet import podspec, volumes
from minikube_py.kubelet.command import DictObjects
from minikube_py.kubelet.volumes import VolumeError, VolumeManager


def pod(vols, mounts=()):
    meta = {"name": "p", "namespace": "ns", "uid": "u", "labels": {"a": "b"}}
    containers = [{"name": "c", "image": "i", "volumeMounts": list(mounts)}]
    return podspec.parse_pod({"metadata": meta, "spec": {"volumes": vols, "containers": containers}})


OBJS = DictObjects(configmaps={("ns", "cfg"): {"data": {"app.conf": "x=1", "other": "y"},
                                               "binaryData": {"bin": "AAE="}}},
                   secrets={("ns", "sec"): {"data": {"password": base64.b64encode(b"s3cret").decode()}}})


def test_plan_and_mounts(tmp_path):
    p = pod([{"name": "scratch", "emptyDir": {}},
             {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
             {"name": "cfg", "configMap": {"name": "cfg", "items": [
                 {"key": "app.conf", "path": "conf/app.conf", "mode": 0o600}]}},
             {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o400}},
             {"name": "info", "downwardAPI": {"items": [{"path": "labels",
                                                          "fieldRef": {"fieldPath": "metadata.labels"}},
                                                         {"path": "name",
                                                          "fieldRef": {"fieldPath": "metadata.name"}}]}},
             {"name": "host", "hostPath": {"path": str(tmp_path / "h"), "type": "DirectoryOrCreate"}}],
            [{"name": "scratch", "mountPath": "/scratch"}, {"name": "cfg", "mountPath": "/etc/app"},
             {"name": "host", "mountPath": "/h", "readOnly": True},
             {"name": "scratch", "mountPath": "/sub", "subPath": "x"}])
    plans = volumes.plan_volumes(p, str(tmp_path / "pods"), OBJS)
    assert plans["scratch"].host_path == str(tmp_path / "pods/u/volumes/kubernetes.io~empty-dir/scratch")
    assert not plans["scratch"].tmpfs
    assert plans["mem"].tmpfs and plans["mem"].tmpfs_size == 16 * 2**20
    assert plans["sec"].tmpfs and plans["sec"].files == {"password": (b"s3cret", 0o400)}
    assert plans["cfg"].files == {"conf/app.conf": (b"x=1", 0o600)} and not plans["cfg"].tmpfs
    assert plans["info"].files["labels"][0] == b'a="b"'
    mounts = volumes.container_mounts(p["spec"]["containers"][0], plans)
    assert [m["options"][-1] for m in mounts] == ["rw", "ro", "ro", "rw"]   # configMap always ro
    assert mounts[3]["source"].endswith("scratch/x")

    fake = FakeSyscalls()
    VolumeManager(fake).setup(plans)
    tmpfs = [c.args for c in fake.calls if c.name == "mount"]
    assert {a[1] for a in tmpfs} == {plans["mem"].host_path, plans["sec"].host_path}
    assert all(a[2] == "tmpfs" for a in tmpfs)
    assert any("size=16777216" in a[4] for a in tmpfs)
    cfg_dir = plans["cfg"].host_path
    assert open(os.path.join(cfg_dir, "conf/app.conf")).read() == "x=1"
    assert os.readlink(os.path.join(cfg_dir, "conf")) == "..data/conf"
    assert os.stat(os.path.join(cfg_dir, "..data/conf/app.conf")).st_mode & 0o777 == 0o600
    assert os.path.isdir(tmp_path / "h")
    # an update swaps ..data atomically and removes the old generation
    plans["cfg"].files = {"other": (b"y", 0o644)}
    VolumeManager(fake).setup({"cfg": plans["cfg"]})
    assert sorted(e for e in os.listdir(cfg_dir) if not e.startswith("..")) == ["other"]
    assert len([e for e in os.listdir(cfg_dir) if e.startswith("..2")]) == 1
    VolumeManager(fake).teardown(str(tmp_path / "pods/u/volumes"))
    assert not os.path.exists(tmp_path / "pods/u/volumes")


def test_missing_objects_are_failed_mounts(tmp_path):
    with pytest.raises(VolumeError, match=r'MountVolume\.SetUp failed for volume "v" : configmap "nope"'):
        volumes.plan_volumes(pod([{"name": "v", "configMap": {"name": "nope"}}]), str(tmp_path), OBJS)
    plans = volumes.plan_volumes(pod([{"name": "v", "configMap": {"name": "nope", "optional": True}}]),
                                 str(tmp_path), OBJS)
    assert plans["v"].files == {}
    with pytest.raises(VolumeError, match="non-existent configmap key: missing"):
        volumes.plan_volumes(pod([{"name": "v", "configMap": {"name": "cfg", "items": [
            {"key": "missing", "path": "m"}]}}]), str(tmp_path), OBJS)
    with pytest.raises(VolumeError, match='secret "gone" not found'):
        volumes.plan_volumes(pod([{"name": "v", "secret": {"secretName": "gone"}}]), str(tmp_path), OBJS)


def test_projected(tmp_path):
    plans = volumes.plan_volumes(pod([{"name": "all", "projected": {"sources": [
        {"configMap": {"name": "cfg", "items": [{"key": "other", "path": "o"}]}},
        {"secret": {"name": "sec"}},
        {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}}]),
        str(tmp_path), OBJS)
    assert plans["all"].tmpfs
    assert {k: v[0] for k, v in plans["all"].files.items()} == {"o": b"y", "password": b"s3cret", "ns": b"ns"}


def test_host_path_types(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    volumes.check_host_path("v", str(f), "File")
    volumes.check_host_path("v", str(tmp_path), "Directory")
    volumes.check_host_path("v", str(tmp_path / "new/f"), "FileOrCreate")
    assert (tmp_path / "new/f").is_file()
    with pytest.raises(VolumeError, match="is not a directory"):
        volumes.check_host_path("v", str(f), "Directory")
    with pytest.raises(VolumeError, match="is not a file"):
        volumes.check_host_path("v", str(tmp_path / "absent"), "File")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(tmp_path / "sock"))
    volumes.check_host_path("v", str(tmp_path / "sock"), "Socket")
    with pytest.raises(VolumeError, match="not a character device"):
        volumes.check_host_path("v", str(f), "CharDevice")
    s.close()
