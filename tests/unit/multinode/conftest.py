"""Reuse the controllers' in-memory API harness for the multi-node loops."""

from unit.controllers.conftest import api, clock, harness  # noqa: F401
