"""Many machines (the single-node `mkpy up` lives in minikube_py/cluster): joining a node to a control plane, and the commands that manage nodes.

join.py     the node side of `mkpy node join` (CA discovery by hash, token exchange)
tokens.py   bootstrap join tokens as kube-system Secrets (`mkpy token ...`)
drain.py    cordon, uncordon, drain (evictions through pods/eviction)
"""
