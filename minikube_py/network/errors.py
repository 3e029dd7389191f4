"""The one error type of the network layer (CNI errors add a spec error code; see cni_types.py)."""

from __future__ import annotations


class NetworkError(Exception):
    """Something in pod or node networking could not be done; the message names what and why."""
