"""The cluster DNS server: dnslib over UDP and TCP, listening inside the node namespace.

Like CoreDNS with the kubernetes and forward plugins: cluster names are answered from
the objects (records.py), everything else is relayed to the upstream resolvers as is.

The serving threads join the node's network namespace before they open any socket
(proxy/netns.py), so both the listening sockets and the sockets that talk upstream
live there, while the rest of the process stays where it is.
"""

from __future__ import annotations

import threading

from dnslib import CNAME, QTYPE, RCODE, RR, SRV, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from minikube_py.network.dns.errors import DnsError
from minikube_py.network.dns.records import TTL, ClusterRecords
from minikube_py.network.proxy.netns import enter_netns
from minikube_py.network.proxy.source import ClusterObjects


class ClusterResolver(BaseResolver):
    def __init__(self, records: ClusterRecords, upstreams: list[tuple[str, int]],
                 timeout: float = 3.0) -> None:
        self.records = records
        self.upstreams = upstreams
        self.timeout = timeout

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        q = request.q
        answer = self.records.lookup(str(q.qname), QTYPE.get(q.qtype, str(q.qtype)))
        if answer is None:
            return self.forward(request)
        reply = request.reply()
        reply.header.rcode = getattr(RCODE, answer.rcode)
        if answer.cname:
            reply.add_answer(RR(q.qname, QTYPE.CNAME, ttl=TTL, rdata=CNAME(answer.cname)))
        for ip in answer.a:
            reply.add_answer(RR(q.qname, QTYPE.A, ttl=TTL, rdata=A(ip)))
        for prio, weight, port, target in answer.srv:
            reply.add_answer(RR(q.qname, QTYPE.SRV, ttl=TTL, rdata=SRV(prio, weight, port, target)))
        return reply

    def forward(self, request: DNSRecord) -> DNSRecord:
        for host, port in self.upstreams:
            try:
                return DNSRecord.parse(request.send(host, port, timeout=self.timeout))
            except (TimeoutError, OSError):
                continue
        reply = request.reply()
        reply.header.rcode = RCODE.SERVFAIL
        return reply


class ClusterDNS:
    """Serve `objects` as cluster DNS on `listen` (ip, port) in the namespace at `netns`."""

    def __init__(self, objects: ClusterObjects, listen: tuple[str, int], *, netns: str | None = None,
                 upstreams: list[tuple[str, int]] | None = None, domain: str = "cluster.local",
                 log: bool = False) -> None:
        self.records = ClusterRecords(objects, domain)
        self.resolver = ClusterResolver(self.records, upstreams if upstreams is not None else [])
        self.listen = listen
        self.netns = netns
        self._servers: list[DNSServer] = []
        self._threads: list[threading.Thread] = []
        self._logger = DNSLogger("-request,-reply,-truncated,-data" + ("" if log else ",-error,-recv,-send"))

    def start(self) -> ClusterDNS:
        for tcp in (False, True):
            ready = threading.Event()
            box: dict[str, object] = {}
            t = threading.Thread(target=self._serve, args=(tcp, ready, box), daemon=True,
                                 name=f"mkpy-dns-{'tcp' if tcp else 'udp'}")
            t.start()
            ready.wait(10)
            if "error" in box:
                self.stop()
                raise DnsError(f"cannot listen on {self.listen[0]}:{self.listen[1]}: {box['error']}")
            self._threads.append(t)
        return self

    def _serve(self, tcp: bool, ready: threading.Event, box: dict) -> None:
        try:
            if self.netns:
                enter_netns(self.netns)
            server = DNSServer(self.resolver, port=self.listen[1], address=self.listen[0], tcp=tcp,
                               logger=self._logger)
            server.server.daemon_threads = True
            self._servers.append(server)
        except OSError as exc:
            box["error"] = exc
            ready.set()
            return
        ready.set()
        server.start()  # handler threads are started from here, so they are in the namespace too

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._servers, self._threads = [], []
