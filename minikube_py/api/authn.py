"""Who is asking (authentication) and may they (a small, fixed authorization).

Three kinds of bearer token, checked in this order:
  static tokens   the token file (`mkpy up` writes the admin's)        -> admin, system:masters
  bootstrap       Secret kube-system/bootstrap-token-<id> (kubeadm's)   -> system:bootstrap:<id>
  node            Secret kube-system/node-credential-<id> (from a join) -> system:node:<name>
A bootstrap token may only do one thing: exchange itself for a node credential at
POST /mkpy/join (see bootstrap.py). Nodes may do anything but read kube-system's Secrets
(where every other node's credential and the join tokens live).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from dataclasses import dataclass

from . import auth
from .errors import ApiError
from .resources import lookup


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]

    def is_in(self, group: str) -> bool:
        return group in self.groups


ADMIN = User("admin", ("system:masters", "system:authenticated"))
# The unix socket is reachable only by root on the control-plane machine.
LOCAL_ROOT = User("system:local-root", ("system:masters", "system:authenticated"))

JOIN_PATH = "/mkpy/join"
CLUSTER_INFO_PATH = "/mkpy/cluster-info"
CACHE_SECONDS = 10.0
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version", CLUSTER_INFO_PATH})


class Authenticator:
    def __init__(self, registry, static_tokens: list[str] | None = None) -> None:
        self.registry = registry
        self.static = tuple(static_tokens or ())
        # token -> (user, monotonic expiry): a kubelet's every request would otherwise cost
        # two store reads. A revoked credential keeps working for at most CACHE_SECONDS.
        self._cache: dict[str, tuple[User, float]] = {}

    async def authenticate(self, token: str) -> User | None:
        if not token:
            return None
        if any(hmac.compare_digest(token, t) for t in self.static):
            return ADMIN
        hit = self._cache.get(token)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        user = await self._lookup(token)
        if user is not None:
            if len(self._cache) > 1000:
                self._cache.clear()
            self._cache[token] = (user, time.monotonic() + CACHE_SECONDS)
        return user

    def forget(self) -> None:
        """Drop cached answers (a join just revoked a node's old credential)."""
        self._cache.clear()

    async def _lookup(self, token: str) -> User | None:
        try:
            token_id, token_secret = auth.split_token(token)
        except auth.TokenError:
            return None
        secret = await self._secret(auth.BOOTSTRAP_PREFIX + token_id)
        if secret is not None and secret.get("type") == auth.BOOTSTRAP_TYPE:
            return self._bootstrap_user(secret, token_id, token_secret)
        secret = await self._secret(auth.NODE_CREDENTIAL_PREFIX + token_id)
        if secret is not None and secret.get("type") == auth.NODE_CREDENTIAL_TYPE:
            want = auth.secret_field(secret, "token-sha256")
            got = hashlib.sha256(token_secret.encode()).hexdigest()
            if want and hmac.compare_digest(want, got):
                node = auth.secret_field(secret, "node-name")
                return User(f"system:node:{node}", (auth.NODES_GROUP, "system:authenticated"))
        return None

    async def _secret(self, name: str) -> dict | None:
        try:
            return await self.registry.get(lookup("secrets"), "kube-system", name)
        except ApiError as e:
            if e.code == 404:
                return None
            raise

    @staticmethod
    def _bootstrap_user(secret: dict, token_id: str, token_secret: str) -> User | None:
        f = auth.secret_field
        if not hmac.compare_digest(f(secret, "token-secret"), token_secret):
            return None
        if f(secret, "usage-bootstrap-authentication") != "true":
            return None
        expiration = f(secret, "expiration")
        if expiration:
            until = dt.datetime.fromisoformat(expiration.replace("Z", "+00:00"))
            if until <= dt.datetime.now(dt.UTC):
                return None
        extra = tuple(g for g in f(secret, "auth-extra-groups").split(",") if g)
        return User(f"system:bootstrap:{token_id}", (auth.BOOTSTRAP_GROUP, *extra, "system:authenticated"))


def authorize(user: User, method: str, path: str) -> None:
    """Raise Forbidden unless `user` may do `method path` (a fixed policy, not RBAC)."""
    if user.is_in("system:masters"):
        return
    if user.is_in(auth.BOOTSTRAP_GROUP):
        if (method, path) == ("POST", JOIN_PATH):
            return
        raise ApiError(
            "Forbidden", f"{user.name} may only POST {JOIN_PATH} (a bootstrap token joins, nothing else)"
        )
    if user.is_in(auth.NODES_GROUP):
        if path.startswith("/api/v1/namespaces/kube-system/secrets") or path.startswith("/api/v1/secrets"):
            raise ApiError("Forbidden", f'secrets in kube-system are forbidden: User "{user.name}"')
        return
    raise ApiError("Forbidden", f'User "{user.name}" cannot {method} {path}')
