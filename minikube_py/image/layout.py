"""Image files on disk: OCI image layouts (a directory or a tar of one) and `docker save` archives.

An OCI image layout is a little registry in a directory:

    oci-layout        {"imageLayoutVersion": "1.0.0"}
    index.json        the entry points: manifest (or index) descriptors, tagged by annotation
    blobs/sha256/...  every manifest, config and layer, named by digest

A `docker save` archive has `manifest.json` = [{"Config": "<file>", "RepoTags": [...],
"Layers": ["<file>", ...]}] next to the files it names. Both are copied into the
store blob by blob, each verified against its digest as it is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator

from minikube_py.image import reference
from minikube_py.image.digest import (
    INDEX_TYPES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_LAYER_TAR,
    OCI_MANIFEST,
    REF_NAME,
    canonical_json,
    check_digest,
    pick_platform,
)
from minikube_py.image.errors import ImageError

CONTAINERD_NAME = "io.containerd.image.name"


# ------------------------------------------------------------------ import
def import_path(store, path: str, tag: str | None = None) -> list:
    """Import an OCI layout or docker-save archive (directory or tar). Returns the images."""
    if not os.path.exists(path):
        raise ImageError(f"import: {path!r} does not exist", reason="NotFound")
    with _as_directory(path) as d, store.in_use():
        if os.path.exists(os.path.join(d, "manifest.json")):
            return _import_docker(store, d, tag)
        if os.path.exists(os.path.join(d, "index.json")):
            return _import_oci(store, d, tag)
        raise ImageError(f"import: {path!r} is neither an OCI image layout (index.json) "
                         "nor a docker save archive (manifest.json)")


@contextlib.contextmanager
def _as_directory(path: str) -> Iterator[str]:
    if os.path.isdir(path):
        yield path
        return
    tmp = tempfile.mkdtemp(prefix="mkpy-import-")
    try:
        try:
            with tarfile.open(path) as tar:
                for member in tar:
                    name = os.path.normpath("/" + member.name).lstrip("/")
                    # Only plain files and directories belong in these archives; nothing may escape tmp.
                    if not name or name.startswith("..") or not (member.isfile() or member.isdir()):
                        continue
                    member.name = name
                    tar.extract(member, tmp, set_attrs=False)
        except tarfile.TarError as exc:
            raise ImageError(f"import: {path!r} is not a readable tar archive: {exc}") from None
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _copy_blob(store, layout: str, desc: dict) -> None:
    digest = check_digest(desc["digest"])
    if store.blobs.has(digest):
        return
    src = os.path.join(layout, "blobs", "sha256", digest[7:])
    try:
        with open(src, "rb") as f:
            store.blobs.put_stream(f, digest, desc.get("size"))
    except FileNotFoundError:
        raise ImageError(f"import: blob {digest} is missing from the layout", reason="NotFound") from None


def _import_oci(store, layout: str, tag: str | None) -> list:
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    entries = index.get("manifests") or []
    if not entries:
        raise ImageError("import: index.json lists no manifests")
    images = []
    for desc in entries:
        annotations = desc.get("annotations") or {}
        name = annotations.get(CONTAINERD_NAME)
        ref_name = annotations.get(REF_NAME)
        if not name and ref_name and ("/" in ref_name or ":" in ref_name):
            name = ref_name
        if tag and len(entries) == 1:
            name = tag
        elif tag and ref_name and not name:
            name = f"{tag}:{ref_name}"
        manifest_desc = desc
        if desc.get("mediaType") in INDEX_TYPES:
            _copy_blob(store, layout, desc)
            manifest_desc = pick_platform(json.loads(store.blobs.read(desc["digest"])))
        _copy_blob(store, layout, manifest_desc)
        manifest_bytes = store.blobs.read(manifest_desc["digest"])
        manifest = json.loads(manifest_bytes)
        for part in [manifest["config"], *manifest.get("layers", [])]:
            _copy_blob(store, layout, part)
        images.append(store.add_image(manifest_bytes, [name] if name else [], manifest_desc["digest"]))
    return images


def _import_docker(store, d: str, tag: str | None) -> list:
    with open(os.path.join(d, "manifest.json")) as f:
        entries = json.load(f)
    images = []
    for entry in entries:
        with open(_inside(d, entry["Config"]), "rb") as f:
            config_bytes = f.read()
        config_digest = store.blobs.put(config_bytes)
        layers = []
        for rel in entry.get("Layers", []):
            with open(_inside(d, rel), "rb") as f:
                gz = f.read(2) == b"\x1f\x8b"
                f.seek(0)
                digest = store.blobs.put_stream(f)
            layers.append({"mediaType": OCI_LAYER_GZIP if gz else OCI_LAYER_TAR, "digest": digest,
                           "size": store.blobs.size(digest)})
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
                    "layers": layers}
        tags = list(entry.get("RepoTags") or [])
        if tag and len(entries) == 1:
            tags = [tag]
        images.append(store.add_image(canonical_json(manifest), tags))
    return images


def _inside(d: str, rel: str) -> str:
    base = os.path.realpath(d)
    path = os.path.realpath(os.path.join(base, rel))
    if not path.startswith(base + os.sep):
        raise ImageError(f"import: manifest.json names a file outside the archive: {rel!r}")
    return path


# ------------------------------------------------------------------ export
def write_layout(store, images: list[tuple[str | None, object]], out: str) -> None:
    """Write images (name, Image) as an OCI image layout directory at out."""
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    manifests = []
    for name, image in images:
        for desc in [{"digest": image.digest}, image.manifest["config"], *image.layers]:
            dst = os.path.join(out, "blobs", "sha256", desc["digest"][7:])
            if not os.path.exists(dst):
                shutil.copyfile(store.blobs.path(desc["digest"]), dst)
        entry = {"mediaType": image.manifest.get("mediaType", OCI_MANIFEST), "digest": image.digest,
                 "size": store.blobs.size(image.digest),
                 "platform": {"architecture": image.image_config.get("architecture", "amd64"),
                              "os": image.image_config.get("os", "linux")}}
        if name:
            ref = reference.parse(name)
            entry["annotations"] = {REF_NAME: ref.tag or "latest", CONTAINERD_NAME: str(ref)}
        manifests.append(entry)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}, f, indent=1)


def export(store, refs: list[str], path: str) -> None:
    """Export images as an OCI layout: a directory, or a tar when path ends in .tar."""
    images = []
    for ref in refs:
        image = store.resolve(ref)
        name = None if ref.startswith("sha256:") else reference.normalize(ref)
        images.append((name, image))
    if not path.endswith(".tar"):
        write_layout(store, images, path)
        return
    tmp = tempfile.mkdtemp(prefix="mkpy-export-")
    try:
        write_layout(store, images, tmp)
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
            for dirpath, dirnames, files in os.walk(tmp):
                dirnames.sort()
                for name in sorted(files):
                    full = os.path.join(dirpath, name)
                    info = tar.gettarinfo(full, os.path.relpath(full, tmp))
                    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                    with open(full, "rb") as f:
                        tar.addfile(info, f)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
