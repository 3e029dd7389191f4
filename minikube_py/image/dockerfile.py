"""A Dockerfile parser: text -> instructions, with the line number each came from.

Handled as docker does: `#` comment lines, `\\` line continuations, instruction
words in any case, exec form (`["a", "b"]`) vs shell form, `--flag=value`
options, and `$VAR` / `${VAR}` / `${VAR:-default}` / `${VAR:+alt}` substitution
from ARG and ENV values in the instructions where docker substitutes.
A Dockerfile we cannot honour fails with `Dockerfile:<line>: <reason>`.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from minikube_py.image.errors import ImageError

SUPPORTED = {"FROM", "RUN", "COPY", "ADD", "WORKDIR", "ENV", "ARG", "LABEL", "EXPOSE", "USER", "CMD",
             "ENTRYPOINT", "STOPSIGNAL", "VOLUME", "MAINTAINER"}
KNOWN_UNSUPPORTED = {"HEALTHCHECK", "SHELL", "ONBUILD"}
FLAGS = {"COPY": {"chown", "chmod", "from"}, "ADD": {"chown", "chmod"}, "FROM": {"platform"},
         "RUN": set()}
# Instructions whose arguments docker expands $VARS in (RUN/CMD/ENTRYPOINT leave it to the shell).
EXPANDS = {"FROM", "COPY", "ADD", "WORKDIR", "ENV", "ARG", "LABEL", "EXPOSE", "USER", "STOPSIGNAL", "VOLUME"}


@dataclass
class Instruction:
    cmd: str                         # upper case: FROM, RUN, ...
    raw: str                         # the argument text as written (continuations joined)
    line: int                        # where the instruction starts
    flags: dict[str, str] = field(default_factory=dict)
    exec_form: list[str] | None = None

    @property
    def text(self) -> str:
        return f"{self.cmd} {self.raw}".strip()

    def error(self, reason: str) -> ImageError:
        return DockerfileError(self.line, f"{self.cmd}: {reason}")


def DockerfileError(line: int, reason: str) -> ImageError:
    return ImageError(f"Dockerfile:{line}: {reason}", reason="Invalid")


def parse(text: str) -> list[Instruction]:
    out: list[Instruction] = []
    buf, start = "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue          # comment lines inside a continuation are dropped, as docker does
        if not buf:
            start = number
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1]
            continue
        buf += line
        out.append(_instruction(buf.strip(), start))
        buf = ""
    if buf.strip():
        out.append(_instruction(buf.strip(), start))
    if not out:
        raise DockerfileError(1, "the Dockerfile is empty")
    return out


def _instruction(text: str, line: int) -> Instruction:
    word, _, rest = text.partition(" ")
    if "\t" in word:
        word, _, more = word.partition("\t")
        rest = more + " " + rest
    cmd = word.upper()
    if cmd in KNOWN_UNSUPPORTED:
        raise DockerfileError(line, f"{cmd} is not supported by mkpy image build")
    if cmd not in SUPPORTED:
        raise DockerfileError(line, f"unknown instruction {word!r}")
    rest = rest.strip()
    flags: dict[str, str] = {}
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        name, eq, value = flag[2:].partition("=")
        if name not in FLAGS.get(cmd, set()) or not eq:
            raise DockerfileError(line, f"{cmd}: unknown or malformed flag {flag!r}")
        flags[name] = value
        rest = rest.strip()
    exec_form = None
    if rest.startswith("[") and cmd in ("RUN", "CMD", "ENTRYPOINT", "COPY", "ADD", "VOLUME"):
        try:
            parsed = json.loads(rest)
            if isinstance(parsed, list) and all(isinstance(a, str) for a in parsed):
                exec_form = parsed
        except ValueError:
            pass          # not JSON: docker treats it as shell form too
    inst = Instruction(cmd, rest, line, flags, exec_form)
    if not rest and cmd not in ("CMD", "ENTRYPOINT"):
        raise inst.error("needs an argument")
    return inst


_VAR = re.compile(r"\\\$|\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<op>[-+])(?P<word>[^}]*))?\}"
                  r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


def expand(text: str, env: dict[str, str]) -> str:
    """Substitute $VAR, ${VAR}, ${VAR:-default} and ${VAR:+alt}; `\\$` stays a literal $."""

    def one(m: re.Match) -> str:
        if m.group(0) == "\\$":
            return "$"
        name = m.group("braced") or m.group("plain")
        value = env.get(name, "")
        op = m.group("op")
        if op == "-":
            return value or m.group("word")
        if op == "+":
            return m.group("word") if value else ""
        return value

    return _VAR.sub(one, text)


def key_values(inst: Instruction, env: dict[str, str]) -> list[tuple[str, str]]:
    """ENV and LABEL arguments: `K=V K2="v 2"` pairs, or the old `K some value` form."""
    raw = inst.raw
    first = raw.split(None, 1)[0]
    if "=" not in first:
        if inst.cmd == "LABEL":
            raise inst.error(f"expected KEY=VALUE, got {raw!r}")
        parts = raw.split(None, 1)
        if len(parts) != 2:
            raise inst.error(f"expected KEY VALUE or KEY=VALUE, got {raw!r}")
        return [(parts[0], expand(parts[1], env))]
    try:
        words = shlex.split(raw, posix=True)
    except ValueError as exc:
        raise inst.error(f"cannot split {raw!r}: {exc}") from None
    pairs = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise inst.error(f"expected KEY=VALUE, got {word!r}")
        pairs.append((expand(key, env), expand(value, env)))
    return pairs


def words(inst: Instruction, env: dict[str, str]) -> list[str]:
    """COPY/ADD/EXPOSE/VOLUME arguments, expanded."""
    items = inst.exec_form if inst.exec_form is not None else inst.raw.split()
    return [expand(w, env) for w in items]
