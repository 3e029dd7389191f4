"""The kubelet's own HTTP endpoint (kubelet serves :10250; here 127.0.0.1 and a port you pick).

  GET /healthz                                   "ok"
  GET /pods                                      the pods this node runs, with status (PodList)
  GET /stats/summary                             node/pod CPU and memory from cgroups (for metrics-server)
  GET /metrics                                   the same, and pod/container counts, as Prometheus text
  GET /containerLogs/{ns}/{pod}/{container}      the container's log (?previous=true, ?tailLines=N)
  GET /exec/{ns}/{pod}/{container}?command=..    a WebSocket speaking Kubernetes' channel protocol
                                                 (byte 0 of each message: 0 stdin, 1 stdout, 2 stderr,
                                                 3 the final Status), what `kubectl exec` reaches
  GET /attach/{ns}/{pod}/{container}             the same channels joined to the running container's
                                                 own stdio: what `kubectl attach` reaches
  GET /portForward/{ns}/{pod}?ports=P            a WebSocket per port: channel 0 data, 1 errors

Usage comes from the cgroups the kubelet made: kubepods/.../pod<uid> for a pod,
.../pod<uid>/<container id> for a container (memory usage and CPU time in ns).
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from typing import Any

from aiohttp import web

from minikube_py.kubelet import ociconfig, qos, streaming
from minikube_py.runtime.errors import ContainerError


def summary(kubelet: Any) -> dict:
    """The shape of kubelet's /stats/summary (a subset: cpu and memory)."""
    import psutil

    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    vm = psutil.virtual_memory()
    cpu = psutil.cpu_times()
    node = {"nodeName": kubelet.cfg.node_name,
            "cpu": {"time": now, "usageCoreNanoSeconds": int((cpu.user + cpu.system) * 1e9)},
            "memory": {"time": now, "workingSetBytes": vm.total - vm.available,
                       "availableBytes": vm.available}}
    pods = []
    for rec in list(kubelet.pods.values()):
        pod = rec.pod
        parent = qos.pod_cgroup_parent(pod)
        ps = qos.cgroup_stats(parent)
        containers = []
        for st in (rec.status.get("containerStatuses") or []):
            if "running" not in st.get("state", {}):
                continue
            cid = st.get("containerID", "").split("://")[-1]
            cs = qos.cgroup_stats(f"{parent}/{cid}")
            containers.append({"name": st["name"], "startTime": st["state"]["running"].get("startedAt"),
                               "cpu": {"time": now, "usageCoreNanoSeconds": cs.get("cpu_usage_ns", 0)},
                               "memory": {"time": now, "workingSetBytes": cs.get("memory_usage", 0)}})
        m = pod["metadata"]
        ref = {"name": m["name"], "namespace": m.get("namespace", "default"), "uid": m["uid"]}
        pods.append({"podRef": ref,
                     "startTime": rec.status.get("startTime"), "containers": containers,
                     "cpu": {"time": now, "usageCoreNanoSeconds": ps.get("cpu_usage_ns", 0)},
                     "memory": {"time": now, "workingSetBytes": ps.get("memory_usage", 0)}})
    return {"node": node, "pods": pods}


