"""Small pure parts of the API server's streaming and metrics code."""

from __future__ import annotations

from minikube_py.api import metrics, streaming
from minikube_py.kubelet import streaming as kstreaming


def test_resize_stream_is_split_into_one_json_object_each():
    buf = bytearray()
    assert streaming._split_resizes(b'{"Width":80,"Height":24}\n{"Width":1', buf) == [
        b'{"Width": 80, "Height": 24}'
    ]
    assert streaming._split_resizes(b'00,"Height":40}\n', buf) == [b'{"Width": 100, "Height": 40}']
    assert buf == bytearray()  # nothing half-read is left over


def test_cpu_usage_is_a_rate_of_cpu_time():
    before = {"usageCoreNanoSeconds": 1_000_000_000}
    after = {"usageCoreNanoSeconds": 1_500_000_000}
    assert metrics._nanocores(before, after, 2.0) == 250_000_000  # 0.5 s of CPU in 2 s: 250m
    assert metrics._nanocores(None, after, 2.0) == 0  # one sample says nothing about a rate
    assert metrics._nanocores(before, {"usageNanoCores": 7}, 2.0) == 7  # a kubelet's own rate wins
    assert metrics._nanocores(after, before, 1.0) == 0  # a restarted counter is not negative usage
    usage = metrics._usage({"cpu": before}, {"cpu": after, "memory": {"workingSetBytes": 64 << 20}}, 2.0)
    assert usage == {"cpu": "250000000n", "memory": "65536Ki"}


def test_exit_status_shapes():
    assert kstreaming.exit_status(0) == {"metadata": {}, "status": "Success"}
    failed = kstreaming.exit_status(3)
    assert failed["reason"] == "NonZeroExitCode"
    assert failed["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
