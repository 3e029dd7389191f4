"""The ruleset text for given Services and Endpoints: kube-proxy's iptables-mode shape."""

import re

import pytest

from minikube_py.network.proxy import ProxyError
from minikube_py.network.proxy.model import Endpoint, endpoints_for, service_ports
from minikube_py.network.proxy.rules import render, sep_chain, svc_chain

from .objects import endpoints, service


def ports_of(*pairs):
    return [(sp, endpoints_for(eps, sp)) for svc, eps in pairs for sp in service_ports(svc)]


def test_chain_names_match_kube_proxy():
    # Names kube-proxy's own tests expect for ns1/svc1:p80 (TCP) and its endpoint 10.180.0.1:80.
    svc = service("svc1", "10.20.30.41", ns="ns1", port_name="p80")
    sp = service_ports(svc)[0]
    assert str(sp) == "ns1/svc1:p80"
    assert svc_chain(sp) == "KUBE-SVC-XPGD46QRK7WJZT7O"
    assert sep_chain(sp, Endpoint("10.180.0.1", 80)) == "KUBE-SEP-SXIVWICOYRO3J4NJ"


def test_three_endpoints_get_probabilities_one_third_one_half_then_unconditional():
    rs = render(ports_of((service("web", "10.96.0.20"), endpoints("web", ["10.244.0.4", "10.244.0.2",
                                                                            "10.244.0.3"]))))
    sp = service_ports(service("web", "10.96.0.20"))[0]
    svc = rs.nat[svc_chain(sp)]
    jumps = [r for r in svc if "KUBE-SEP-" in r]
    assert len(jumps) == 3
    assert "--probability 0.3333333333" in jumps[0]
    assert "--probability 0.5000000000" in jumps[1]
    assert "statistic" not in jumps[2]
    # Endpoints in a stable order, each with its own SEP chain doing the DNAT.
    for ip, rule in zip(["10.244.0.2", "10.244.0.3", "10.244.0.4"], jumps, strict=True):
        chain = sep_chain(sp, Endpoint(ip, 3000))
        assert rule.endswith(f"-j {chain}")
        assert rs.nat[chain][-1].endswith(f"-j DNAT --to-destination {ip}:3000")
        assert f"-s {ip}/32 -j KUBE-MARK-MASQ" in rs.nat[chain][0]  # hairpin
    entry = [r for r in rs.nat["KUBE-SERVICES"] if svc_chain(sp) in r]
    assert entry == ['-m comment --comment "default/web:http cluster IP" -p tcp -m tcp -d 10.96.0.20/32'
                     f' --dport 80 -j {svc_chain(sp)}']
    assert rs.nat["KUBE-SERVICES"][-1].endswith("-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")


def test_unready_endpoints_get_no_chain_and_no_traffic():
    rs = render(ports_of((service("web", "10.96.0.20"), endpoints("web", ["10.244.0.2"], ["10.244.0.9"]))))
    text = rs.text()
    assert "10.244.0.9" not in text
    sp = service_ports(service("web", "10.96.0.20"))[0]
    assert [r for r in rs.nat[svc_chain(sp)] if "KUBE-SEP" in r] == [
        '-m comment --comment "default/web:http -> 10.244.0.2:3000"'
        f' -j {sep_chain(sp, Endpoint("10.244.0.2", 3000))}']


def test_service_without_ready_endpoints_is_rejected_in_filter():
    rs = render(ports_of((service("web", "10.96.0.20", type_="NodePort", node_port=30080),
                          endpoints("web", [], ["10.244.0.9"]))))
    assert not [c for c in rs.nat if c.startswith(("KUBE-SVC", "KUBE-SEP", "KUBE-EXT"))]
    assert any("-d 10.96.0.20/32 --dport 80 -j REJECT" in r for r in rs.filter["KUBE-SERVICES"])
    assert any("--dport 30080 -j REJECT" in r for r in rs.filter["KUBE-EXTERNAL-SERVICES"])


def test_nodeport_and_load_balancer_go_through_ext_chain_that_masquerades():
    svc = service("web", "10.96.0.20", type_="LoadBalancer", node_port=30080)
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "192.168.77.200"}]}}
    rs = render(ports_of((svc, endpoints("web", ["10.244.0.2"]))))
    sp = service_ports(svc)[0]
    ext = "KUBE-EXT-" + svc_chain(sp)[len("KUBE-SVC-"):]
    assert rs.nat["KUBE-NODEPORTS"] == [
        f'-m comment --comment "default/web:http" -p tcp -m tcp --dport 30080 -j {ext}']
    assert any("-d 192.168.77.200/32 --dport 80" in r and r.endswith(ext) for r in rs.nat["KUBE-SERVICES"])
    assert rs.nat[ext][0].endswith("-j KUBE-MARK-MASQ") and rs.nat[ext][1] == f"-j {svc_chain(sp)}"


def test_masquerade_plumbing_uses_mark_0x4000():
    rs = render([])
    assert rs.nat["KUBE-MARK-MASQ"] == ["-j MARK --or-mark 0x4000"]
    assert rs.nat["KUBE-POSTROUTING"][0] == "-m mark ! --mark 0x4000/0x4000 -j RETURN"
    assert rs.nat["KUBE-POSTROUTING"][-1].endswith("-j MASQUERADE")


def test_cluster_cidr_masquerades_off_cluster_sources_only():
    rs = render(ports_of((service("web", "10.96.0.20"), endpoints("web", ["10.244.0.2"]))),
                cluster_cidr="10.244.0.0/16")
    sp = service_ports(service("web", "10.96.0.20"))[0]
    assert "! -s 10.244.0.0/16 -j KUBE-MARK-MASQ" in rs.nat[svc_chain(sp)][0]


