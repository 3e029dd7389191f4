"""Attach's output is the CRI log decoded back into what the container wrote, per stream."""

from minikube_py.kubelet.streaming import STDERR, STDOUT, cri_record


def test_full_and_partial_lines_come_back_as_written():
    assert cri_record(b"T stdout F hello world\n") == (STDOUT, b"hello world\n")
    assert cri_record(b"T stderr P no newline yet") == (STDERR, b"no newline yet")
    assert cri_record(b"T stdout F \n") == (STDOUT, b"\n")  # an empty line
    assert cri_record(b"T stdout F") == (STDOUT, b"\n")


def test_garbage_is_skipped():
    assert cri_record(b"") is None
    assert cri_record(b"T stdin F x") is None
