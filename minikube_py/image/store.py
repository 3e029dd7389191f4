"""ImageStore: the node's images, under <root>/images (root: /var/lib/mkpy, $MKPY_ROOT, or --root).

    images/blobs/sha256/<hex>   manifests, configs and layer tarballs, verified (blobs.py)
    images/ingest/              blobs being written; never trusted
    images/layers/<hex>/        each layer unpacked once, named by its diff_id, shared by all users
    images/snapshots/<key>/     a container's writable upper + overlay work dir, and the image it uses
    images/buildcache/<key>.json  the state after each cached build step (build.py)
    images/index.json           tags -> manifest digest, and the set of images

A container's root filesystem is an overlay: the image's layer directories are
the read-only lower layers (top first), the snapshot's `upper` takes its
writes. prepare_rootfs returns exactly the `mkpy.io/overlay` annotation the
runtime mounts.

Nothing is freed while something uses it: `gc()` counts the references from
images, snapshots and build-cache entries to every blob and layer directory and
deletes only what has none (rm and prune call it). Pulls and builds hold the
"in use" lock shared, gc takes it exclusively, so a collection never removes
a blob a pull has just fetched but not yet recorded.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from minikube_py.image import reference
from minikube_py.image.blobs import BlobStore
from minikube_py.image.digest import INDEX_TYPES, check_digest
from minikube_py.image.errors import ImageError

DEFAULT_ROOT = "/var/lib/mkpy"
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def default_root() -> str:
    return os.environ.get("MKPY_ROOT") or DEFAULT_ROOT


@dataclass
class Image:
    """One image: its manifest, its config, and the name it was found by."""

    digest: str                 # manifest digest: what a registry and `name@digest` refer to
    manifest: dict
    image_config: dict          # the whole config blob (architecture, os, rootfs, history, config)
    name: str | None = None
    tags: list[str] = field(default_factory=list)
    stats: Any = None           # registry.Stats after a pull: what was fetched, what was already here

    @property
    def id(self) -> str:
        """docker's IMAGE ID: the digest of the config blob."""
        return self.manifest["config"]["digest"]

    @property
    def config(self) -> dict:
        """What the runtime honours: Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts, Labels."""
        return self.image_config.get("config") or {}

    @property
    def layers(self) -> list[dict]:
        return self.manifest.get("layers", [])

    @property
    def diff_ids(self) -> list[str]:
        return list((self.image_config.get("rootfs") or {}).get("diff_ids", []))

    @property
    def size(self) -> int:
        return sum(int(d.get("size", 0)) for d in self.layers)

    @property
    def created(self) -> str | None:
        return self.image_config.get("created")


