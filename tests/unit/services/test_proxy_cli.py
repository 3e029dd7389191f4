"""`mkpy proxy render` and the chain walk, without a kernel."""

import yaml
from click.testing import CliRunner

from minikube_py.cli.main import cli
from minikube_py.network.proxy.walk import walk

from .objects import endpoints, service


def test_render_prints_restore_text_and_walk_follows_it(tmp_path):
    f = tmp_path / "app.yaml"
    f.write_text(yaml.safe_dump_all([service("myapp-service", "10.96.0.50"),
                                     endpoints("myapp-service", ["10.244.0.11", "10.244.0.12"])]))
    result = CliRunner().invoke(cli, ["proxy", "render", str(f)])
    assert result.exit_code == 0, result.output
    text = result.output
    assert text.startswith("*nat\n") and text.count("COMMIT") == 2
    nat = text.split("COMMIT")[0]
    path = walk(nat, "10.96.0.50", 80)
    assert path[0].startswith("KUBE-SERVICES:") and "KUBE-SVC-" in path[1]
    assert sum("DNAT --to-destination" in line for line in path) == 2
    assert walk(nat, "10.96.0.50", 81) == []


def test_render_reports_bad_objects(tmp_path):
    f = tmp_path / "bad.yaml"
    bad = service("x", "10.96.0.999")
    f.write_text(yaml.safe_dump(bad))
    result = CliRunner().invoke(cli, ["proxy", "render", str(f)])
    assert "skipped: Service default/x: spec.clusterIP" in result.output


def test_walk_follows_a_node_port():
    from minikube_py.network.proxy.model import endpoints_for, service_ports
    from minikube_py.network.proxy.rules import render

    svc = service("np", "10.96.0.60", type_="NodePort", node_port=30080)
    sp = service_ports(svc)[0]
    nat = render([(sp, endpoints_for(endpoints("np", ["10.244.0.11"]), sp))]).text().split("COMMIT")[0]
    path = walk(nat, "192.168.77.2", 30080)
    assert "KUBE-NODEPORTS" in path[0] and path[1].startswith("KUBE-NODEPORTS:")
    assert any("KUBE-EXT-" in line for line in path) and any("DNAT --to-destination 10.244.0.11:3000" in line
                                                              for line in path)
    assert walk(nat, "192.168.77.2", 30081) == []
