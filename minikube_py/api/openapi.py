"""OpenAPI documents (kubectl downloads them for client-side validation and `explain`)."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    """Nothing yet: kubectl works with `--validate=false` meanwhile."""
