"""Many machines: joining a node to a control plane, and the commands that manage nodes.
(The single-node `mkpy up` these build on lives in minikube_py/cluster.)

join.py     the node side of `mkpy node join` (CA discovery by hash, token exchange)
tokens.py   bootstrap join tokens as kube-system Secrets (`mkpy token ...`)
drain.py    cordon, uncordon, drain (evictions through pods/eviction)
"""
