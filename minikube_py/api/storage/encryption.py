"""Encryption at rest for Secrets, like Kubernetes' EncryptionConfiguration `aesgcm` provider.

Stored bytes: b"k8s:enc:aesgcm:v1:<keyname>:" + 12-byte nonce + AES-GCM(ciphertext+tag).
The prefix lets a reader tell encrypted values from plain ones (and which key to use), so
turning encryption on later still reads old plaintext rows.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = b"k8s:enc:aesgcm:v1:"
ENCRYPTED_PREFIXES = ("/registry/secrets/",)


class EncryptionError(Exception):
    pass


def write_key_file(path: str, name: str = "key1") -> None:
    """Create a key file `name:base64(32 random bytes)` readable by root only."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{name}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}\n")


class Transformer:
    """Encrypts values of keys under ENCRYPTED_PREFIXES; passes everything else through."""

    def __init__(self, key_file: str | None) -> None:
        self.keys: dict[bytes, AESGCM] = {}
        self.primary: bytes | None = None
        if key_file:
            with open(key_file) as f:
                for line in f:
                    line = line.strip()
                    if not line or line.startswith("#"):
                        continue
                    name, _, b64 = line.partition(":")
                    key = base64.b64decode(b64)
                    if len(key) not in (16, 24, 32):
                        raise EncryptionError(f"{key_file}: key {name!r} must be 16, 24 or 32 bytes")
                    self.keys[name.encode()] = AESGCM(key)
                    self.primary = self.primary or name.encode()

    def to_storage(self, key: str, data: bytes) -> bytes:
        if self.primary is None or not key.startswith(ENCRYPTED_PREFIXES):
            return data
        nonce = os.urandom(12)
        # The storage key is authenticated data: a ciphertext copied to another key fails to open.
        sealed = self.keys[self.primary].encrypt(nonce, data, key.encode())
        return PREFIX + self.primary + b":" + nonce + sealed

    def from_storage(self, key: str, data: bytes) -> bytes:
        if not data.startswith(PREFIX):
            return data
        name, _, rest = data[len(PREFIX) :].partition(b":")
        aes = self.keys.get(name)
        if aes is None:
            raise EncryptionError(f"{key}: encrypted with unknown key {name.decode()!r}")
        return aes.decrypt(rest[:12], rest[12:], key.encode())
