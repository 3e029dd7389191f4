"""Controllers: reconcile loops driven by watches, like kube-controller-manager.

Each loop reads the cluster through informers (a cache filled by list + watch),
puts the keys of objects that changed on a work queue, and for each key compares
what is (pods, replica sets, endpoints ...) with what should be, and writes the
difference through the API. Start with `framework.py`, then `replicaset.py`.
"""
