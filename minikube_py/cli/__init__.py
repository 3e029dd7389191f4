"""The `mkpy` command line. Each layer adds its own command group (see main.py)."""
