"""How the runtime CLI is started quickly: `python -S`, with the paths site.py would have found.

A normal interpreter start runs site.py: it scans site-packages and executes every
.pth file there. In the project's venv that costs ~15 ms per process (the editable
install's import hook alone ~9 ms) - more than half of a whole `runc run`, paid on
every create, start, kill and delete the kubelet asks for. `python -S` skips
site.py, so the two directories the runtime needs are put on sys.path by hand:

  * the checkout (or install) this minikube_py package was imported from, and
  * the site-packages that hold click, prctl, cffi and psutil.

Both places use the same few lines of Python (code()):
  * RuntimeClient runs `python -S -c <code>` (command());
  * scripts/setup.sh writes the `mkpy-runc` command as a script with the same code
    behind a `#!<venv python> -S` line:  python -m minikube_py.runtime.launcher PATH
"""

from __future__ import annotations

import os
import sys

# The package directory's parent: the checkout (editable install) or site-packages.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def search_path() -> list[str]:
    """The directories the runtime CLI imports from: this package's root, then site-packages."""
    import site

    paths = [PACKAGE_ROOT]
    for directory in site.getsitepackages():
        if os.path.isdir(directory) and directory not in paths:
            paths.append(directory)
    return paths


def code(paths: list[str] | None = None) -> str:
    """The Python that starts the CLI in an interpreter started with -S."""
    return (f"import sys; sys.path[:0] = {paths or search_path()!r}\n"
            "from minikube_py.runtime.cli import main; main()\n")


def command(python: str = sys.executable) -> list[str]:
    """argv prefix of a fast runtime CLI: add `--root R verb ...`."""
    return [python, "-S", "-c", code()]


def write_script(path: str, python: str = sys.executable) -> None:
    """Write `path` as an executable mkpy-runc (replacing pip's console script there, if any)."""
    text = (f"#!{python} -S\n"
            "# mkpy-runc: written by `python -m minikube_py.runtime.launcher` (scripts/setup.sh).\n"
            "# -S skips site.py (~15 ms a start): sys.path gets what the runtime needs instead.\n"
            f"{code()}")
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.rename(tmp, path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m minikube_py.runtime.launcher PATH-OF-MKPY-RUNC")
    write_script(sys.argv[1])
