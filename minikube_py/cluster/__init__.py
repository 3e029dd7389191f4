"""A single-node cluster in one command (`mkpy up` / `mkpy down` / `mkpy status`), k3s-style.

config.py     where everything lives (one state root, one run root, one log dir)
supervisor.py the daemon that starts each component as its own process and restarts it
lifecycle.py  up (start the supervisor, wait for a Ready node), down (remove every trace), status
registry.py   a local docker-registry under the state root, and the hosts.toml mirror for a name
"""
