"""The node agent (kubelet): runs Kubernetes Pod objects on this machine.

Pure-logic modules (no root, unit-tested with fakes):
  quantity   "100m", "128Mi" -> exact numbers
  podspec    load + default + validate v1 Pod objects (errors name the field path)
  command    command/args vs image Entrypoint/Cmd; env, $(VAR) expansion, valueFrom, envFrom
  pullpolicy imagePullPolicy defaults and the pull decision
  qos        QoS class, oom_score_adj, requests/limits -> OCI linux.resources, cgroup paths
  backoff    kubelet's per-container exponential back-off (CrashLoopBackOff, ImagePullBackOff)
  restart    restartPolicy decisions
  prober     liveness/readiness/startup probe workers with injectable executors
  status     pod phase, conditions, containerStatuses, events
  ociconfig  the OCI config.json for one container
  volumes    emptyDir/hostPath/configMap/secret/projected/downwardAPI -> host steps + mounts
"""
