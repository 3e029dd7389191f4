"""minikube_py.api.spdy: frames and header blocks round-trip; the dictionary is SPDY/3's."""

from __future__ import annotations

import asyncio
import struct
import zlib

import pytest

from minikube_py.api import spdy
from minikube_py.api.spdy import Frame, HeaderCodec


def test_dictionary_is_spdy3s():
    d = spdy.DICTIONARY
    assert len(d) == 1423  # the size the SPDY/3 draft gives
    assert d.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert b"\x00\x00\x00\x06200 OK\x00\x00\x00\x07version" in d
    assert d.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")
    # zlib names the dictionary a stream needs by its Adler-32; kubectl 1.20's header blocks
    # carry this id (decoding them is what tests/integration/kubectl exercises).
    assert zlib.adler32(d) == 0xE3C6A7C2


def _roundtrip(frames: list[Frame], chunk: int | None = None) -> list[Frame]:
    sender, receiver = HeaderCodec(), HeaderCodec()
    wire = b"".join(spdy.encode(f, sender) for f in frames)
    reader = spdy.FrameReader(receiver)
    if chunk is None:
        return reader.feed(wire)
    out = []
    for i in range(0, len(wire), chunk):  # frames split across reads, one byte at a time
        out += reader.feed(wire[i : i + chunk])
    return out


FRAMES = [
    Frame(spdy.SYN_STREAM, stream_id=1, priority=2, headers={"streamtype": ["error"], "port": ["80"]}),
    Frame(spdy.SYN_STREAM, stream_id=3, flags=spdy.FLAG_FIN, headers={"streamtype": ["stdin"]}),
    Frame(spdy.SYN_REPLY, stream_id=1, headers={"a": ["1", "2"]}),
    Frame(0, stream_id=3, data=b"hello"),
    Frame(0, stream_id=3, flags=spdy.FLAG_FIN),
    Frame(spdy.RST_STREAM, stream_id=5, status=spdy.CANCEL),
    Frame(spdy.SETTINGS, settings={7: (0, 65536)}),
    Frame(spdy.PING, value=42),
    Frame(spdy.WINDOW_UPDATE, stream_id=3, value=5),
    Frame(spdy.GOAWAY, value=3, status=0),
    Frame(spdy.HEADERS, stream_id=3, headers={"x": ["y"]}),
]


@pytest.mark.parametrize("chunk", [None, 1, 7])
def test_frames_round_trip(chunk):
    assert _roundtrip(FRAMES, chunk) == FRAMES


def test_header_blocks_share_one_compression_context():
    """The second identical block is far smaller: it refers back to the first (one zlib stream)."""
    codec = HeaderCodec()
    h = {"streamtype": ["stdout"], "requestid": ["0"], "port": ["8080"]}
    first, second = codec.encode(h), codec.encode(h)
    assert len(second) < len(first)
    other = HeaderCodec()
    assert other.decode(first) == h and other.decode(second) == h
    with pytest.raises(spdy.SpdyError):
        HeaderCodec().decode(second)  # without the first block the context is missing


def test_wire_layout_of_a_data_and_a_control_frame():
    codec = HeaderCodec()
    assert spdy.encode(Frame(0, stream_id=5, flags=spdy.FLAG_FIN, data=b"ab"), codec) == (
        b"\x00\x00\x00\x05\x01\x00\x00\x02ab"
    )
    assert (
        spdy.encode(Frame(spdy.PING, value=9), codec) == b"\x80\x03\x00\x06\x00\x00\x00\x04\x00\x00\x00\x09"
    )


def test_bad_input_is_a_spdy_error():
    reader = spdy.FrameReader(HeaderCodec())
    with pytest.raises(spdy.SpdyError, match="version 2"):
        reader.feed(struct.pack(">HHI", 0x8002, spdy.PING, 4) + b"\0\0\0\1")
    with pytest.raises(spdy.SpdyError, match="too short"):
        spdy.FrameReader(HeaderCodec()).feed(struct.pack(">HHI", 0x8003, spdy.RST_STREAM, 2) + b"\0\1")
    with pytest.raises(spdy.SpdyError, match="malformed header block"):
        spdy.parse_header_block(b"\0\0\0\1\0\0\0\x09ab")
    # Unknown control frame types are skipped, as the spec says.
    assert spdy.FrameReader(HeaderCodec()).feed(struct.pack(">HHI", 0x8003, 99, 1) + b"x") == []


def test_session_replies_to_streams_answers_pings_and_half_closes():
    async def run():
        sent: list[bytes] = []
        server = spdy.Session(sent.append)
        client = HeaderCodec()
        server.feed(
            spdy.encode(Frame(spdy.SYN_STREAM, stream_id=1, headers={"streamtype": ["stdin"]}), client)
        )
        server.feed(spdy.encode(Frame(0, stream_id=1, data=b"typed"), client))
        server.feed(spdy.encode(Frame(0, stream_id=1, flags=spdy.FLAG_FIN), client))
        server.feed(spdy.encode(Frame(spdy.PING, value=7), client))
        stream = await server.accept()
        assert stream.header("streamtype") == "stdin"
        assert await stream.read() == b"typed" and await stream.read() == b""
        stream.write(b"out")
        stream.close()
        got = spdy.FrameReader(client).feed(b"".join(sent))
        kinds = [(f.kind, f.stream_id) for f in got]
        assert kinds[0] == (spdy.SYN_REPLY, 1)
        assert (spdy.PING, 0) in kinds and got[kinds.index((spdy.PING, 0))].value == 7
        data = [f for f in got if f.kind == 0]
        assert [(d.data, d.fin) for d in data] == [(b"out", False), (b"", True)]
        server.connection_lost()
        assert await server.accept() is None

    asyncio.run(run())
