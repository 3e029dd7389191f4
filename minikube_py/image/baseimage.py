"""busybox:latest, made offline from Debian's busybox-static (rootfs/build.sh runs this).

One static binary is a whole userland: `/bin/busybox` plus one symlink per
applet (`/bin/sh`, `/bin/httpd`, ...), and the few files programs expect to
find in /etc. The layer is written reproducibly (layers.write_layer), every
entry owned by root, every mtime set to the busybox binary's own mtime, so two
builds from the same Debian package give the same digests.

    python -m minikube_py.image.baseimage [--root R] [--oci DIR] [--busybox PATH]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

from minikube_py.image.blobs import BlobStore
from minikube_py.image.digest import OCI_CONFIG, OCI_MANIFEST, canonical_json, host_platform
from minikube_py.image.errors import ImageError
from minikube_py.image.layers import write_layer

BUSYBOX = "/bin/busybox"
NAME = "docker.io/library/busybox:latest"
# The pod sandbox ("pause") container only has to hold the pod's namespaces open: busybox's
# `sleep infinity` does, with the same layer (no extra disk). It carries the name kubelets use
# by default, so a node needs no network to start pods.
PAUSE_NAME = "registry.k8s.io/pause:3.9"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

ETC_FILES = {
    "etc/passwd": ("root:x:0:0:root:/root:/bin/sh\n"
                   "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
                   "www-data:x:33:33:www-data:/var/www:/bin/false\n"
                   "nobody:x:65534:65534:nobody:/home:/bin/false\n"),
    "etc/group": ("root:x:0:\ndaemon:x:1:\ntty:x:5:\nwww-data:x:33:\nusers:x:100:\nnogroup:x:65534:\n"),
    "etc/shadow": "root:*:19000:0:99999:7:::\ndaemon:*:19000::::::\nnobody:*:19000::::::\n",
    "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    "etc/nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n",
}
# Directories and their modes; /tmp is world-writable with the sticky bit, /root private.
DIRS = {"bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755, "etc": 0o755,
        "dev": 0o755, "proc": 0o555, "sys": 0o555, "tmp": 0o1777, "root": 0o700, "home": 0o755,
        "var": 0o755, "var/spool": 0o755, "var/www": 0o755, "run": 0o755}


def busybox_version(busybox: str) -> str:
    out = subprocess.run([busybox], capture_output=True, text=True).stdout
    first = out.splitlines()[0] if out else "BusyBox"
    return first.split(" multi-call")[0].strip()


def make_tree(dest: str, busybox: str = BUSYBOX) -> None:
    """Lay out the busybox root filesystem in dest."""
    for d, mode in DIRS.items():
        os.makedirs(os.path.join(dest, d), exist_ok=True)
        os.chmod(os.path.join(dest, d), mode)
    shutil.copyfile(busybox, os.path.join(dest, "bin/busybox"))
    os.chmod(os.path.join(dest, "bin/busybox"), 0o755)
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True).stdout
    for rel in applets.split():
        if rel == "bin/busybox":
            continue
        path = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.lexists(path):
            os.symlink("/bin/busybox", path)
    for rel, text in ETC_FILES.items():
        with open(os.path.join(dest, rel), "w") as f:
            f.write(text)
        os.chmod(os.path.join(dest, rel), 0o640 if rel == "etc/shadow" else 0o644)
    # Parent directories made for applets (e.g. usr/local/bin) get a fixed mode too.
    for dirpath, dirnames, _ in os.walk(dest):
        for d in dirnames:
            rel = os.path.relpath(os.path.join(dirpath, d), dest)
            if rel not in DIRS and not os.path.islink(os.path.join(dirpath, d)):
                os.chmod(os.path.join(dirpath, d), 0o755)
    os.chmod(dest, 0o755)


def build_layout(out: str, busybox: str = BUSYBOX) -> str:
    """Write busybox:latest (and the pause image) as an OCI image layout at out.

    Returns busybox's manifest digest."""
    if not os.path.exists(busybox):
        raise ImageError(f"{busybox} not found: install Debian's busybox-static", reason="NotFound")
    st = os.stat(busybox)
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(f"{busybox} is not a regular file")
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", int(st.st_mtime)))
    created = datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    blobs = BlobStore(out)
    tree = tempfile.mkdtemp(prefix="mkpy-busybox-")
    try:
        make_tree(tree, busybox)
        layer, diff_id = write_layer(blobs, tree, mtime=epoch, owner=(0, 0))
    finally:
        shutil.rmtree(tree)
    plat = host_platform()
    config = {
        "architecture": plat["architecture"], "os": "linux", "created": created,
        "config": {"Env": [PATH_ENV], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": created,
                     "created_by": f"rootfs/build.sh: {busybox_version(busybox)} (Debian busybox-static)"}],
    }
    pause = json.loads(json.dumps(config))
    pause["config"] = {"Env": [PATH_ENV], "Entrypoint": ["/bin/sleep", "infinity"], "StopSignal": "SIGKILL"}
    pause["history"].append({"created": created, "created_by": "ENTRYPOINT [\"/bin/sleep\", \"infinity\"]",
                             "empty_layer": True})
    entries = []
    digest = ""
    for name, cfg in ((NAME, config), (PAUSE_NAME, pause)):
        config_bytes = canonical_json(cfg)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": blobs.put(config_bytes),
                               "size": len(config_bytes)},
                    "layers": [layer]}
        manifest_bytes = canonical_json(manifest)
        d = blobs.put(manifest_bytes)
        digest = digest or d
        entries.append({"mediaType": OCI_MANIFEST, "digest": d, "size": len(manifest_bytes), "platform": plat,
                        "annotations": {"org.opencontainers.image.ref.name": name.rsplit(":", 1)[1],
                                        "io.containerd.image.name": name}})
    shutil.rmtree(blobs.ingest_dir, ignore_errors=True)
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    with open(os.path.join(out, "index.json"), "w") as f:
        f.write(canonical_json(index).decode())
    with open(os.path.join(out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    return digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rootfs/build.sh", description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=None, help="node state root (default $MKPY_ROOT or /var/lib/mkpy)")
    parser.add_argument("--oci", default=None, help="also keep the OCI image layout in this directory")
    parser.add_argument("--busybox", default=BUSYBOX, help="the static busybox binary to use")
    parser.add_argument("--no-import", action="store_true", help="only write the OCI layout (--oci)")
    args = parser.parse_args(argv)
    from minikube_py.image.store import ImageStore

    out = args.oci or tempfile.mkdtemp(prefix="mkpy-busybox-oci-")
    try:
        if args.oci and os.path.exists(os.path.join(out, "index.json")):
            shutil.rmtree(out)
        os.makedirs(out, exist_ok=True)
        digest = build_layout(out, args.busybox)
        if not args.no_import:
            store = ImageStore(args.root)
            before = store.exists(NAME) and store.resolve(NAME).digest
            store.import_archive(out)
            state = "unchanged" if before == digest else "imported"
            print(f"busybox:latest {digest} ({state}) in {store.dir}")
        else:
            print(f"busybox:latest {digest} written to {out}")
    except ImageError as exc:
        print(f"rootfs/build.sh: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.oci:
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
