"""The scheduler: filters nodes, scores the feasible ones, binds the pod (kube-scheduler).

`plugins.py` holds the rules (and kube-scheduler's messages), `scheduler.py` the loop.
"""

from .scheduler import Scheduler

__all__ = ["Scheduler"]
