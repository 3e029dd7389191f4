"""Bootstrap join tokens (kubeadm's format), kept as Secrets in kube-system."""

from __future__ import annotations

from typing import Any

from minikube_py.api import auth


def create_token(client: Any, ttl_seconds: int = 86400, description: str = "", token: str = "") -> str:
    """Store a bootstrap token (random unless given) and return `<id>.<secret>`."""
    token = token or auth.new_token()
    client.create(auth.bootstrap_token_secret(token, ttl_seconds, description), namespace="kube-system")
    return token


def list_tokens(client: Any) -> list[dict[str, str]]:
    out = []
    for s in client.list("secrets", namespace="kube-system")["items"]:
        if s.get("type") != auth.BOOTSTRAP_TYPE:
            continue
        f = auth.secret_field
        out.append(
            {
                "id": f(s, "token-id"),
                "expiration": f(s, "expiration") or "<forever>",
                "description": f(s, "description"),
            }
        )
    return out


def delete_token(client: Any, token_or_id: str) -> None:
    token_id = token_or_id.split(".", 1)[0]
    client.delete("secrets", auth.BOOTSTRAP_PREFIX + token_id, namespace="kube-system")
