"""What an object must look like: defaults (defaulting.py), rules (validation.py), metadata (meta.py)."""

from .defaulting import apply_defaults
from .validation import validate, validate_update

__all__ = ["apply_defaults", "validate", "validate_update"]
