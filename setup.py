"""Build glue: the cffi shim (API mode) and the small C programs in native/programs/.

Everything else (metadata, dependencies, entry points) is in pyproject.toml.
"""

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "native"))
import build_programs  # noqa: E402


class BuildWithPrograms(build_ext):
    """Also compile native/programs/*.c into the package's bin/ directory.

    Hooked on build_ext because that is the step both `pip install .` and an
    editable install (`pip install -e .`, which builds in place) run.
    """

    def run(self) -> None:
        super().run()
        root = HERE if self.inplace else Path(self.build_lib)
        build_programs.build(root / "minikube_py" / "bin")


setup(
    cffi_modules=["native/build_shim.py:ffibuilder"],
    cmdclass={"build_ext": BuildWithPrograms},
)