def prometheus(kubelet: Any) -> str:
    s = summary(kubelet)
    lines = ["# HELP kubelet_running_pods Number of pods that have a running pod sandbox",
             "# TYPE kubelet_running_pods gauge",
             f"kubelet_running_pods {sum(1 for r in kubelet.pods.values() if r.sandbox.infra_id)}",
             "# HELP kubelet_running_containers Number of containers currently running",
             "# TYPE kubelet_running_containers gauge",
             f'kubelet_running_containers{{container_state="running"}} '
             f"{sum(len(p['containers']) for p in s['pods'])}",
             "# HELP node_memory_working_set_bytes Current working set of the node in bytes",
             "# TYPE node_memory_working_set_bytes gauge",
             f"node_memory_working_set_bytes {s['node']['memory']['workingSetBytes']}",
             "# HELP node_cpu_usage_seconds_total Cumulative cpu time consumed by the node in core-seconds",
             "# TYPE node_cpu_usage_seconds_total counter",
             f"node_cpu_usage_seconds_total {s['node']['cpu']['usageCoreNanoSeconds'] / 1e9:.9f}",
             "# HELP pod_memory_working_set_bytes Current working set of the pod in bytes",
             "# TYPE pod_memory_working_set_bytes gauge"]
    for p in s["pods"]:
        ref = p["podRef"]
        lines.append(f'pod_memory_working_set_bytes{{namespace="{ref["namespace"]}",pod="{ref["name"]}"}} '
                     f'{p["memory"]["workingSetBytes"]}')
    lines += ["# HELP pod_cpu_usage_seconds_total Cumulative cpu time consumed by the pod in core-seconds",
              "# TYPE pod_cpu_usage_seconds_total counter"]
    for p in s["pods"]:
        ref = p["podRef"]
        lines.append(f'pod_cpu_usage_seconds_total{{namespace="{ref["namespace"]}",pod="{ref["name"]}"}} '
                     f'{p["cpu"]["usageCoreNanoSeconds"] / 1e9:.9f}')
    lines += ["# HELP container_memory_working_set_bytes Current working set of the container in bytes",
              "# TYPE container_memory_working_set_bytes gauge"]
    for p in s["pods"]:
        ref = p["podRef"]
        for c in p["containers"]:
            lines.append(f'container_memory_working_set_bytes{{container="{c["name"]}",namespace="{ref["namespace"]}",'
                         f'pod="{ref["name"]}"}} {c["memory"]["workingSetBytes"]}')
    lines += ["# HELP kube_pod_container_status_restarts_total Restarts of each container",
              "# TYPE kube_pod_container_status_restarts_total counter"]
    for rec in list(kubelet.pods.values()):
        m = rec.pod["metadata"]
        for st in rec.status.get("containerStatuses") or []:
            lines.append(f'kube_pod_container_status_restarts_total{{container="{st["name"]}",'
                         f'namespace="{m.get("namespace")}",pod="{m["name"]}"}} {st.get("restartCount", 0)}')
    return "\n".join(lines) + "\n"


def _find(kubelet: Any, ns: str, name: str) -> Any:
    for rec in list(kubelet.pods.values()):
        m = rec.pod["metadata"]
        if m["name"] == name and m.get("namespace", "default") == ns:
            return rec
    return None


