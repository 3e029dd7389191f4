"""`mkpy image build`: a Dockerfile, step by step, into an image in the store.

Each instruction turns the current state (an image config + its layers) into a
new one. Steps that change files (COPY, ADD, WORKDIR of a new directory, RUN)
add a layer; the others only edit the config. Every step is cached under a key
made of the previous step's key, the instruction text after substitution, and
its inputs (the bytes of COPY'd files, ARG values), so an unchanged rebuild
reuses every step ("CACHED") and produces the very same image digest.
"""

from __future__ import annotations

import copy
import datetime
import glob
import hashlib
import json
import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from minikube_py.image import dockerfile, reference
from minikube_py.image.digest import OCI_CONFIG, OCI_MANIFEST, canonical_json, host_platform
from minikube_py.image.dockerfile import DockerfileError, Instruction, expand
from minikube_py.image.errors import ImageError
from minikube_py.image.layers import write_layer

Out = Callable[[str], None]


@dataclass
class State:
    config: dict          # the whole image config (rootfs.diff_ids, history, config)
    layers: list[dict]    # layer descriptors, bottom first
    key: str              # cache key of the step that produced this state

    @property
    def run_config(self) -> dict:
        return self.config.setdefault("config", {})


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hash(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


# ------------------------------------------------------------------ .dockerignore
class DockerIgnore:
    """Patterns in .dockerignore order; a later `!pattern` re-includes what an earlier one excluded."""

    def __init__(self, context: str) -> None:
        self.rules: list[tuple[bool, re.Pattern]] = []
        path = os.path.join(context, ".dockerignore")
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    line = line.strip()
                    if not line or line.startswith("#"):
                        continue
                    negate = line.startswith("!")
                    pattern = posixpath.normpath(line.lstrip("!").strip().lstrip("/"))
                    self.rules.append((negate, re.compile(_translate(pattern))))

    def excluded(self, rel: str) -> bool:
        parts = rel.split("/")
        candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        result = False
        for negate, rx in self.rules:
            if any(rx.fullmatch(c) for c in candidates):
                result = not negate
        return result


def _translate(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


# ------------------------------------------------------------------ the builder
class Builder:
    def __init__(self, store, context: str, build_args: dict[str, str], no_cache: bool, out: Out,
                 progress: bool | None) -> None:
        self.store = store
        self.context = os.path.realpath(context)
        self.build_args = dict(build_args)
        self.no_cache = no_cache
        self.out = out
        self.progress = progress
        self.ignore = DockerIgnore(self.context)
        self.args: dict[str, str] = {}       # ARG values visible now
        self.global_args: dict[str, str] = {}
        self.used_args: set[str] = set()

    # -- the environment for substitution: ARG values, overridden by ENV
    def env(self, state: State | None) -> dict[str, str]:
        env = dict(self.args)
        if state:
            for item in state.run_config.get("Env") or []:
                k, _, v = item.partition("=")
                env[k] = v
        return env

    def run(self, instructions: list[Instruction]) -> State:
        froms = [i for i in instructions if i.cmd == "FROM"]
        first = next((i for i in instructions if i.cmd != "ARG"), None)
        if first is None or first.cmd != "FROM":
            raise DockerfileError((first or instructions[0]).line, "the first instruction must be FROM "
                                  "(only ARG may come before it)")
        if len(froms) > 1:
            raise froms[1].error("multi-stage builds are not supported by mkpy image build")
        state: State | None = None
        for n, inst in enumerate(instructions, start=1):
            self.out(f"Step {n}/{len(instructions)} : {inst.text}")
            if inst.cmd == "FROM":
                state = self.step_from(inst)
                continue
            if inst.cmd == "ARG" and state is None:
                self.declare_arg(inst, self.global_args, global_scope=True)
                continue
            assert state is not None
            state = self.step(state, inst)
        assert state is not None
        unused = sorted(set(self.build_args) - self.used_args)
        if unused:
            self.out(f"[Warning] One or more build-args {unused} were not consumed")
        return state

    def declare_arg(self, inst: Instruction, scope: dict[str, str], global_scope: bool = False) -> str:
        name, eq, default = inst.raw.partition("=")
        name = name.strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise inst.error(f"invalid ARG name {name!r}")
        if name in self.build_args:
            value = self.build_args[name]
            self.used_args.add(name)
        elif eq:
            value = expand(default.strip().strip('"'), {**self.global_args, **self.args})
        else:
            value = self.global_args.get(name, "")
        scope[name] = value
        if global_scope:
            self.args[name] = value
        return value

    def step_from(self, inst: Instruction) -> State:
        parts = expand(inst.raw, self.global_args).split()
        if len(parts) not in (1, 3) or (len(parts) == 3 and parts[1].lower() != "as"):
            raise inst.error(f"expected FROM IMAGE [AS NAME], got {inst.raw!r}")
        self.args = {}        # ARGs declared before FROM must be re-declared to be used after it
        name = parts[0]
        if name == "scratch":
            config = {**host_platform(), "config": {}, "rootfs": {"type": "layers", "diff_ids": []},
                      "history": []}
            return State(config, [], _hash("scratch"))
        try:
            reference.parse(name)
            if not self.store.exists(name):
                self.out(f" ---> pulling {name}")
                self.store.pull(name, progress=self.progress)
            image = self.store.resolve(name)
        except ImageError as exc:
            raise inst.error(f"base image {name!r}: {exc}") from None
        self.out(f" ---> {image.id[7:19]}")
        return State(copy.deepcopy(image.image_config), list(image.layers), _hash("from", image.digest))

    def step(self, state: State, inst: Instruction) -> State:
        handler = getattr(self, f"do_{inst.cmd.lower()}")
        if inst.cmd == "ARG":
            self.declare_arg(inst, self.args)   # ARG values are needed even when the step is cached
        env = self.env(state)
        inputs = self.inputs(state, inst, env)
        key = _hash(state.key, inst.cmd, inst.flags, inst.raw, inputs)
        cached = os.path.join(self.store.cache_dir, key + ".json")
        if not self.no_cache and os.path.exists(cached):
            with open(cached) as f:
                saved = json.load(f)
            if all(self.store.blobs.has(d["digest"]) for d in saved["layers"]):
                self.out(" ---> CACHED")
                return State(saved["config"], saved["layers"], key)
        new = State(copy.deepcopy(state.config), list(state.layers), key)
        layer_text = handler(new, inst, env)
        new.config.setdefault("history", []).append(
            {"created": _now(), "created_by": inst.text, "comment": "mkpy image build",
             **({} if layer_text else {"empty_layer": True})})
        new.config["created"] = new.config["history"][-1]["created"]
        with open(cached + ".tmp", "w") as f:
            json.dump({"config": new.config, "layers": new.layers}, f)
        os.replace(cached + ".tmp", cached)
        self.out(f" ---> {layer_text or 'config'} {key[:12]}")
        return new

    # -- what a step's result depends on besides its text
    def inputs(self, state: State, inst: Instruction, env: dict[str, str]) -> object:
        if inst.cmd in ("COPY", "ADD"):
            plan, _ = self.copy_plan(state, inst, env)
            return [[kind, src_digest, dest, mode] for kind, _src, dest, mode, src_digest in plan]
        if inst.cmd == "RUN":
            return sorted(self.args.items())
        if inst.cmd == "ARG":
            name = inst.raw.partition("=")[0].strip()
            return [name, self.args.get(name)]
        return expand(inst.raw, env) if inst.cmd in dockerfile.EXPANDS else None

    # -- config-only instructions (return None: no layer)
    def do_arg(self, state: State, inst: Instruction, env: dict) -> None:
        pass          # declared in step(); an ARG changes no config, only later steps' keys

    def do_env(self, state: State, inst: Instruction, env: dict) -> None:
        cfg = state.run_config
        current = [e.partition("=") for e in cfg.get("Env") or []]
        values = {k: v for k, _, v in current}
        order = [k for k, _, _ in current]
        for k, v in dockerfile.key_values(inst, env):
            env[k] = v
            if k not in values:
                order.append(k)
            values[k] = v
        cfg["Env"] = [f"{k}={values[k]}" for k in order]

    def do_label(self, state: State, inst: Instruction, env: dict) -> None:
        labels = state.run_config.setdefault("Labels", {}) or {}
        labels.update(dict(dockerfile.key_values(inst, env)))
        state.run_config["Labels"] = labels

    def do_expose(self, state: State, inst: Instruction, env: dict) -> None:
        ports = state.run_config.get("ExposedPorts") or {}
        for word in dockerfile.words(inst, env):
            port, _, proto = word.partition("/")
            proto = proto or "tcp"
            if not port.isdigit() or not 0 < int(port) < 65536 or proto not in ("tcp", "udp", "sctp"):
                raise inst.error(f"invalid port {word!r}: expected PORT[/tcp|udp|sctp]")
            ports[f"{int(port)}/{proto}"] = {}
        state.run_config["ExposedPorts"] = ports

    def do_user(self, state: State, inst: Instruction, env: dict) -> None:
        state.run_config["User"] = expand(inst.raw, env).strip()

    def do_stopsignal(self, state: State, inst: Instruction, env: dict) -> None:
        state.run_config["StopSignal"] = expand(inst.raw, env).strip()

    def do_maintainer(self, state: State, inst: Instruction, env: dict) -> None:
        state.config["author"] = inst.raw

    def do_volume(self, state: State, inst: Instruction, env: dict) -> None:
        vols = state.run_config.get("Volumes") or {}
        for v in dockerfile.words(inst, env):
            vols[v] = {}
        state.run_config["Volumes"] = vols

    def _argv(self, inst: Instruction) -> list[str]:
        if inst.exec_form is not None:
            return inst.exec_form
        return ["/bin/sh", "-c", inst.raw] if inst.raw else []

    def do_cmd(self, state: State, inst: Instruction, env: dict) -> None:
        state.run_config["Cmd"] = self._argv(inst) or None

    def do_entrypoint(self, state: State, inst: Instruction, env: dict) -> None:
        state.run_config["Entrypoint"] = self._argv(inst) or None
        # As docker: a new ENTRYPOINT drops the CMD inherited from the base image.
        state.run_config["Cmd"] = None

    # -- instructions that change files
    def do_workdir(self, state: State, inst: Instruction, env: dict) -> str | None:
        path = posixpath.normpath(posixpath.join(state.run_config.get("WorkingDir") or "/",
                                                 expand(inst.raw, env).strip()))
        state.run_config["WorkingDir"] = path
        if self.image_isdir(state, path):
            return None
        stage = tempfile.mkdtemp(prefix="mkpy-build-")
        try:
            os.makedirs(os.path.join(stage, path.lstrip("/")), mode=0o755)
            self.add_layer(state, stage, {})
        finally:
            shutil.rmtree(stage)
        return "layer"

    def do_copy(self, state: State, inst: Instruction, env: dict) -> str:
        plan, owner = self.copy_plan(state, inst, env)
        stage = tempfile.mkdtemp(prefix="mkpy-build-")
        owners: dict[str, tuple[int, int]] = {}
        try:
            for kind, src, dest, mode, _digest in plan:
                target = os.path.join(stage, dest)
                os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
                if kind == "dir":
                    os.makedirs(target, exist_ok=True)
                    os.chmod(target, mode)
                elif kind == "link":
                    os.symlink(os.readlink(src), target)
                elif kind == "tar":
                    from minikube_py.image.layers import unpack

                    os.makedirs(target, exist_ok=True)
                    with open(src, "rb") as f:
                        unpack(f, target)
                else:
                    shutil.copyfile(src, target)
                    os.chmod(target, mode)
                if owner is not None and kind != "tar":
                    owners[dest] = owner
            self.add_layer(state, stage, owners)
        finally:
            shutil.rmtree(stage)
        return "layer"

    do_add = do_copy

    def do_run(self, state: State, inst: Instruction, env: dict) -> str:
        from minikube_py.image import buildrun

        return buildrun.run_step(self, state, inst, env)

    def add_layer(self, state: State, stage: str, owners: dict[str, tuple[int, int]],
                  owner: tuple[int, int] | None = (0, 0)) -> None:
        """Tar the staged tree into a layer; owner=None keeps the files' real owners (RUN)."""
        desc, diff_id = write_layer(self.store.blobs, stage, mtime=0, owner=owner, owners=owners)
        state.layers.append(desc)
        state.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(diff_id)

    # -- COPY/ADD sources -> (kind, source path, destination inside the image, mode, content digest)
    def copy_plan(self, state: State, inst: Instruction, env: dict) -> tuple[list, tuple[int, int] | None]:
        if "from" in inst.flags:
            raise inst.error("--from (multi-stage builds) is not supported by mkpy image build")
        items = dockerfile.words(inst, env)
        if len(items) < 2:
            raise inst.error("needs at least one source and a destination")
        sources, dest = items[:-1], items[-1]
        workdir = state.run_config.get("WorkingDir") or "/"
        dest_abs = posixpath.normpath(posixpath.join(workdir, dest))
        into_dir = (dest.endswith("/") or posixpath.basename(dest) in (".", "..") or len(sources) > 1
                    or self.image_isdir(state, dest_abs))
        chmod = None
        if "chmod" in inst.flags:
            try:
                chmod = int(inst.flags["chmod"], 8)
            except ValueError:
                raise inst.error(f"--chmod={inst.flags['chmod']!r} is not an octal mode") from None
        owner = self.owner(state, inst, inst.flags["chown"]) if "chown" in inst.flags else None
        plan: list = []
        for pattern in sources:
            if re.match(r"^[a-z]+://", pattern):
                raise inst.error(f"{pattern!r}: only local files can be added (this machine is offline)")
            rel = posixpath.normpath(pattern.lstrip("/"))
            if rel.startswith(".."):
                raise inst.error(f"source {pattern!r} is outside the build context")
            matches = sorted(glob.glob(rel, root_dir=self.context, include_hidden=True)) \
                if glob.has_magic(rel) else [rel]
            matches = [m for m in matches if m == "." or not self.ignore.excluded(posixpath.normpath(m))]
            if not matches or not all(os.path.lexists(os.path.join(self.context, m)) for m in matches):
                raise inst.error(f"source {pattern!r} not found in the build context {self.context}"
                                 " (or excluded by .dockerignore)")
            for m in matches:
                src = os.path.join(self.context, m)
                real = os.path.realpath(src)
                if real != self.context and not real.startswith(self.context + os.sep):
                    raise inst.error(f"source {pattern!r} resolves outside the build context")
                if os.path.isdir(src) and not os.path.islink(src):
                    plan.append(("dir", src, dest_abs.lstrip("/"), chmod or 0o755, None))
                    self._walk_dir(src, m, dest_abs, chmod, plan)
                else:
                    target = posixpath.join(dest_abs, posixpath.basename(m)) if into_dir else dest_abs
                    if inst.cmd == "ADD" and os.path.isfile(src) and tarfile.is_tarfile(src):
                        plan.append(("tar", src, dest_abs.lstrip("/"), 0o755, _file_digest(src)))
                    else:
                        plan.append(_entry(src, target.lstrip("/"), chmod))
        if not any(entry[2] for entry in plan):
            raise inst.error("cannot copy onto the image's root directory itself")
        return [e for e in plan if e[2]], owner

    def _walk_dir(self, src: str, rel: str, dest_abs: str, chmod: int | None, plan: list) -> None:
        for dirpath, dirnames, files in os.walk(src):
            dirnames.sort()
            base = os.path.relpath(dirpath, src)
            for name in sorted(dirnames) + sorted(files):
                sub = posixpath.normpath(posixpath.join(base, name))
                ctx_rel = posixpath.normpath(posixpath.join(rel, sub))
                if self.ignore.excluded(ctx_rel):
                    if name in dirnames:
                        dirnames.remove(name)
                    continue
                full = os.path.join(dirpath, name)
                plan.append(_entry(full, posixpath.join(dest_abs, sub).lstrip("/"), chmod))

    # -- looking inside the image being built
    def _find(self, state: State, path: str) -> str | None:
        """The file at `path` in the merged image (topmost layer wins), or None if absent/whited out."""
        rel = path.strip("/")
        if not rel:
            return None
        for desc, diff_id in zip(reversed(state.layers), reversed(state.config["rootfs"]["diff_ids"]),
                                 strict=True):
            layer = self.store.unpack_layer(desc, diff_id)
            candidate = os.path.join(layer, rel)
            try:
                st = os.lstat(candidate)
            except (FileNotFoundError, NotADirectoryError):
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return None
            return candidate
        return None

    def image_isdir(self, state: State, path: str) -> bool:
        if path.strip("/") == "":
            return True
        found = self._find(state, path)
        return bool(found and os.path.isdir(found) and not os.path.islink(found))

    def owner(self, state: State, inst: Instruction, spec: str) -> tuple[int, int]:
        user, _, group = spec.partition(":")
        uid = self._lookup(state, "etc/passwd", user, inst)
        gid = self._lookup(state, "etc/group", group, inst) if group else None
        if gid is None:
            gid = uid if user.isdigit() else self._primary_gid(state, user)
        return uid, gid

    def _lookup(self, state: State, file: str, name: str, inst: Instruction) -> int:
        if name.isdigit():
            return int(name)
        path = self._find(state, file)
        if path:
            with open(path) as f:
                for line in f:
                    fields = line.strip().split(":")
                    if fields[0] == name and len(fields) > 2:
                        return int(fields[2])
        raise inst.error(f"--chown: no {name!r} in the image's /{file}")

    def _primary_gid(self, state: State, user: str) -> int:
        path = self._find(state, "etc/passwd")
        if path:
            with open(path) as f:
                for line in f:
                    fields = line.strip().split(":")
                    if fields[0] == user and len(fields) > 3:
                        return int(fields[3])
        return 0


def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _entry(src: str, dest: str, chmod: int | None) -> tuple:
    st = os.lstat(src)
    if stat.S_ISLNK(st.st_mode):
        return ("link", src, dest, 0o777, os.readlink(src))
    if stat.S_ISDIR(st.st_mode):
        return ("dir", src, dest, chmod or stat.S_IMODE(st.st_mode), None)
    return ("file", src, dest, chmod or stat.S_IMODE(st.st_mode), _file_digest(src))


# ------------------------------------------------------------------ entry point
def build(store, context: str, *, dockerfile_path: str | None = None, tags: list[str] = (),
          build_args: dict[str, str] | None = None, no_cache: bool = False, out: Out = print,
          progress: bool | None = None):
    """Build the Dockerfile in context (or dockerfile_path) and tag the result. Returns the Image."""
    if not os.path.isdir(context):
        raise ImageError(f"build context {context!r} is not a directory", reason="NotFound")
    path = dockerfile_path or os.path.join(context, "Dockerfile")
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        raise ImageError(f"no Dockerfile at {path}", reason="NotFound") from None
    names = [reference.normalize(t) for t in tags]
    instructions = dockerfile.parse(text)
    with store.in_use():
        builder = Builder(store, context, build_args or {}, no_cache, out, progress)
        state = builder.run(instructions)
        config_bytes = canonical_json(state.config)
        config_digest = store.blobs.put(config_bytes)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
                    "layers": state.layers}
        image = store.add_image(canonical_json(manifest), names)
    out(f"Successfully built {image.id[7:19]}")
    for n in names:
        out(f"Successfully tagged {n}")
    return image
