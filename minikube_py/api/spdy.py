"""A small SPDY/3.1 implementation: what kubectl <= 1.29 speaks for exec, attach and port-forward.

Why SPDY at all? `kubectl exec` needs several byte streams at once over one connection (stdin,
stdout, stderr, an error channel, terminal resizes). Kubernetes chose SPDY/3.1 for that long before
WebSockets took over (kubectl 1.30+). The connection starts as HTTP/1.1 with `Upgrade: SPDY/3.1`,
the server answers `101 Switching Protocols`, and from then on both sides exchange *frames*:

  control frame   |1| version=3 (15 bits) | type (16 bits) | flags (8) | length (24) | payload
  data frame      |0| stream id (31 bits)                   | flags (8) | length (24) | data

  SYN_STREAM(1)   open a stream: id, associated id, priority, header block
  SYN_REPLY(2)    accept it: id, header block
  RST_STREAM(3)   abort a stream: id, status code
  SETTINGS(4)     connection settings (we read and ignore them)
  PING(6)         echo the 32-bit id back
  GOAWAY(7)       "no new streams": last good stream id, status
  HEADERS(8)      more headers on a stream
  WINDOW_UPDATE(9) flow control credit: stream id, delta
  flag FIN (0x01) on a data frame or SYN_* ends that direction of the stream ("half-close").

A *header block* is `count, (name length, name, value length, value)*` with 32-bit big-endian
lengths (several values of one name joined by NUL), compressed with zlib. One zlib stream per
direction lives as long as the connection, primed with a fixed dictionary of common header words
(`DICTIONARY`), and each block ends with a sync flush so the peer can decode it at once.

Kubernetes names each stream with a `streamtype` header (error, stdin, stdout, stderr, resize for
exec; data and error plus `port` and `requestID` for port-forward). This module knows nothing of
that: it is only frames, header blocks and a `Session` of streams (see `minikube_py.api.streaming`).
The spec: "SPDY Protocol - Draft 3.1" (chromium.org); Kubernetes uses it through
k8s.io/apimachinery/pkg/util/httpstream/spdy and moby/spdystream.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

VERSION = 3
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02

SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9

# RST_STREAM status codes (the ones we send).
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL = 1, 2, 3, 5

MAX_FRAME = 0xFFFFFF  # 24-bit length
INITIAL_WINDOW = 64 * 1024


class SpdyError(Exception):
    """A malformed frame or header block: the connection cannot go on."""


# ---------------------------------------------------------------- the header dictionary
# SPDY/3 section 2.6.10.1: common header names as length-prefixed words, then a run of status
# codes, dates and content types. Both peers prime zlib with exactly these bytes; zlib checks
# that they agree (the compressed stream carries the Adler-32 of the dictionary it expects).
_WORD_RUN = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language "
    "accept-ranges age allow authorization cache-control connection content-base content-encoding "
    "content-language content-length content-location content-md5 content-range content-type date "
    "etag expect expires from host if-match if-modified-since if-none-match if-range "
    "if-unmodified-since last-modified location max-forwards pragma proxy-authenticate "
    "proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
    "user-agent vary via warning www-authenticate method get status 200_OK version HTTP/1.1 url "
    "public set-cookie keep-alive origin"
)
_WORDS = [w.replace("_", " ") for w in _WORD_RUN.split()]  # "200 OK" is the one word with a space
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
    "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def _dictionary() -> bytes:
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()


DICTIONARY = _dictionary()


class HeaderCodec:
    """One side's header compression state: a compressor for what we send, a decompressor for
    what we receive. Both live as long as the connection (blocks depend on earlier ones)."""

    def __init__(self) -> None:
        self._out = zlib.compressobj(zdict=DICTIONARY)
        self._in = zlib.decompressobj(zdict=DICTIONARY)

    def encode(self, headers: dict[str, list[str]]) -> bytes:
        raw = [struct.pack(">I", len(headers))]
        for name, values in headers.items():
            n, v = name.lower().encode(), "\0".join(values).encode()
            raw += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
        return self._out.compress(b"".join(raw)) + self._out.flush(zlib.Z_SYNC_FLUSH)

    def decode(self, block: bytes) -> dict[str, list[str]]:
        try:
            raw = self._in.decompress(block)
        except zlib.error as e:
            raise SpdyError(f"header block does not decompress: {e}") from None
        return parse_header_block(raw)


def parse_header_block(raw: bytes) -> dict[str, list[str]]:
    try:
        (count,) = struct.unpack_from(">I", raw, 0)
        pos, out = 4, {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", raw, pos)
            name = raw[pos + 4 : pos + 4 + n].decode()
            pos += 4 + n
            (v,) = struct.unpack_from(">I", raw, pos)
            value = raw[pos + 4 : pos + 4 + v].decode()
            pos += 4 + v
            out[name.lower()] = value.split("\0")
    except (struct.error, UnicodeDecodeError) as e:
        raise SpdyError(f"malformed header block: {e}") from None
    if pos != len(raw):
        raise SpdyError(f"header block has {len(raw) - pos} bytes after its last header")
    return out


# ---------------------------------------------------------------- frames
@dataclass
class Frame:
    """One frame. `kind` is 0 for data, else the control frame type."""

    kind: int
    stream_id: int = 0
    flags: int = 0
    data: bytes = b""  # DATA payload
    headers: dict[str, list[str]] = field(default_factory=dict)  # SYN_STREAM/SYN_REPLY/HEADERS
    associated_id: int = 0  # SYN_STREAM
    priority: int = 0  # SYN_STREAM, 0 (highest) .. 7
    status: int = 0  # RST_STREAM, GOAWAY
    value: int = 0  # PING id, WINDOW_UPDATE delta, GOAWAY last good stream id
    settings: dict[int, tuple[int, int]] = field(default_factory=dict)  # id -> (flags, value)

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


def _control(kind: int, flags: int, payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME:
        raise SpdyError(f"control frame of {len(payload)} bytes is too long")
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def encode(frame: Frame, codec: HeaderCodec) -> bytes:
    """Frame -> bytes on the wire (header blocks go through the connection's compressor)."""
    k, sid = frame.kind, frame.stream_id & 0x7FFFFFFF
    if k == 0:
        if len(frame.data) > MAX_FRAME:
            raise SpdyError(f"data frame of {len(frame.data)} bytes is too long")
        return struct.pack(">II", sid, (frame.flags << 24) | len(frame.data)) + frame.data
    if k == SYN_STREAM:
        head = struct.pack(">IIBB", sid, frame.associated_id & 0x7FFFFFFF, (frame.priority & 7) << 5, 0)
        return _control(k, frame.flags, head + codec.encode(frame.headers))
    if k in (SYN_REPLY, HEADERS):
        return _control(k, frame.flags, struct.pack(">I", sid) + codec.encode(frame.headers))
    if k == RST_STREAM:
        return _control(k, 0, struct.pack(">II", sid, frame.status))
    if k == SETTINGS:
        body = struct.pack(">I", len(frame.settings)) + b"".join(
            struct.pack(">II", (f << 24) | (i & 0xFFFFFF), v) for i, (f, v) in frame.settings.items()
        )
        return _control(k, frame.flags, body)
    if k == PING:
        return _control(k, 0, struct.pack(">I", frame.value))
    if k == GOAWAY:
        return _control(k, 0, struct.pack(">II", frame.value & 0x7FFFFFFF, frame.status))
    if k == WINDOW_UPDATE:
        return _control(k, 0, struct.pack(">II", sid, frame.value & 0x7FFFFFFF))
    raise SpdyError(f"cannot encode frame type {k}")


def _decode_one(head: bytes, payload: bytes, codec: HeaderCodec) -> Frame | None:
    first, flags_len = struct.unpack(">II", head)
    flags = flags_len >> 24
    if not first & 0x80000000:
        return Frame(0, stream_id=first & 0x7FFFFFFF, flags=flags, data=payload)
    version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
    if version != VERSION:
        raise SpdyError(f"SPDY version {version} is not supported (only 3)")
    try:
        if kind == SYN_STREAM:
            sid, assoc, prio, _slot = struct.unpack_from(">IIBB", payload)
            return Frame(
                kind,
                stream_id=sid & 0x7FFFFFFF,
                flags=flags,
                associated_id=assoc & 0x7FFFFFFF,
                priority=prio >> 5,
                headers=codec.decode(payload[10:]),
            )
        if kind in (SYN_REPLY, HEADERS):
            (sid,) = struct.unpack_from(">I", payload)
            return Frame(kind, stream_id=sid & 0x7FFFFFFF, flags=flags, headers=codec.decode(payload[4:]))
        if kind == RST_STREAM:
            sid, status = struct.unpack_from(">II", payload)
            return Frame(kind, stream_id=sid & 0x7FFFFFFF, status=status)
        if kind == SETTINGS:
            (count,) = struct.unpack_from(">I", payload)
            entries = {}
            for i in range(count):
                fid, v = struct.unpack_from(">II", payload, 4 + 8 * i)
                entries[fid & 0xFFFFFF] = (fid >> 24, v)
            return Frame(kind, flags=flags, settings=entries)
        if kind == PING:
            return Frame(kind, value=struct.unpack_from(">I", payload)[0])
        if kind == GOAWAY:
            last, status = struct.unpack_from(">II", payload)
            return Frame(kind, value=last & 0x7FFFFFFF, status=status)
        if kind == WINDOW_UPDATE:
            sid, delta = struct.unpack_from(">II", payload)
            return Frame(kind, stream_id=sid & 0x7FFFFFFF, value=delta & 0x7FFFFFFF)
    except struct.error as e:
        raise SpdyError(f"control frame type {kind} is too short: {e}") from None
    return None  # unknown control frames must be ignored (spec 2.2.1)


class FrameReader:
    """Bytes in (any chunking), whole frames out."""

    def __init__(self, codec: HeaderCodec) -> None:
        self.codec = codec
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames = []
        while len(self._buf) >= 8:
            length = struct.unpack_from(">I", self._buf, 4)[0] & 0xFFFFFF
            if len(self._buf) < 8 + length:
                break
            head, payload = bytes(self._buf[:8]), bytes(self._buf[8 : 8 + length])
            del self._buf[: 8 + length]
            frame = _decode_one(head, payload, self.codec)
            if frame is not None:
                frames.append(frame)
        return frames


# ---------------------------------------------------------------- a session of streams
class Stream:
    """One bidirectional stream of a Session. `read()` returns b"" once the peer half-closed."""

    def __init__(self, session: Session, stream_id: int, headers: dict[str, list[str]]) -> None:
        self.session, self.id, self.headers = session, stream_id, headers
        self._data: asyncio.Queue[bytes] = asyncio.Queue()
        self.remote_closed = False
        self.local_closed = False
        self.reset = False

    def header(self, name: str, default: str = "") -> str:
        return (self.headers.get(name.lower()) or [default])[0]

    async def read(self) -> bytes:
        return await self._data.get()

    def write(self, data: bytes) -> None:
        if self.local_closed or self.reset:
            return
        for i in range(0, len(data), 32 * 1024):  # keep frames modest, like spdystream does
            self.session.send(Frame(0, stream_id=self.id, data=data[i : i + 32 * 1024]))

    def close(self) -> None:
        """Half-close: an empty data frame with FIN. The peer may still send to us."""
        if not self.local_closed and not self.reset:
            self.local_closed = True
            self.session.send(Frame(0, stream_id=self.id, flags=FLAG_FIN))

    def _remote_fin(self) -> None:
        if not self.remote_closed:
            self.remote_closed = True
            self._data.put_nowait(b"")


class Session:
    """The server side of a SPDY connection over any byte transport.

    `write` sends bytes to the peer; call `feed` with what arrives. Streams the peer opens are
    answered with SYN_REPLY (Kubernetes' servers accept every stream) and queued for `accept()`.
    """

    HIGH_WATER = 4 << 20  # bytes waiting to be sent before a writer should pause

    def __init__(self, write: Callable[[bytes], None], buffered: Callable[[], int] = lambda: 0) -> None:
        self._write = write
        self._buffered = buffered
        self.codec = HeaderCodec()
        self.reader = FrameReader(self.codec)
        self.streams: dict[int, Stream] = {}
        self._accepted: asyncio.Queue[Stream | None] = asyncio.Queue()
        self.closed = False
        self.lost = asyncio.Event()  # set once the connection is gone

    def send(self, frame: Frame) -> None:
        if not self.closed:
            self._write(encode(frame, self.codec))

    async def drain(self) -> None:
        """Wait while much is still unsent: a fast pod must not fill our memory for a slow client."""
        while not self.closed and self._buffered() > self.HIGH_WATER:
            await asyncio.sleep(0.005)  # the transport offers no awaitable "writable" for us

    async def accept(self) -> Stream | None:
        """The next stream the peer opened, or None once the connection is gone."""
        return await self._accepted.get()

    def feed(self, data: bytes) -> None:
        for f in self.reader.feed(data):
            self._handle(f)

    def _handle(self, f: Frame) -> None:
        if f.kind == 0:
            s = self.streams.get(f.stream_id)
            if s is None:
                self.send(Frame(RST_STREAM, stream_id=f.stream_id, status=INVALID_STREAM))
                return
            if f.data:
                s._data.put_nowait(f.data)
                # Give the credit back, so a peer that honours flow control never stalls.
                self.send(Frame(WINDOW_UPDATE, stream_id=f.stream_id, value=len(f.data)))
            if f.fin:
                s._remote_fin()
        elif f.kind == SYN_STREAM:
            s = Stream(self, f.stream_id, f.headers)
            self.streams[f.stream_id] = s
            self.send(Frame(SYN_REPLY, stream_id=f.stream_id, headers={}))
            if f.fin or f.flags & FLAG_UNIDIRECTIONAL:
                s._remote_fin()
            self._accepted.put_nowait(s)
        elif f.kind == RST_STREAM:
            s = self.streams.get(f.stream_id)
            if s is not None:
                s.reset = True
                s._remote_fin()
        elif f.kind == PING:
            self.send(Frame(PING, value=f.value))
        elif f.kind == GOAWAY:
            self.connection_lost()
        # SETTINGS, HEADERS, WINDOW_UPDATE, SYN_REPLY: nothing to do for a server of short streams.

    def goaway(self) -> None:
        last = max(self.streams, default=0)
        self.send(Frame(GOAWAY, value=last, status=0))

    def connection_lost(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.lost.set()
        for s in self.streams.values():
            s.reset = True
            s._remote_fin()
        self._accepted.put_nowait(None)