class ImageStore:
    def __init__(self, root: str | None = None, hosts_dir: str | None = None) -> None:
        self.root = os.path.abspath(root or default_root())
        self.dir = os.path.join(self.root, "images")
        self.hosts_dir = hosts_dir or os.environ.get("MKPY_HOSTS_DIR") or os.path.join(self.root, "certs.d")
        self.blobs = BlobStore(self.dir)
        self.layers_dir = os.path.join(self.dir, "layers")
        self.snapshots_dir = os.path.join(self.dir, "snapshots")
        self.cache_dir = os.path.join(self.dir, "buildcache")
        for d in (self.layers_dir, self.snapshots_dir, self.cache_dir):
            os.makedirs(d, exist_ok=True)
        self._index_path = os.path.join(self.dir, "index.json")

    # ------------------------------------------------------------ locking and the index
    @contextlib.contextmanager
    def _flock(self, name: str, mode: int) -> Iterator[None]:
        with open(os.path.join(self.dir, name), "a") as f:
            fcntl.flock(f, mode)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def in_use(self) -> contextlib.AbstractContextManager[None]:
        """Held (shared) while blobs are being added but are not yet referenced by the index."""
        return self._flock("gc.lock", fcntl.LOCK_SH)

    def _read_index(self) -> dict:
        try:
            with open(self._index_path) as f:
                index = json.load(f)
        except FileNotFoundError:
            index = {}
        index.setdefault("refs", {})
        index.setdefault("images", {})
        return index

    @contextlib.contextmanager
    def _index(self) -> Iterator[dict]:
        """The index, locked for update; written back atomically when the block succeeds."""
        with self._flock("index.lock", fcntl.LOCK_EX):
            index = self._read_index()
            yield index
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".index-")
            with os.fdopen(fd, "w") as f:
                json.dump(index, f, indent=1, sort_keys=True)
            os.replace(tmp, self._index_path)

    # ------------------------------------------------------------ images and tags
    def load(self, digest: str, name: str | None = None) -> Image:
        """An Image from its manifest digest (the blobs must be in the store)."""
        manifest = json.loads(self.blobs.read(digest))
        config = json.loads(self.blobs.read(manifest["config"]["digest"]))
        index = self._read_index()
        tags = sorted(r for r, d in index["refs"].items() if d == digest)
        return Image(digest, manifest, config, name, tags)

    def add_image(self, manifest_bytes: bytes, tags: list[str] = (), expected: str | None = None) -> Image:
        """Record an image whose config and layer blobs are already stored; optionally tag it."""
        manifest = json.loads(manifest_bytes)
        if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
            raise ImageError("add_image wants an image manifest, not an index")
        for desc in [manifest["config"], *manifest.get("layers", [])]:
            if not self.blobs.has(desc["digest"]):
                raise ImageError(f"cannot record image: blob {desc['digest']} is missing", reason="NotFound")
        config = json.loads(self.blobs.read(manifest["config"]["digest"]))
        if len((config.get("rootfs") or {}).get("diff_ids", [])) != len(manifest.get("layers", [])):
            raise ImageError("image config rootfs.diff_ids and manifest layers differ in number")
        digest = self.blobs.put(manifest_bytes, expected)
        names = [reference.normalize(t) for t in tags]
        with self._index() as index:
            index["images"].setdefault(digest, {"added": time.time()})
            for n in names:
                index["refs"][n] = digest
        return self.load(digest, names[0] if names else None)

    def resolve(self, ref: str) -> Image:
        """A tag, name@digest, manifest digest, or (a prefix of) an image id -> Image."""
        index = self._read_index()
        if re.fullmatch(r"(sha256:)?[0-9a-f]{4,64}", ref) and "/" not in ref:
            hexpart = ref.removeprefix("sha256:")
            hits = {d for d in index["images"] if d[7:].startswith(hexpart)}
            for d in index["images"]:
                with contextlib.suppress(ImageError, OSError, KeyError, ValueError):
                    if self.load(d).id[7:].startswith(hexpart):
                        hits.add(d)
            if len(hits) == 1:
                return self.load(hits.pop(), ref)
            if len(hits) > 1:
                raise ImageError(f"image id prefix {ref!r} is ambiguous")
        r = reference.parse(ref)
        if r.digest:
            if r.digest in index["images"]:
                return self.load(r.digest, str(r))
        else:
            digest = index["refs"].get(str(r))
            if digest:
                return self.load(digest, str(r))
        raise ImageError(f"image {ref!r} not found in the store ({r!s})", reason="NotFound")

    def exists(self, ref: str) -> bool:
        try:
            self.resolve(ref)
            return True
        except ImageError:
            return False

    def tag(self, source: str, target: str) -> Image:
        image = self.resolve(source)
        name = reference.parse(target)
        if name.digest:
            raise ImageError(f"cannot tag with a digest: {target!r}")
        with self._index() as index:
            index["refs"][str(name)] = image.digest
        return self.load(image.digest, str(name))

    def list(self) -> list[tuple[str | None, Image]]:
        """(tag or None, image) for every tag, plus untagged images once each."""
        index = self._read_index()
        out: list[tuple[str | None, Image]] = []
        tagged = set()
        for name, digest in sorted(index["refs"].items()):
            with contextlib.suppress(ImageError, FileNotFoundError):
                out.append((name, self.load(digest, name)))
                tagged.add(digest)
        for digest in sorted(index["images"]):
            if digest not in tagged:
                with contextlib.suppress(ImageError, FileNotFoundError):
                    out.append((None, self.load(digest)))
        return out

    # ------------------------------------------------------------ layers and root filesystems
    def layer_path(self, diff_id: str) -> str:
        return os.path.join(self.layers_dir, check_digest(diff_id)[7:])

    def unpack_layer(self, desc: dict, diff_id: str) -> str:
        """Unpack one layer blob once; concurrent unpackers race harmlessly to a rename."""
        from minikube_py.image import layers

        final = self.layer_path(diff_id)
        if os.path.isdir(final):
            return final
        tmp = tempfile.mkdtemp(dir=self.layers_dir, prefix=".unpack-")
        try:
            with self.blobs.open(desc["digest"]) as f:
                layers.unpack(f, tmp, expected_diff_id=diff_id)
            os.chmod(tmp, 0o755)
            try:
                os.rename(tmp, final)
            except OSError:
                if not os.path.isdir(final):
                    raise
        finally:
            if os.path.exists(tmp):
                shutil.rmtree(tmp)
        return final

    def unpack(self, image: Image) -> list[str]:
        """The image's layer directories, bottom first, unpacking the ones not yet unpacked."""
        return [self.unpack_layer(desc, diff_id) for desc, diff_id in zip(image.layers, image.diff_ids,
                                                                          strict=True)]

    def prepare_rootfs(self, ref: str, key: str) -> dict:
        """A container root filesystem: the value of the runtime's `mkpy.io/overlay` annotation."""
        if not _KEY.match(key):
            raise ImageError(f"invalid snapshot key {key!r}: letters, digits, '_', '.', '-' (max 128)")
        with self.in_use():
            image = self.resolve(ref)
            lower = self.unpack(image)
            snap = os.path.join(self.snapshots_dir, key)
            meta = os.path.join(snap, "image.json")
            if os.path.exists(meta):
                with open(meta) as f:
                    if json.load(f)["image"] != image.digest:
                        raise ImageError(f"snapshot {key!r} already exists for another image", reason="InUse")
            os.makedirs(os.path.join(snap, "upper"), exist_ok=True)
            os.makedirs(os.path.join(snap, "work"), exist_ok=True)
            if not lower:
                # overlayfs needs at least one lower directory; an image with no layers gets an empty one.
                lower = [os.path.join(snap, "empty")]
                os.makedirs(lower[0], exist_ok=True)
            with open(meta + ".tmp", "w") as f:
                json.dump({"image": image.digest, "ref": ref}, f)
            os.replace(meta + ".tmp", meta)
        return {"lower": list(reversed(lower)), "upper": os.path.join(snap, "upper"),
                "work": os.path.join(snap, "work")}

    def release_rootfs(self, key: str) -> None:
        """Forget a container's writable layer (its image's layers stay for gc to judge)."""
        if not _KEY.match(key):
            raise ImageError(f"invalid snapshot key {key!r}")
        snap = os.path.join(self.snapshots_dir, key)
        if os.path.isdir(snap):
            shutil.rmtree(snap)

    def snapshots(self) -> dict[str, str]:
        """snapshot key -> manifest digest of the image it was made from."""
        out = {}
        for key in sorted(os.listdir(self.snapshots_dir)):
            try:
                with open(os.path.join(self.snapshots_dir, key, "image.json")) as f:
                    out[key] = json.load(f)["image"]
            except (FileNotFoundError, ValueError, KeyError):
                continue
        return out

    # ------------------------------------------------------------ removal and garbage collection
    def remove(self, ref: str, force: bool = False) -> list[str]:
        """`image rm`: untag; when no tag is left and no container uses it, delete the image."""
        image = self.resolve(ref)
        events: list[str] = []
        by_name = not re.fullmatch(r"(sha256:)?[0-9a-f]{4,64}", ref)
        users = [k for k, d in self.snapshots().items() if d == image.digest]
        with self._index() as index:
            tags = sorted(r for r, d in index["refs"].items() if d == image.digest)
            if by_name and "@" not in ref:
                drop = [reference.normalize(ref)]
            else:
                if len(tags) > 1 and not force:
                    raise ImageError(f"image {ref!r} has several tags ({', '.join(tags)}): "
                                     "remove them by name or use --force")
                drop = tags
            left = [t for t in tags if t not in drop]
            if not left and users and not force:
                raise ImageError(f"image {ref!r} is in use by container rootfs {', '.join(users)}",
                                 reason="InUse")
            for t in drop:
                index["refs"].pop(t, None)
                events.append(f"Untagged: {t}")
            if not left:
                index["images"].pop(image.digest, None)
                events.append(f"Deleted: {image.digest}")
        if not left:
            self.gc()
        return events

    def prune(self) -> tuple[list[str], int]:
        """`image prune`: delete untagged images nothing uses, and the build cache; then gc."""
        used = set(self.snapshots().values())
        deleted = []
        with self._index() as index:
            tagged = set(index["refs"].values())
            for digest in list(index["images"]):
                if digest not in tagged and digest not in used:
                    index["images"].pop(digest)
                    deleted.append(f"Deleted: {digest}")
        for name in os.listdir(self.cache_dir):
            os.unlink(os.path.join(self.cache_dir, name))
        return deleted, self.gc()

    def references(self) -> tuple[Counter[str], Counter[str]]:
        """How many users each blob digest and each layer diff_id has (images, snapshots, cache)."""
        blobs: Counter[str] = Counter()
        layer_dirs: Counter[str] = Counter()

        def count_manifest(digest: str) -> None:
            try:
                manifest = json.loads(self.blobs.read(digest))
                config = json.loads(self.blobs.read(manifest["config"]["digest"]))
            except (ImageError, ValueError, KeyError):
                return
            blobs[digest] += 1
            count_state(manifest.get("layers", []), config, manifest["config"]["digest"])

        def count_state(layer_descs: list[dict], config: dict, config_digest: str | None) -> None:
            if config_digest:
                blobs[config_digest] += 1
            for desc in layer_descs:
                blobs[desc["digest"]] += 1
            for diff_id in (config.get("rootfs") or {}).get("diff_ids", []):
                layer_dirs[diff_id] += 1

        for digest in self._read_index()["images"]:
            count_manifest(digest)
        for digest in self.snapshots().values():
            count_manifest(digest)
        for name in os.listdir(self.cache_dir):
            with contextlib.suppress(OSError, ValueError, KeyError):
                with open(os.path.join(self.cache_dir, name)) as f:
                    state = json.load(f)
                count_state(state["layers"], state["config"], None)
        return blobs, layer_dirs

    def gc(self) -> int:
        """Delete every blob and layer directory with no references. Returns bytes freed."""
        freed = 0
        with self._flock("gc.lock", fcntl.LOCK_EX):
            blobs, layer_dirs = self.references()
            for digest in list(self.blobs):
                if blobs[digest] == 0:
                    freed += self.blobs.delete(digest)
            for name in os.listdir(self.layers_dir):
                path = os.path.join(self.layers_dir, name)
                if name.startswith(".unpack-") or layer_dirs["sha256:" + name] == 0:
                    freed += _tree_size(path)
                    shutil.rmtree(path, ignore_errors=True)
            # Half-written blobs of an interrupted pull: nobody holds the in-use lock now.
            self.blobs.clean_ingest()
        return freed

    # ------------------------------------------------------------ the rest lives in its own module
    def pull(self, ref: str, **kwargs) -> Image:
        from minikube_py.image import registry

        return registry.pull(self, ref, **kwargs)

    def ensure(self, ref: str, policy: str = "IfNotPresent", **kwargs) -> Image:
        """Kubernetes' imagePullPolicy: Always pulls, IfNotPresent pulls when missing, Never never does."""
        if policy not in ("Always", "IfNotPresent", "Never"):
            raise ImageError(f"imagePullPolicy {policy!r}: expected Always, IfNotPresent or Never")
        if policy == "Always" or (policy == "IfNotPresent" and not self.exists(ref)):
            return self.pull(ref, **kwargs)
        try:
            return self.resolve(ref)
        except ImageError as exc:
            raise ImageError(f"{exc} and imagePullPolicy is Never", reason="NotFound") from None

    def push(self, ref: str, **kwargs) -> dict:
        from minikube_py.image import registry

        return registry.push(self, ref, **kwargs)

    def import_archive(self, path: str, tag: str | None = None) -> list[Image]:
        from minikube_py.image import layout

        return layout.import_path(self, path, tag)

    def export(self, refs: list[str], path: str) -> None:
        from minikube_py.image import layout

        layout.export(self, refs, path)

    def build(self, context: str, **kwargs) -> Image:
        from minikube_py.image import build

        return build.build(self, context, **kwargs)


def _tree_size(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