def test_session_affinity_client_ip_uses_recent():
    svc = service("web", "10.96.0.20", affinity=True)
    rs = render(ports_of((svc, endpoints("web", ["10.244.0.2", "10.244.0.3"]))))
    sp = service_ports(svc)[0]
    rules = rs.nat[svc_chain(sp)]
    sep = sep_chain(sp, Endpoint("10.244.0.2", 3000))
    assert f"-m recent --name {sep} --rcheck --seconds 10800 --reap -j {sep}" in rules[0]
    assert f"-m recent --name {sep} --set" in rs.nat[sep][1]
    # affinity checks come before the random choice
    assert [i for i, r in enumerate(rules) if "recent" in r] == [0, 1]


def test_udp_named_ports_match_endpoints_by_name_and_protocol():
    svc = service("dns", "10.96.0.10", port=53, port_name="dns", protocol="UDP")
    eps = endpoints("dns", ["10.244.0.5"], port=53, port_name="dns", protocol="UDP")
    wrong = endpoints("dns", ["10.244.0.5"], port=53, port_name="dns", protocol="TCP")
    assert endpoints_for(eps, service_ports(svc)[0]) == [Endpoint("10.244.0.5", 53)]
    assert endpoints_for(wrong, service_ports(svc)[0]) == []
    rs = render(ports_of((svc, eps)))
    assert re.search(r"-p udp -m udp -d 10.96.0.10/32 --dport 53 -j KUBE-SVC-", rs.text())


def test_headless_and_external_name_services_are_not_proxied():
    assert service_ports(service("h", "None")) == []
    assert service_ports(service("x", "", type_="ExternalName")) == []


@pytest.mark.parametrize("mutate, field", [
    (lambda s: s["spec"].update(clusterIP="10.96.0.300"), "spec.clusterIP"),
    (lambda s: s["spec"]["ports"][0].update(port=70000), "spec.ports[0].port"),
    (lambda s: s["spec"]["ports"][0].update(protocol="ICMP"), "spec.ports[0].protocol"),
    (lambda s: s["spec"].update(type="NodePort", ports=[{"port": 80, "nodePort": 80}]),
     "spec.ports[0].nodePort"),
    (lambda s: s["spec"].update(sessionAffinity="Cookie"), "spec.sessionAffinity"),
    (lambda s: s["spec"].update(ports=[]), "spec.ports"),
])
def test_bad_services_name_the_field(mutate, field):
    svc = service("web", "10.96.0.20")
    mutate(svc)
    with pytest.raises(ProxyError, match=re.escape(field)):
        service_ports(svc)


def test_external_traffic_policy_local_balances_over_local_endpoints_without_masquerade():
    svc = service("web", "10.96.0.20", type_="NodePort", node_port=30080, externalTrafficPolicy="Local")
    eps = endpoints("web", ["10.244.0.2", "10.244.1.7"])
    eps["subsets"][0]["addresses"][0]["nodeName"] = "n1"
    eps["subsets"][0]["addresses"][1]["nodeName"] = "n2"
    sp = service_ports(svc)[0]
    rs = render([(sp, endpoints_for(eps, sp))], cluster_cidr="10.244.0.0/16", node_name="n1")
    ext = "KUBE-EXT-" + svc_chain(sp)[9:]
    svl = "KUBE-SVL-" + svc_chain(sp)[9:]
    assert rs.nat[ext][0].endswith(f"-s 10.244.0.0/16 -j {svc_chain(sp)}")  # pods: the cluster path
    assert rs.nat[ext][-1] == f"-j {svl}"
    assert not any(r.endswith("-j KUBE-MARK-MASQ") and "LOCAL" not in r for r in rs.nat[ext])
    assert [r.rsplit("-j ", 1)[1] for r in rs.nat[svl]] == [sep_chain(sp, Endpoint("10.244.0.2", 3000))]
    assert len([r for r in rs.nat[svc_chain(sp)] if "KUBE-SEP" in r]) == 2  # the cluster path: both

    on_n3 = render([(sp, endpoints_for(eps, sp))], cluster_cidr="10.244.0.0/16", node_name="n3")
    assert svl not in on_n3.nat and not on_n3.nat[ext][-1].startswith("-j KUBE-SVL")
    assert any("has no local endpoints" in r and "--dport 30080 -j DROP" in r
               for r in on_n3.filter["KUBE-EXTERNAL-SERVICES"])


def test_load_balancer_source_ranges_put_a_fw_chain_in_front():
    svc = service("web", "10.96.0.20", type_="LoadBalancer", node_port=30080,
                  loadBalancerSourceRanges=["192.168.0.0/16", "10.1.2.3/32"])
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "192.168.77.200"}]}}
    rs = render(ports_of((svc, endpoints("web", ["10.244.0.2"]))))
    sp = service_ports(svc)[0]
    fw, ext = "KUBE-FW-" + svc_chain(sp)[9:], "KUBE-EXT-" + svc_chain(sp)[9:]
    assert any("-d 192.168.77.200/32" in r and r.endswith(f"-j {fw}") for r in rs.nat["KUBE-SERVICES"])
    assert [r.split(" -s ")[1] for r in rs.nat[fw]] == [f"192.168.0.0/16 -j {ext}", f"10.1.2.3/32 -j {ext}"]
    assert any("-d 192.168.77.200/32 --dport 80 -j DROP" in r for r in rs.filter["KUBE-EXTERNAL-SERVICES"])
    # the NodePort is not limited by the ranges (as in Kubernetes)
    assert rs.nat["KUBE-NODEPORTS"][0].endswith(f"-j {ext}")
