"""Images: a content-addressed store, overlay layers, OCI registries, and `mkpy image build`.

Where to start reading:
  reference.py  image names (`busybox` -> docker.io/library/busybox:latest)
  blobs.py      blobs by sha256, verified while they are written
  layers.py     layer tars: made reproducibly, unpacked with OCI -> overlayfs whiteouts
  store.py      ImageStore: images, tags, reference counting, container root filesystems
  registry.py   the OCI distribution API (pull/push) and hosts.py, the mirror configuration
  layout.py     OCI image layouts and `docker save` archives
  build.py      Dockerfiles (dockerfile.py parses them)
  baseimage.py  busybox:latest from Debian's busybox-static, offline
"""

from minikube_py.image.errors import ImageError

__all__ = ["ImageError"]
