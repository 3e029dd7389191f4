"""NetworkPolicy (networking.k8s.io/v1) enforced with iptables filter rules in the node namespace.

    enforcer = PolicyEnforcer(objects, netns="/run/netns/mkpy-node")   # objects: Pods, Namespaces, policies
    enforcer.sync()
    enforcer.teardown()

rules.py explains the chains; selectors.py the label matching.
"""

from minikube_py.network.policy.enforcer import PolicyEnforcer
from minikube_py.network.policy.errors import PolicyError

__all__ = ["PolicyEnforcer", "PolicyError"]
