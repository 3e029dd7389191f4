"""Make test images with several layers directly in a store (no Dockerfile needed)."""

from __future__ import annotations

import json
import os
import tempfile

from minikube_py.image.digest import OCI_CONFIG, OCI_MANIFEST, canonical_json
from minikube_py.image.layers import write_layer


def layered_image(store, name: str, layers: int = 3, size: int = 64 * 1024, seed: bytes = b""):
    """busybox + `layers` layers, each one file of `size` random-ish bytes."""
    base = store.resolve("busybox")
    config = json.loads(json.dumps(base.image_config))
    descs = list(base.layers)
    for i in range(layers):
        with tempfile.TemporaryDirectory(prefix="mkpyt-img-layer-") as tree:
            with open(os.path.join(tree, f"file{i}"), "wb") as f:
                f.write(seed + os.urandom(size))
            desc, diff_id = write_layer(store.blobs, tree, owner=(0, 0))
        descs.append(desc)
        config["rootfs"]["diff_ids"].append(diff_id)
    cfg = canonical_json(config)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": store.blobs.put(cfg), "size": len(cfg)},
                "layers": descs}
    return store.add_image(canonical_json(manifest), [name])
