"""Pull and push over the OCI distribution API (v2), the protocol every registry speaks.

Pull `name:tag`:
    GET  /v2/<repo>/manifests/<tag>        Accept: manifest + index types; an index -> this platform
    GET  /v2/<repo>/blobs/<config digest>
    GET  /v2/<repo>/blobs/<layer digest>   in parallel, only for blobs the store lacks
Push:
    HEAD /v2/<repo>/blobs/<digest>         200: the registry has it, nothing is sent
    POST /v2/<repo>/blobs/uploads/         -> 202 + Location of an upload session
    PUT  <location>?digest=...             monolithic: the whole blob in one request, or
    PATCH <location> (Content-Range) ...   chunked, then PUT <location>?digest= to close it
    PUT  /v2/<repo>/manifests/<tag>

Auth: a 401 carries `WWW-Authenticate`. `Bearer realm=...,service=...,scope=...`
means "get a token from realm" (sending basic credentials there if we have
some), `Basic` means send them to the registry itself.

Every blob goes through the store's verified writer, and the image is recorded
only after all of its blobs are in: an interrupted pull leaves no tag and no
unverified blob behind.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import ssl
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from minikube_py.image import hosts, reference
from minikube_py.image.digest import INDEX_TYPES, MANIFEST_TYPES, OCI_MANIFEST, pick_platform, sha256
from minikube_py.image.errors import ImageError

ACCEPT = ", ".join([*MANIFEST_TYPES, *INDEX_TYPES])
CHUNK = 1 << 20
TIMEOUT = 30


@dataclass
class Credentials:
    username: str
    password: str

    @classmethod
    def parse(cls, text: str | None) -> Credentials | None:
        if not text:
            return None
        user, sep, password = text.partition(":")
        if not sep:
            raise ImageError("credentials must be USER:PASSWORD")
        return cls(user, password)

    def header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


def credentials_for(domain: str, explicit: Credentials | None, auth_file: str | None) -> Credentials | None:
    """--creds, else the docker-style auth file ({"auths": {host: {"auth": base64(user:pass)}}})."""
    if explicit:
        return explicit
    if not auth_file or not os.path.exists(auth_file):
        return None
    with open(auth_file) as f:
        auths = json.load(f).get("auths", {})
    entry = auths.get(domain) or auths.get(f"https://{domain}")
    if not entry:
        return None
    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    return Credentials(user, password)


@dataclass
class Stats:
    """What one pull or push moved: the benchmark and the tests read these."""

    digest: str = ""
    blobs_fetched: int = 0
    blobs_skipped: int = 0
    bytes_transferred: int = 0
    endpoint: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, fetched: bool, nbytes: int) -> None:
        with self._lock:
            if fetched:
                self.blobs_fetched += 1
                self.bytes_transferred += nbytes
            else:
                self.blobs_skipped += 1


# ------------------------------------------------------------------ HTTP with auth
_PARAM = re.compile(r'(\w+)="([^"]*)"')


def _registry_answer(body: bytes) -> str:
    try:
        errors = json.loads(body).get("errors") or []
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or body[:200].decode()
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace").strip()


class Session:
    """One registry endpoint and one repository, with the credentials and token for it."""

    def __init__(self, endpoint: hosts.Endpoint, repo: str, creds: Credentials | None,
                 actions: str = "pull", domain: str = "") -> None:
        self.endpoint = endpoint
        self.repo = repo
        self.name = f"{domain}/{repo}" if domain else repo
        self.creds = creds
        self.actions = actions
        self.auth: str | None = None
        self._lock = threading.Lock()
        handlers: list[urllib.request.BaseHandler] = []
        if endpoint.url.startswith("https://"):
            ctx = ssl.create_default_context(cafile=endpoint.ca)
            if endpoint.skip_verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self.ssl = ctx
            handlers.append(urllib.request.HTTPSHandler(context=ctx))
        else:
            self.ssl = None
        self.opener = urllib.request.build_opener(*handlers)

    def url(self, path: str) -> str:
        return urllib.parse.urljoin(self.endpoint.url + "/", path.lstrip("/")) if not path.startswith(
            ("http://", "https://")) else path

    def request(self, method: str, path: str, headers: dict | None = None, body=None,
                what: str = "") -> urllib.response.addinfourl:
        """One HTTP request; on 401 authenticate once and retry. Errors become ImageError."""
        for attempt in (1, 2):
            req = urllib.request.Request(self.url(path), data=body, method=method,
                                         headers={**self.endpoint.headers, **(headers or {})})
            if self.auth:
                req.add_header("Authorization", self.auth)
            try:
                return self.opener.open(req, timeout=TIMEOUT)
            except urllib.error.HTTPError as exc:
                answer = exc.read()
                challenge = exc.headers.get("WWW-Authenticate")
                if exc.code == 401 and attempt == 1 and self._authenticate(challenge):
                    if hasattr(body, "seek"):
                        body.seek(0)
                    continue
                raise self._error(exc.code, answer, what or f"{method} {path}") from None
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise ImageError(f"registry {self.endpoint.url} is unreachable: {reason}",
                                 reason="Unreachable") from None
        raise AssertionError("unreachable")

    def _error(self, code: int, answer: bytes, what: str) -> ImageError:
        text = _registry_answer(answer)
        where = f"{self.endpoint.url} answered {code}"
        if code in (401, 403):
            hint = "" if self.creds else " (no credentials given: --creds USER:PASSWORD)"
            return ImageError(f"unauthorized: {what}: {where}: {text}{hint}",
                              reason="Unauthorized")
        if code == 404:
            return ImageError(f"not found: {what}: {where}: {text}", reason="NotFound")
        return ImageError(f"registry error: {what}: {where}: {text}", reason="Registry")

    def _authenticate(self, challenge: str | None) -> bool:
        if not challenge:
            return False
        scheme, _, rest = challenge.partition(" ")
        params = dict(_PARAM.findall(rest))
        with self._lock:
            if scheme.lower() == "basic":
                if not self.creds:
                    return False
                self.auth = self.creds.header()
                return True
            if scheme.lower() != "bearer" or "realm" not in params:
                return False
            query = {"service": params.get("service", "")}
            query["scope"] = params.get("scope") or f"repository:{self.repo}:{self.actions}"
            if self.actions != "pull":
                query["scope"] = f"repository:{self.repo}:{self.actions}"
            url = params["realm"] + ("&" if "?" in params["realm"] else "?") + urllib.parse.urlencode(query)
            req = urllib.request.Request(url)
            if self.creds:
                req.add_header("Authorization", self.creds.header())
            try:
                with self.opener.open(req, timeout=TIMEOUT) as resp:
                    answer = json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                raise ImageError(f"unauthorized: token server {params['realm']} answered {exc.code}: "
                                 f"{_registry_answer(exc.read())}", reason="Unauthorized") from None
            except (urllib.error.URLError, OSError) as exc:
                raise ImageError(f"token server {params['realm']} is unreachable: {exc}",
                                 reason="Unreachable") from None
            token = answer.get("token") or answer.get("access_token")
            if not token:
                return False
            self.auth = f"Bearer {token}"
            return True


def _sessions(store, ref: reference.Reference, capability: str, creds: Credentials | None,
              hosts_dir: str | None) -> list[Session]:
    found = hosts.endpoints(hosts_dir or store.hosts_dir, ref.domain, capability)
    user = credentials_for(ref.domain, creds, os.environ.get("MKPY_AUTH_FILE")
                           or os.path.join(store.root, "auth.json"))
    actions = "pull,push" if capability == "push" else "pull"
    return [Session(e, ref.path, user, actions, ref.domain) for e in found]


# ------------------------------------------------------------------ progress
class _Progress:
    """rich progress bars on a terminal; silence otherwise (logs, tests, the kubelet)."""

    def __init__(self, enabled: bool | None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                TransferSpeedColumn(), console=Console(stderr=True), transient=False)

    def __enter__(self) -> _Progress:
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.stop()

    def task(self, name: str, total: int | None) -> int | None:
        return self.bar.add_task(name, total=total) if self.bar else None

    def advance(self, task: int | None, n: int) -> None:
        if self.bar and task is not None:
            self.bar.advance(task, n)

    def done(self, task: int | None, text: str) -> None:
        if self.bar and task is not None:
            self.bar.update(task, description=text)


# ------------------------------------------------------------------ pull
def _get_manifest(session: Session, ref: str, want: str | None) -> tuple[bytes, str]:
    with session.request("GET", f"/v2/{session.repo}/manifests/{ref}", {"Accept": ACCEPT},
                         what=f"manifest {session.name}{'@' if ':' in ref else ':'}{ref}") as resp:
        body = resp.read()
        header = resp.headers.get("Docker-Content-Digest")
        media = (resp.headers.get("Content-Type") or "").split(";")[0]
    digest = sha256(body)
    expected = want or header
    if expected and expected != digest:
        raise ImageError(f"digest mismatch: manifest {session.name} {ref} from {session.endpoint.url} "
                         f"hashes to {digest}, expected {expected}", reason="DigestMismatch")
    if not media or media == "application/json":
        media = json.loads(body).get("mediaType", "")
    return body, media


def _fetch_blob(session: Session, store, desc: dict, progress: _Progress, stats: Stats, label: str) -> None:
    digest = desc["digest"]
    if store.blobs.has(digest):
        stats.add(False, 0)
        return
    task = progress.task(f"{label} {digest[7:19]}", desc.get("size"))
    with session.request("GET", f"/v2/{session.repo}/blobs/{digest}", what=f"blob {digest}") as resp, \
            store.blobs.writer(digest, desc.get("size")) as w:
        try:
            while chunk := resp.read(CHUNK):
                w.write(chunk)
                progress.advance(task, len(chunk))
            if getattr(resp, "length", None):      # bytes the server promised and never sent
                raise http.client.IncompleteRead(b"", resp.length)
        except (http.client.HTTPException, OSError) as exc:
            # The writer is discarded on the way out: a cut-off download never becomes a blob.
            raise ImageError(f"connection to {session.endpoint.url} lost while fetching blob {digest} "
                             f"after {w.size} bytes: {exc!r}", reason="Unreachable") from None
        w.commit()
    stats.add(True, w.size)
    progress.done(task, f"{label} {digest[7:19]} done")


def pull(store, ref: str, *, creds: Credentials | None = None, hosts_dir: str | None = None,
         progress: bool | None = None, parallel: int = 4, unpack: bool = True):
    """Pull ref into the store (tagging it) and unpack its layers. Returns the Image (with .stats)."""
    r = reference.parse(ref)
    errors: list[ImageError] = []
    for session in _sessions(store, r, "pull", creds, hosts_dir):
        try:
            return _pull_from(store, session, r, progress, parallel, unpack)
        except ImageError as exc:
            # A mirror that is down or lacks the image: try the next host, as containerd does.
            if exc.reason not in ("Unreachable", "NotFound"):
                raise
            errors.append(exc)
    raise errors[-1]


def _pull_from(store, session: Session, r: reference.Reference, progress: bool | None,
               parallel: int, unpack: bool):
    stats = Stats(endpoint=session.endpoint.url)
    body, media = _get_manifest(session, r.digest or r.tag, r.digest)
    with store.in_use():
        if media in INDEX_TYPES:
            desc = pick_platform(json.loads(body))
            body, media = _get_manifest(session, desc["digest"], desc["digest"])
        if media not in MANIFEST_TYPES:
            raise ImageError(f"{r}: unsupported manifest type {media!r} (schema 1 images are not supported)")
        manifest = json.loads(body)
        with _Progress(progress) as bars:
            _fetch_blob(session, store, manifest["config"], bars, stats, "config")
            config = json.loads(store.blobs.read(manifest["config"]["digest"]))
            diff_ids = (config.get("rootfs") or {}).get("diff_ids", [])
            layers = manifest.get("layers", [])
            if len(diff_ids) != len(layers):
                raise ImageError(f"{r}: config lists {len(diff_ids)} layers, manifest {len(layers)}")

            def one(i: int) -> None:
                _fetch_blob(session, store, layers[i], bars, stats, f"layer {i + 1}/{len(layers)}")
                if unpack:
                    store.unpack_layer(layers[i], diff_ids[i])

            with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(layers) or 1))) as pool:
                for future in [pool.submit(one, i) for i in range(len(layers))]:
                    future.result()
        tags = [str(r)] if r.tag else []
        image = store.add_image(body, tags, sha256(body))
    stats.digest = image.digest
    image.stats = stats
    return image


# ------------------------------------------------------------------ push
class _CountingReader:
    def __init__(self, f: BinaryIO, progress: _Progress, task: int | None, limit: int | None = None) -> None:
        self.f, self.progress, self.task, self.left = f, progress, task, limit

    def read(self, n: int = -1) -> bytes:
        if self.left is not None:
            n = self.left if n < 0 else min(n, self.left)
        data = self.f.read(n)
        if self.left is not None:
            self.left -= len(data)
        self.progress.advance(self.task, len(data))
        return data


def _with_digest(location: str, digest: str) -> str:
    return location + ("&" if "?" in location else "?") + urllib.parse.urlencode({"digest": digest})


def _upload(session: Session, store, desc: dict, progress: _Progress, stats: Stats,
            chunk_size: int | None) -> None:
    digest, size = desc["digest"], store.blobs.size(desc["digest"])
    try:
        session.request("HEAD", f"/v2/{session.repo}/blobs/{digest}", what=f"blob {digest}").close()
        stats.add(False, 0)     # the registry has it: never send it again
        return
    except ImageError as exc:
        if exc.reason != "NotFound":
            raise
    with session.request("POST", f"/v2/{session.repo}/blobs/uploads/", {"Content-Length": "0"}, b"",
                         what="start upload") as resp:
        location = session.url(resp.headers["Location"])
    task = progress.task(f"push {digest[7:19]}", size)
    with store.blobs.open(digest) as f:
        if not chunk_size or size <= chunk_size:
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            session.request("PUT", _with_digest(location, digest), headers,
                            _CountingReader(f, progress, task), what=f"upload {digest}").close()
        else:
            offset = 0
            while offset < size:
                n = min(chunk_size, size - offset)
                headers = {"Content-Type": "application/octet-stream", "Content-Length": str(n),
                           "Content-Range": f"{offset}-{offset + n - 1}"}
                what = f"upload chunk {digest}"
                with session.request("PATCH", location, headers, f.read(n), what=what) as r:
                    location = session.url(r.headers["Location"])
                progress.advance(task, n)
                offset += n
            session.request("PUT", _with_digest(location, digest), {"Content-Length": "0"}, b"",
                            what=f"finish upload {digest}").close()
    stats.add(True, size)


def push(store, ref: str, *, target: str | None = None, creds: Credentials | None = None,
         hosts_dir: str | None = None, progress: bool | None = None, chunk_size: int | None = None,
         parallel: int = 4) -> Stats:
    """Push a stored image to its registry (or to `target`). Blobs the registry has are not sent."""
    image = store.resolve(ref)
    r = reference.parse(target or ref)
    if not r.tag:
        raise ImageError(f"push: {r} needs a tag")
    sessions = _sessions(store, r, "push", creds, hosts_dir)
    session = sessions[0]
    stats = Stats(endpoint=session.endpoint.url)
    with _Progress(progress) as bars, ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = [pool.submit(_upload, session, store, d, bars, stats, chunk_size) for d in image.layers]
        for future in futures:
            future.result()
        _upload(session, store, image.manifest["config"], bars, stats, chunk_size)
    body = store.blobs.read(image.digest)
    media = image.manifest.get("mediaType") or OCI_MANIFEST
    with session.request("PUT", f"/v2/{session.repo}/manifests/{r.tag}", {"Content-Type": media}, body,
                         what=f"manifest {r}") as resp:
        answered = resp.headers.get("Docker-Content-Digest")
    if answered and answered != image.digest:
        raise ImageError(f"digest mismatch: registry stored the manifest as {answered}, "
                         f"expected {image.digest}", reason="DigestMismatch")
    stats.digest = image.digest
    return stats
