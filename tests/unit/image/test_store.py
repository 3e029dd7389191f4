import json
import os

import pytest

from minikube_py.image import ImageError
from minikube_py.image.digest import OCI_CONFIG, OCI_MANIFEST, canonical_json
from minikube_py.image.layers import write_layer


def _child(store, tmp_path, name: str, content: str):
    """An image = busybox + one layer with one file."""
    base = store.resolve("busybox")
    tree = tmp_path / f"tree-{name}"
    tree.mkdir()
    (tree / "file").write_text(content)
    desc, diff_id = write_layer(store.blobs, str(tree), owner=(0, 0))
    config = json.loads(json.dumps(base.image_config))
    config["rootfs"]["diff_ids"].append(diff_id)
    cfg = canonical_json(config)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": store.blobs.put(cfg), "size": len(cfg)},
                "layers": [*base.layers, desc]}
    return store.add_image(canonical_json(manifest), [name])


def test_tags_resolve_by_name_digest_and_id(store):
    image = store.resolve("busybox")
    assert store.resolve("docker.io/library/busybox:latest").digest == image.digest
    assert store.resolve(f"busybox@{image.digest}").digest == image.digest
    assert store.resolve(image.id[7:19]).digest == image.digest
    store.tag("busybox", "myregistry.com/bb:v1")
    assert store.resolve("myregistry.com/bb:v1").tags == ["docker.io/library/busybox:latest",
                                                         "myregistry.com/bb:v1"]
    with pytest.raises(ImageError) as err:
        store.resolve("nothere:1")
    assert err.value.reason == "NotFound"


def test_prepare_rootfs_is_the_overlay_annotation(store, tmp_path):
    child = _child(store, tmp_path, "child:1", "c")
    ov = store.prepare_rootfs("child:1", "mkpyt-img-c1")
    assert len(ov["lower"]) == 2
    assert ov["lower"][0] == store.layer_path(child.diff_ids[1])    # top first
    assert ov["lower"][1] == store.layer_path(child.diff_ids[0])
    assert open(os.path.join(ov["lower"][0], "file")).read() == "c"
    assert os.path.isdir(ov["upper"]) and os.path.isdir(ov["work"])
    assert store.prepare_rootfs("child:1", "mkpyt-img-c1") == ov          # idempotent
    with pytest.raises(ImageError, match="snapshot key"):
        store.prepare_rootfs("child:1", "../escape")
    store.release_rootfs("mkpyt-img-c1")
    assert not os.path.exists(os.path.dirname(ov["upper"]))


def test_rm_and_prune_free_exactly_what_nothing_uses(store, tmp_path):
    a = _child(store, tmp_path, "a:1", "a")
    b = _child(store, tmp_path, "b:1", "b")
    shared = a.layers[0]["digest"]
    for img in (a, b):
        store.unpack(img)
    store.prepare_rootfs("a:1", "mkpyt-img-ctr")
    with pytest.raises(ImageError) as err:
        store.remove("a:1")
    assert err.value.reason == "InUse"
    store.release_rootfs("mkpyt-img-ctr")
    assert store.remove("a:1") == ["Untagged: docker.io/library/a:1", f"Deleted: {a.digest}"]
    # a's own layer is gone; the busybox layer b and busybox still use stays.
    assert not store.blobs.has(a.layers[1]["digest"]) and not os.path.exists(store.layer_path(a.diff_ids[1]))
    assert store.blobs.has(shared) and os.path.exists(store.layer_path(a.diff_ids[0]))
    assert os.path.exists(store.layer_path(b.diff_ids[1]))
    store.remove("b:1")
    store.remove("busybox")
    assert store.blobs.has(shared)                          # the pause image still uses busybox's layer
    store.remove("registry.k8s.io/pause:3.9")
    assert list(store.blobs) == [] and os.listdir(store.layers_dir) == []


def test_untag_keeps_image_with_other_tags_and_prune_removes_dangling(store, tmp_path):
    store.tag("busybox", "other:1")
    assert store.remove("other:1") == ["Untagged: docker.io/library/other:1"]
    assert store.exists("busybox")
    c = _child(store, tmp_path, "c:1", "c")
    with store._index() as index:          # make c dangling, as a re-tagged build leaves its old image
        index["refs"].pop("docker.io/library/c:1")
    deleted, freed = store.prune()
    assert deleted == [f"Deleted: {c.digest}"] and freed > 0
    assert store.exists("busybox") and not store.blobs.has(c.layers[1]["digest"])


def test_several_tags_need_force_when_removed_by_id(store):
    store.tag("busybox", "x:1")
    image = store.resolve("busybox")
    with pytest.raises(ImageError, match="several tags"):
        store.remove(image.id[7:19])
    events = store.remove(image.id[7:19], force=True)
    assert "Untagged: docker.io/library/x:1" in events and f"Deleted: {image.digest}" in events


def test_gc_drops_half_unpacked_layers_and_ingest(store):
    os.makedirs(os.path.join(store.layers_dir, ".unpack-crashed"))
    with open(os.path.join(store.blobs.ingest_dir, "blob-partial"), "wb") as f:
        f.write(b"half")
    store.gc()
    assert os.listdir(store.blobs.ingest_dir) == []
    assert not os.path.exists(os.path.join(store.layers_dir, ".unpack-crashed"))
    assert store.exists("busybox")


def test_ensure_follows_image_pull_policy(store):
    assert store.ensure("busybox", "IfNotPresent").digest == store.resolve("busybox").digest
    assert store.ensure("busybox", "Never").tags[0] == "docker.io/library/busybox:latest"
    with pytest.raises(ImageError) as err:
        store.ensure("missing:1", "Never")
    assert err.value.reason == "NotFound" and "Never" in str(err.value)
    with pytest.raises(ImageError, match="imagePullPolicy 'Sometimes'"):
        store.ensure("busybox", "Sometimes")


def test_concurrent_prepare_and_gc(store, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    child = _child(store, tmp_path, "conc:1", "x")
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(store.prepare_rootfs, "conc:1", f"mkpyt-img-k{i}") for i in range(5)]
        futures.append(pool.submit(store.gc))
        results = [f.result() for f in futures[:5]]
        futures[-1].result()
    assert all(r["lower"] == results[0]["lower"] for r in results)
    assert open(os.path.join(results[0]["lower"][0], "file")).read() == "x"
    assert not [n for n in os.listdir(store.layers_dir) if n.startswith(".unpack-")]
    assert sorted(os.listdir(store.layers_dir)) == sorted(d[7:] for d in child.diff_ids)