def make_app(kubelet: Any) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def pods(request: web.Request) -> web.Response:
        items = [dict(r.pod, status=r.status) for r in list(kubelet.pods.values())]
        return web.json_response({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(await asyncio.to_thread(summary, kubelet))

    async def metrics(request: web.Request) -> web.Response:
        text = await asyncio.to_thread(prometheus, kubelet)
        return web.Response(text=text, content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def logs(request: web.Request) -> web.Response:
        ns, name, container = (request.match_info[k] for k in ("ns", "pod", "container"))
        rec = _find(kubelet, ns, name)
        if rec is None:
            raise web.HTTPNotFound(text=f'pods "{name}" not found')
        st = next((s for s in rec.status.get("containerStatuses") or [] if s["name"] == container), None)
        if st is None:
            raise web.HTTPBadRequest(text=f"container {container} is not valid for pod {name}")
        attempt = int(st.get("restartCount", 0)) - (1 if request.query.get("previous") == "true" else 0)
        path = ociconfig.container_log_path(rec.pod, container, attempt, kubelet.cfg.log_root)
        if attempt < 0 or not os.path.exists(path):
            raise web.HTTPBadRequest(
                text=f'previous terminated container "{container}" in pod "{name}" not found')
        if request.query.get("follow") == "true" and attempt == int(st.get("restartCount", 0)):

            def running() -> bool:  # follow until this attempt of the container stops
                now = _find(kubelet, ns, name)
                cur = next((s for s in (now.status.get("containerStatuses") or []) if s["name"] == container),
                           None) if now else None
                return bool(cur and "running" in cur.get("state", {})
                            and cur.get("restartCount", 0) == st.get("restartCount", 0))

            return await streaming.serve_log_file(request, path, running)

        def read() -> str:
            with open(path) as f:
                lines = [ln.rstrip("\n").split(" ", 3) for ln in f]
            out = "".join((p[3] if len(p) == 4 else "") + ("\n" if p[2:3] == ["F"] else "") for p in lines)
            tail = request.query.get("tailLines")
            if tail and tail.isdigit():
                out = "".join(out.splitlines(keepends=True)[-int(tail):])
            return out

        return web.Response(text=await asyncio.to_thread(read))

    async def exec_(request: web.Request) -> web.StreamResponse:
        ns, name, container = (request.match_info[k] for k in ("ns", "pod", "container"))
        rec = _find(kubelet, ns, name)
        st = next((s for s in (rec.status.get("containerStatuses") or []) if s["name"] == container), None) \
            if rec else None
        if st is None or "running" not in st.get("state", {}):
            raise web.HTTPNotFound(text=f"container {container} of pod {ns}/{name} is not running")
        argv = request.query.getall("command", [])
        if not argv:
            raise web.HTTPBadRequest(text="you must specify at least 1 command")
        # The runtime's exec joins the container (namespaces, cgroup) and runs argv there. With
        # ?tty=true it runs on our pseudo-terminal, and `exec --tty` gives the process a pty of the
        # container's own as its controlling terminal; the runtime copies our pty's size to it, so
        # a resize (kubelet/streaming.py) reaches the process as SIGWINCH (docs/runtime.md).
        cid = st["containerID"].split("://")[-1]
        runtime_cli = [sys.executable, "-m", "minikube_py.runtime.cli", "--root", kubelet.runtime.root]
        tty = ["--tty"] if request.query.get("tty") in ("1", "true") else []
        prefix = [*runtime_cli, "exec", *tty, cid]
        return await streaming.serve_exec(request, argv, prefix=prefix)

    async def attach(request: web.Request) -> web.StreamResponse:
        ns, name, container = (request.match_info[k] for k in ("ns", "pod", "container"))
        rec = _find(kubelet, ns, name)
        if rec is None:
            return await streaming.send_failure(request, f'pods "{name}" not found on this node')
        spec = next((c for c in rec.pod["spec"].get("containers") or [] if c["name"] == container), None)
        st = next((s for s in rec.status.get("containerStatuses") or [] if s["name"] == container), None)
        if spec is None or st is None:
            return await streaming.send_failure(request, f"container {container} is not valid for pod {name}")
        if "running" not in st.get("state", {}):
            return await streaming.send_failure(
                request, f"container {container} of pod {ns}/{name} is not running")
        attempt = int(st.get("restartCount", 0))
        cid = st["containerID"].split("://")[-1]

        stopped_at: list[float] = []

        def running() -> bool:  # this attempt of the container still runs, or its monitor still logs
            now = _find(kubelet, ns, name)
            cur = next((s for s in (now.status.get("containerStatuses") or []) if s["name"] == container),
                       None) if now else None
            if cur and "running" in cur.get("state", {}) and cur.get("restartCount", 0) == attempt:
                return True
            # The monitor writes exit.json after it has logged the container's last output.
            stopped_at[:] = stopped_at or [time.monotonic()]
            return kubelet.runtime.exit_info(cid) is None and time.monotonic() - stopped_at[0] < 2

        try:
            log_path = kubelet.runtime.log_path(cid)  # where this attempt's monitor writes
        except (OSError, ContainerError) as e:  # deleted meanwhile
            return await streaming.send_failure(request, f"container {container} has no log: {e}")
        if not log_path or not os.path.exists(log_path):
            return await streaming.send_failure(request, f"container {container} has no log to attach to")
        stdin_socket = kubelet.runtime.attach_socket(cid) if spec.get("stdin") else None
        resize = None
        if spec.get("tty"):
            pid = (kubelet.runtime.state(cid) or {}).get("pid")

            def resize(width: int, height: int) -> None:
                # The monitor holds the master; the container's init has the slave as its stdin.
                # Either side of a pty takes TIOCSWINSZ, and the kernel sends SIGWINCH.
                fd = os.open(f"/proc/{pid}/fd/0", os.O_RDWR | os.O_NOCTTY)
                try:
                    streaming.set_window_size(fd, width, height)
                finally:
                    os.close(fd)

        return await streaming.serve_attach(request, log_path, running, stdin_socket, resize)

    async def port_forward(request: web.Request) -> web.StreamResponse:
        ns, name = request.match_info["ns"], request.match_info["pod"]
        rec = _find(kubelet, ns, name)
        ports = [int(p) for p in request.query.getall("ports", []) if p.isdigit()]
        if rec is None or len(ports) != 1:
            raise web.HTTPBadRequest(text="one pod and exactly one ?ports= are needed")
        ws = web.WebSocketResponse(protocols=CHANNEL_PROTOCOLS)
        await ws.prepare(request)
        await _pump_port(ws, kubelet, rec, ports[0])
        return ws

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/pods", pods), web.get("/stats/summary", stats),
                    web.get("/metrics", metrics),
                    web.get("/containerLogs/{ns}/{pod}/{container}", logs),
                    web.get("/exec/{ns}/{pod}/{container}", exec_),
                    web.post("/exec/{ns}/{pod}/{container}", exec_),
                    web.get("/attach/{ns}/{pod}/{container}", attach),
                    web.post("/attach/{ns}/{pod}/{container}", attach),
                    web.get("/portForward/{ns}/{pod}", port_forward),
                    web.post("/portForward/{ns}/{pod}", port_forward)])
    return app


CHANNEL_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")


async def _pump_port(ws: web.WebSocketResponse, kubelet: Any, rec: Any, port: int) -> None:
    """One TCP connection to the pod's port, made from inside its network namespace."""
    import socket
    import struct

    loop = asyncio.get_running_loop()
    netns = kubelet._pod_netns(rec)
    host = "127.0.0.1"

    def connect() -> socket.socket:
        return socket.create_connection((host, port), timeout=5)

    # Each stream starts with the port number (2 bytes, little endian) on both channels.
    prefix = struct.pack("<H", port)
    await ws.send_bytes(b"\x00" + prefix)
    await ws.send_bytes(b"\x01" + prefix)
    try:
        if netns:
            from minikube_py.network.netns import run_in_netns

            sock = await loop.run_in_executor(None, run_in_netns, netns, connect, kubelet.sys)
        else:
            sock = await loop.run_in_executor(None, connect)
    except OSError as exc:
        await ws.send_bytes(b"\x01" + f"error forwarding port {port}: {exc}".encode())
        await ws.close()
        return
    sock.setblocking(False)

    async def up() -> None:
        async for msg in ws:
            if msg.type != web.WSMsgType.BINARY or not msg.data or msg.data[0] != 0:
                continue
            if msg.data[1:]:
                await loop.sock_sendall(sock, msg.data[1:])
        sock.shutdown(socket.SHUT_WR)

    async def down() -> None:
        while True:
            data = await loop.sock_recv(sock, 32768)
            if not data:
                return
            await ws.send_bytes(b"\x00" + data)

    try:
        uploader = asyncio.ensure_future(up())
        await down()
        uploader.cancel()
    finally:
        sock.close()
        await ws.close()


class KubeletServer:
    """Runs the app on its own event loop thread (the kubelet itself is threads, not asyncio)."""

    def __init__(self, kubelet: Any, host: str = "127.0.0.1", port: int = 0, ssl_context: Any = None) -> None:
        self.kubelet, self.host, self.port, self.ssl_context = kubelet, host, port, ssl_context
        self.loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="kubelet-http", daemon=True)

    def start(self) -> int:
        self._thread.start()

        async def up() -> int:
            self._runner = web.AppRunner(make_app(self.kubelet), access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.ssl_context)
            await site.start()
            return site._server.sockets[0].getsockname()[1]   # the port the kernel picked

        self.port = asyncio.run_coroutine_threadsafe(up(), self.loop).result(timeout=10)
        return self.port

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()
