"""The node agent (kubelet): runs Kubernetes Pod objects on this machine. Start at kubelet.py.

The loop and its doors:
  kubelet          the sync loop: sources -> relist (PLEG) -> pod workers -> status; teardown
  sources          static pods from --pod-manifest-path
  apiclient        the API side: Node, Lease, pods bound here (Informer), status, events, mirrors
  cri              RuntimeService (the runtime's RuntimeClient) and ImageService (the image store)
  sandbox          pod netns + infra container, /etc/hosts, resolv.conf
  probe_executors  exec / HTTP / TCP probes for real (HTTP and TCP from inside the pod netns)
  server           /metrics, /stats/summary, /pods, /containerLogs, /exec, /portForward
  cli              `mkpy kubelet` (run, pods, logs, top)
Pure logic (no root, unit-tested with fakes):
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
  volumes    emptyDir/hostPath/configMap/secret/projected/downwardAPI/PVC -> host steps + mounts
"""
