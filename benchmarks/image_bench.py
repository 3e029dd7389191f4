"""Pull + unpack of a multi-layer image from a local registry: mkpy vs skopeo copy + umoci unpack.

    sudo /opt/mkpy/venv/bin/python benchmarks/image_bench.py [--layers 6] [--mb 4] [--runs 3]

Starts Debian's docker-registry on 127.0.0.1 (a free port, a tmp storage dir), pushes a
busybox-based image with N extra layers of M MB each, then measures, each run on an empty
destination:
  mkpy      ImageStore.pull: manifest, parallel verified blob fetches, unpack into layer dirs
  baseline  skopeo copy docker://... oci:DIR  then  umoci unpack --image DIR BUNDLE
and a second mkpy pull of the same image into the same store, which must move 0 layer bytes.
Figures are medians of --runs runs, with the ratio baseline / mkpy (above 1: mkpy is faster).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))

from integration.image.images_helper import layered_image  # noqa: E402
from integration.image.registry_fixture import Registry  # noqa: E402

from minikube_py.image import baseimage  # noqa: E402
from minikube_py.image.hosts import write_mirror  # noqa: E402
from minikube_py.image.store import ImageStore  # noqa: E402


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--mb", type=float, default=4.0, help="size of each extra layer")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="mkpy-image-bench-")
    reg = None
    try:
        layout = os.path.join(work, "busybox")
        baseimage.build_layout(layout)
        src = ImageStore(os.path.join(work, "src"))
        src.import_archive(layout)
        os.makedirs(os.path.join(work, "reg"))
        reg = Registry(os.path.join(work, "reg")).start()
        write_mirror(src.hosts_dir, "bench.local", reg.url)
        image = layered_image(src, "bench.local/multi:v1", layers=args.layers, size=int(args.mb * 1e6))
        src.push("bench.local/multi:v1", progress=False)
        total = sum(d["size"] for d in image.layers)
        print(f"image: {len(image.layers)} layers, {total / 1e6:.1f} MB compressed, {image.digest[:19]}")

        ours, second, theirs = [], [], []
        second_bytes = []
        for i in range(args.runs):
            dst = ImageStore(os.path.join(work, f"dst{i}"), hosts_dir=src.hosts_dir)
            ours.append(timed(lambda dst=dst: dst.pull("bench.local/multi:v1", progress=False)))
            again = {}
            second.append(timed(lambda dst=dst, again=again: again.setdefault(
                "img", dst.pull("bench.local/multi:v1", progress=False))))
            second_bytes.append(again["img"].stats.bytes_transferred)
            oci, bundle = os.path.join(work, f"oci{i}"), os.path.join(work, f"bundle{i}")

            def baseline(oci=oci, bundle=bundle) -> None:
                subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false",
                                f"docker://{reg.host}/multi:v1", f"oci:{oci}:v1"], check=True)
                subprocess.run(["umoci", "unpack", "--image", f"{oci}:v1", bundle], check=True,
                               stdout=subprocess.DEVNULL)

            theirs.append(timed(baseline))
            shutil.rmtree(dst.root)

        m_ours, m_theirs, m_second = (statistics.median(x) for x in (ours, theirs, second))
        print(f"{'':34}{'median s':>10}{'runs':>28}")
        print(f"{'mkpy pull (+unpack)':34}{m_ours:10.3f}   {', '.join(f'{x:.3f}' for x in ours)}")
        print(f"{'skopeo copy + umoci unpack':34}{m_theirs:10.3f}   {', '.join(f'{x:.3f}' for x in theirs)}")
        print(f"{'mkpy second pull (same store)':34}{m_second:10.3f}   "
              f"layer bytes moved: {', '.join(str(b) for b in second_bytes)}")
        print(f"ratio baseline/mkpy: {m_theirs / m_ours:.2f}x; second pull moved "
              f"{max(second_bytes)} layer bytes")
        return 0 if max(second_bytes) == 0 else 1
    finally:
        if reg:
            reg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
