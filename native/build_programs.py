"""Compile the small standalone C programs in native/programs/ (one .c file each).

They are executables, not Python extensions: the container monitor, for one,
must stay tiny and outlive any Python process. setup.py calls build() during
`pip install .` and `python setup.py build_ext --inplace`.
"""

import os
import shlex
import subprocess
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROGRAMS = HERE / "programs"


def build(outdir: Path) -> list[Path]:
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    outdir.mkdir(parents=True, exist_ok=True)
    built = []
    for src in sorted(PROGRAMS.glob("*.c")):
        out = outdir / src.stem
        subprocess.run([*cc, "-O2", "-Wall", "-o", str(out), str(src)], check=True)
        os.chmod(out, 0o755)
        built.append(out)
    return built
