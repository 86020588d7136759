"""The peer protocol of `kvstash serve` (docs/format.md section 7), for the soak client.

xxh3 comes from libxxhash, which kvstash itself links (ctypes, no pip).
"""

import ctypes
import ctypes.util
import socket
import struct

MAGIC = b"KVSW"
VERSION = 1
HEADER = 16
TRAILER = 8
MAX_HELLO = 4096

HELLO, HELLO_OK, MATCH, MATCH_OK, GET, GET_OK, PUT, PUT_OK, STATS, STATS_OK = range(1, 11)
REGISTER, REGISTER_OK, GET_LOGITS, GET_LOGITS_OK, ERROR, PUT_LOGITS, PUT_LOGITS_OK = range(11, 18)
CLIENT_TYPES = (HELLO, MATCH, GET, PUT, STATS, REGISTER, GET_LOGITS, PUT_LOGITS)
SERVER_TYPES = (HELLO_OK, MATCH_OK, GET_OK, PUT_OK, STATS_OK, REGISTER_OK, GET_LOGITS_OK, ERROR,
                PUT_LOGITS_OK)


class _H128(ctypes.Structure):
    _fields_ = [("low64", ctypes.c_uint64), ("high64", ctypes.c_uint64)]


def _load_xxhash():
    for name in ("libxxhash.so.0", ctypes.util.find_library("xxhash")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.XXH3_64bits.restype = ctypes.c_uint64
        lib.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        lib.XXH3_128bits.restype = _H128
        lib.XXH3_128bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        return lib
    raise SystemExit("soak peer: needs libxxhash (Debian: libxxhash0, which kvstash links)")


_XXH = _load_xxhash()


def xxh3_64(data):
    return _XXH.XXH3_64bits(data, len(data))


def xxh3_128(data):
    h = _XXH.XXH3_128bits(data, len(data))
    return struct.pack("<QQ", h.low64, h.high64)  # Hash128 encoding: lo, hi


def block_hash(model, parent, tokens):
    return xxh3_128(model + parent + struct.pack("<%di" % len(tokens), *tokens))


def chain_hashes(model, tokens, block_tokens):
    """BlockHashes of the full blocks of `tokens`."""
    out, parent = [], bytes(16)
    for i in range(0, len(tokens) - block_tokens + 1, block_tokens):
        parent = block_hash(model, parent, tokens[i:i + block_tokens])
        out.append(parent)
    return out


def frame(ftype, payload=b"", rid=0, version=VERSION, flags=0, magic=MAGIC, payload_len=None,
          checksum=None):
    """header || payload || xxh3_64(header || payload); any field may lie."""
    n = len(payload) if payload_len is None else payload_len
    header = magic + struct.pack("<HBBII", version, ftype, flags, rid, n)
    body = header + payload
    return body + struct.pack("<Q", xxh3_64(body) if checksum is None else checksum)


def hello_payload(token, version=VERSION, token_len=None):
    t = token.encode() if isinstance(token, str) else token
    return struct.pack("<HH", version, len(t) if token_len is None else token_len) + t


def reseal_blob(blob):
    """The blob with its trailing xxh3_64 recomputed over everything before it."""
    body = blob[:-8]
    return body + struct.pack("<Q", xxh3_64(body))


def blob_fields(blob):
    """(model, hash, parent, token_count, header_bytes, payload_bytes) of a block blob."""
    header_bytes, = struct.unpack_from("<I", blob, 8)
    token_count, = struct.unpack_from("<I", blob, 72)
    payload_bytes, = struct.unpack_from("<Q", blob, 92)
    return blob[12:28], blob[28:44], blob[44:60], token_count, header_bytes, payload_bytes


class Closed(Exception):
    pass


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise Closed()
        buf += chunk
    return bytes(buf)


def read_frame(sock, limit=1 << 27):
    """(type, payload) of the next frame; Closed if the peer closed first."""
    h = recv_exact(sock, HEADER)
    if h[:4] != MAGIC:
        raise ValueError("bad magic from server: %r" % h[:4])
    _, ftype, _, _, n = struct.unpack_from("<HBBII", h, 4)
    if n > limit:
        raise ValueError("server frame of %d bytes" % n)
    rest = recv_exact(sock, n + TRAILER)
    payload = rest[:n]
    if struct.unpack("<Q", rest[n:])[0] != xxh3_64(h + payload):
        raise ValueError("bad checksum from server")
    return ftype, payload


class Client:
    """A well-behaved client: what a real peer would do."""

    def __init__(self, host, port, token, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rid = 0
        t, p = self.call(HELLO, hello_payload(token))
        if t != HELLO_OK:
            raise ValueError("hello answered with type %d: %r" % (t, p[:200]))

    def call(self, ftype, payload=b""):
        self.rid += 1
        self.sock.sendall(frame(ftype, payload, rid=self.rid))
        return read_frame(self.sock)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
