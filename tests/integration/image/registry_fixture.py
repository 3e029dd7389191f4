"""A real registry for the tests: Debian's docker-registry on 127.0.0.1, started and stopped here.

Options: TLS with a CA made for the test, htpasswd basic auth, or bearer tokens
from a small token server (JWT signed RS256 with the signing certificate in
the x5c header, which the registry checks against its rootcertbundle).
"""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import warnings

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt  # bcrypt for htpasswd via libcrypt; removed in 3.13, fine on this 3.11 venv

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_cert(d: str, name: str, ca: tuple | None = None) -> tuple[str, str, object, object]:
    """A key + certificate for 127.0.0.1/myregistry.com, self-signed (a CA) or signed by ca=(cert, key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"mkpyt-img {name}")])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(ca[0].subject if ca else subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=1)))
    if ca:
        import ipaddress

        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("myregistry.com"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    cert = builder.sign(ca[1] if ca else key, hashes.SHA256())
    cert_path, key_path = os.path.join(d, f"{name}.pem"), os.path.join(d, f"{name}.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    return cert_path, key_path, cert, key


class TokenServer:
    """The `realm` of a bearer challenge: checks basic credentials, hands out signed JWTs."""

    def __init__(self, d: str, users: dict[str, str], service: str, issuer: str) -> None:
        self.cert_path, _, self.cert, self.key = make_cert(d, "token-signer")
        self.users, self.service, self.issuer = users, service, issuer
        self.requests: list[dict] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(self.path).query))
                user = server.check(self.headers.get("Authorization"))
                server.requests.append({"user": user, **query})
                if user is False:
                    self.send_response(401)
                    self.end_headers()
                    self.wfile.write(b'{"details":"bad credentials"}')
                    return
                body = json.dumps({"token": server.token(user, query.get("scope", ""))}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def check(self, header: str | None):
        if not header:
            return None                                     # anonymous: a token with no rights
        user, _, password = base64.b64decode(header.split(" ", 1)[1]).decode().partition(":")
        return user if self.users.get(user) == password else False

    def token(self, user: str | None, scope: str) -> str:
        access = []
        if user and scope:
            _type, name, actions = scope.split(":", 2)
            access.append({"type": "repository", "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256",
                  "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()]}
        claims = {"iss": self.issuer, "sub": user or "", "aud": self.service, "exp": now + 600,
                  "nbf": now - 60, "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(sig)}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Registry:
    def __init__(self, d: str, tls: bool = False, auth: str | None = None,
                 users: dict[str, str] | None = None) -> None:
        self.dir = d
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"{'https' if tls else 'http'}://{self.host}"
        self.data = os.path.join(d, "data")
        self.users = users or {"mkpyt": "s3cret"}
        self.ca = None
        self.token_server: TokenServer | None = None
        lines = ["version: 0.1", "log:", "  level: error", "  accesslog:", "    disabled: true",
                 "storage:", "  filesystem:", f"    rootdirectory: {self.data}", "  delete:",
                 "    enabled: true", "http:", f"  addr: {self.host}", "  secret: mkpyt-img"]
        if tls:
            self.ca, _, ca_cert, ca_key = make_cert(d, "ca")
            cert, key, _, _ = make_cert(d, "server", (ca_cert, ca_key))
            lines += ["  tls:", f"    certificate: {cert}", f"    key: {key}"]
        if auth == "htpasswd":
            path = os.path.join(d, "htpasswd")
            with open(path, "w") as f:
                for user, password in self.users.items():
                    # bcrypt at cost 4: the registry checks it on every request
                    salt = crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)
                    f.write(f"{user}:{crypt.crypt(password, salt)}\n")
            lines += ["auth:", "  htpasswd:", "    realm: mkpyt-realm", f"    path: {path}"]
        elif auth == "token":
            self.token_server = TokenServer(d, self.users, "mkpyt-registry", "mkpyt-issuer")
            lines += ["auth:", "  token:", f"    realm: {self.token_server.url}",
                      "    service: mkpyt-registry", "    issuer: mkpyt-issuer",
                      f"    rootcertbundle: {self.token_server.cert_path}"]
        self.config = os.path.join(d, "config.yml")
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self) -> Registry:
        self.log = open(os.path.join(self.dir, "registry.log"), "wb")
        self.proc = subprocess.Popen([REGISTRY, "serve", self.config], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {open(self.log.name).read()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start listening")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.token_server:
            self.token_server.stop()
        self.log.close()

    def blob_path(self, digest: str) -> str:
        hexd = digest.split(":", 1)[1]
        return os.path.join(self.data, "docker/registry/v2/blobs/sha256", hexd[:2], hexd, "data")
