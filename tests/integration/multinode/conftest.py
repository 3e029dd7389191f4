"""A TLS API server on 127.0.0.2 (our stand-in for a control plane's LAN address) and its CA."""

from __future__ import annotations

import pytest

from minikube_py.api import auth
from minikube_py.api.storage.encryption import write_key_file
from minikube_py.api.testing import ThreadedApiServer


@pytest.fixture
def secure_api(tmp_path):
    ca, cert, key = auth.ensure_serving_cert(str(tmp_path / "pki"), hosts=("127.0.0.2",))
    key_file = str(tmp_path / "enc.key")
    write_key_file(key_file)
    server = ThreadedApiServer(
        f"sqlite://{tmp_path}/state.db",
        token="mkpyt-mn-admin",
        host="127.0.0.2",
        tls_cert=cert,
        tls_key=key,
        ca_file=ca,
        encryption_key_file=key_file,
    ).start()
    server.ca_file = ca  # type: ignore[attr-defined]
    with open(ca, "rb") as f:
        server.ca_pem = f.read()  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.stop()
