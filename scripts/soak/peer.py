"""soak peer: hostile frames to `kvstash serve`; it stays up, serves, stays small.

Workers send malformed and hostile frames as fast as they can (random bytes,
lying headers, huge and over-limit lengths, truncated frames, bad checksums,
wrong tokens, frames before hello, and after a good hello every frame type
with garbage, damaged real blocks, blocks under another key, server-only
types). Every checkpoint the server must be alive, answer a well-behaved
client (hello, stats, match, get of known blocks with their exact bytes) even
with 300 idle connections open, and its peak RSS (VmHWM) must stay within
RSS_SLACK of what it held after serving the real clients plus the one large
authenticated frame the campaign keeps in flight at a time. A real
`kvstash run --remote` must get the no-store answer, reusing the peer's
blocks. At the end SIGTERM must stop it with exit 0, and `kvstash verify`
must find the store clean with no block added.
"""

import os
import random
import signal
import socket
import struct
import subprocess
import threading
import time

import wire
from common import (Violation, describe_rc, log, mib, parallel, parse_json, random_tokens,
                    read_rss, rng_for, run_kvstash, write_ids)
from corrupt import same_answer, wait_for_listen

BLOCK_TOKENS = 64
NEW_TOKENS = 8
WORKERS = 4
IDLE_CONNECTIONS = 300  # above the server's default cap of 256
CHECK_EVERY_S = 2.0
REAL_RUN_EVERY_S = 15.0
MAX_FRAME = 64 << 20  # the server's default --max-frame-mib
# The server's peak RSS may exceed what it held after serving the real
# clients (the baseline) by: one authenticated frame of MAX_FRAME in flight
# (only worker 0 sends large ones, one at a time, and waits for the server to
# drop each); the heap glibc keeps after frames under its 32 MiB mmap
# threshold are freed (kvstash sets M_TRIM_THRESHOLD to 1 GiB,
# docs/architecture.md), up to 32 MiB for each of the 2 I/O threads' arenas
# and the main one; and 32 MiB for the rest (up to 256 connections of at most
# 4 KiB before hello, responses, RocksDB). Measured: +120-128 MiB.
RSS_SLACK = MAX_FRAME + 3 * (32 << 20) + (32 << 20)
# Leaks: the least RSS seen in the last third of the campaign may exceed the
# least seen in the middle third by at most this (the least, because a large
# frame may be in flight at any one sample). Measured: under 4 MiB.
LEAK_SLACK = 16 << 20
BIG_CLAIMS = [4097, 65535, 1 << 20, MAX_FRAME, MAX_FRAME + 1, (1 << 31) - 1, 1 << 31,
              (1 << 32) - 1]


FIELDS = [(0, "magic"), (4, "version"), (6, "flags"), (8, "header_bytes"), (12, "model"),
          (28, "hash"), (44, "parent"), (60, "layers"), (64, "kv_heads"), (68, "head_dim"),
          (72, "token_count"), (76, "dtype"), (77, "codec"), (78, "level"), (79, "reserved"),
          (80, "plane_chunk_bytes"), (84, "raw_bytes"), (92, "payload_bytes"), (100, "tokens")]


def field_at(offset, size):
    """The block header field (docs/format.md 1.2) holding byte `offset`."""
    if offset >= size - 8:
        return "checksum"
    name = "payload"
    for start, field in FIELDS:
        if offset >= start:
            name = field
    return name if offset < 100 or name != "tokens" else "tokens or payload"


def describe_fields(got, want):
    parts = []
    if got[77] != want[77]:
        parts.append("codec %d -> %d" % (want[77], got[77]))
    if got[80:84] != want[80:84]:
        parts.append("plane_chunk_bytes %d -> %d" % (struct.unpack_from("<I", want, 80)[0],
                                                     struct.unpack_from("<I", got, 80)[0]))
    return " (%s)" % ", ".join(parts) if parts else ""


class Target:
    """The server under attack and what a good client knows about it."""

    def __init__(self, host, port, token, model, blobs, chain):
        self.host, self.port, self.token = host, port, token
        self.model = model  # 16 bytes
        self.blobs = blobs  # hash -> blob, full blocks of the prompts
        self.chain = chain  # the hashes of prompt 0, root first


class Worker:
    def __init__(self, campaign, target, index):
        self.c = campaign
        self.t = target
        self.index = index
        self.rng = rng_for(campaign.seed, "peer", index)
        self.keys = list(target.blobs)
        self.stop = False

    def connect(self):
        s = socket.create_connection((self.t.host, self.t.port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def sent(self, kind, n=1):
        self.c.count("frames", n)
        self.c.count("kind: " + kind, n)

    def rbytes(self, n):
        return bytes(self.rng.getrandbits(8) for _ in range(n))

    def answer(self, s):
        """Reads the server's answer if it gives one; False once it closed."""
        try:
            t, _ = wire.read_frame(s)
            self.c.count("answers: " + ("error" if t == wire.ERROR else "ok"))
            return True
        except (wire.Closed, ConnectionError):
            return False
        except socket.timeout:
            self.c.count("answers: none within 5 s")
            return False
        except ValueError as e:  # the server broke the protocol itself
            raise Violation("server sent a malformed frame: %s" % e, self.c.repro_prefix())

    def send_then(self, payload, kind, read=True):
        s = self.connect()
        try:
            s.sendall(payload)
            self.sent(kind)
            if read:
                self.answer(s)
        except (ConnectionError, socket.timeout):
            pass
        finally:
            s.close()

    # --- before hello ---

    def k_random(self):
        n = self.rng.choice([self.rng.randint(1, 15), self.rng.randint(16, 64),
                             self.rng.randint(65, 4096)])
        self.send_then(self.rbytes(n), "random bytes", read=n >= 16)

    def k_bad_header(self):
        r = self.rng
        field = r.choice(["magic", "version", "type", "flags"])
        kw = {}
        if field == "magic":
            kw["magic"] = self.rbytes(4)
        elif field == "version":
            kw["version"] = r.choice([0, 2, 3, 0xFFFF])
        elif field == "type":
            kw["ftype"] = r.choice([0, 18, 19, 127, 128, 255])
        else:
            kw["flags"] = r.randint(1, 255)
        ftype = kw.pop("ftype", wire.HELLO)
        self.send_then(wire.frame(ftype, wire.hello_payload(self.t.token), **kw), "bad header")

    def k_huge_len(self):
        n = self.rng.choice(BIG_CLAIMS)
        head = wire.frame(wire.HELLO, b"", payload_len=n)[:wire.HEADER]
        self.send_then(head + self.rbytes(self.rng.randint(0, 1024)), "huge length before hello")

    def k_not_hello_first(self):
        r = self.rng
        ftype = r.choice([t for t in wire.CLIENT_TYPES if t != wire.HELLO])
        if r.random() < 0.5:  # a lying length: must be refused from the header alone
            head = wire.frame(ftype, b"", payload_len=r.randint(4097, MAX_FRAME))[:wire.HEADER]
            self.send_then(head, "frame before hello (large)")
        else:
            key = r.choice(self.keys)
            payload = self.t.model + key + (self.t.blobs[key] if ftype == wire.PUT else b"")
            self.send_then(wire.frame(ftype, payload), "frame before hello")

    def k_truncated(self):
        f = wire.frame(wire.HELLO, wire.hello_payload(self.t.token))
        cut = self.rng.randrange(1, len(f))
        self.send_then(f[:cut], "truncated hello", read=False)

    def k_bad_checksum(self):
        f = wire.frame(wire.HELLO, wire.hello_payload(self.t.token),
                       checksum=self.rng.getrandbits(64))
        self.send_then(f, "hello with a bad checksum")

    def k_wrong_token(self):
        r = self.rng
        tok = self.t.token
        choice = r.randrange(5)
        if choice == 0:
            p = wire.hello_payload(self.rbytes(r.randint(0, 64)))
        elif choice == 1:
            i = r.randrange(len(tok))
            p = wire.hello_payload(tok[:i] + chr((ord(tok[i]) + 1) % 128) + tok[i + 1:])
        elif choice == 2:
            p = wire.hello_payload(tok, token_len=r.choice([0, len(tok) + 1, 0xFFFF]))
        elif choice == 3:
            p = wire.hello_payload(tok, version=r.choice([0, 2, 0xFFFF]))
        else:
            p = wire.hello_payload(tok + "x" * r.randint(1, 4000))[:wire.MAX_HELLO]
        self.send_then(wire.frame(wire.HELLO, p), "bad hello")

    # --- after a good hello ---

    def garbage_frame(self):
        """One hostile frame for an authenticated connection, and its kind."""
        r, m = self.rng, self.t.model
        key = r.choice(self.keys)
        blob = self.t.blobs[key]
        choice = r.randrange(15)
        if choice == 0:
            return self.rbytes(r.randint(1, 256)), "auth: random bytes"
        if choice == 1:
            t = r.choice([0, 18, 255] + list(wire.SERVER_TYPES))
            return wire.frame(t, self.rbytes(r.randint(0, 256))), "auth: server or unknown type"
        if choice == 2:
            t = r.choice(wire.CLIENT_TYPES)
            return wire.frame(t, self.rbytes(r.randint(0, 2048))), "auth: random payload"
        if choice == 3:
            count = r.choice([0, 1, 65536, 65537, 0xFFFFFFFF])
            hashes = b"".join(r.choice(self.keys) for _ in range(r.randint(0, 8)))
            return wire.frame(wire.MATCH, m + struct.pack("<I", count) + hashes), "auth: bad match"
        if choice == 4:
            tail = self.rbytes(r.randint(1, 16)) if r.random() < 0.5 else b""
            return wire.frame(wire.GET, m + self.rbytes(16) + tail), "auth: get of garbage"
        if choice == 5:  # a real block with one byte flipped, not resealed
            b = bytearray(blob)
            b[r.randrange(len(b))] ^= r.randint(1, 255)
            return wire.frame(wire.PUT, m + key + bytes(b)), "auth: put, flipped byte"
        if choice == 6:  # a header field changed and the checksum recomputed
            b = bytearray(blob)
            i = r.choice([12, 28, 44, 60, 64, 68, 72, 76, 77, 84, 92, 100, 104]) + r.randrange(4)
            b[i] ^= r.randint(1, 255)
            return (wire.frame(wire.PUT, m + key + wire.reseal_blob(bytes(b))),
                    "auth: put, resealed header")
        if choice == 14:  # a header field set to another valid value, checksum recomputed
            b = bytearray(blob)
            field = r.choice(["codec", "plane_chunk_bytes", "level"])
            if field == "codec":
                b[77] = r.choice([c for c in (0, 1, 2) if c != b[77]])
            elif field == "plane_chunk_bytes":
                elem = {1: 4, 2: 2, 3: 2}.get(b[76], 4)
                chunk = struct.unpack_from("<I", b, 80)[0]
                new = chunk
                while new == chunk:
                    new = elem * r.randint(1, 4096)
                struct.pack_into("<I", b, 80, new)
            else:
                b[78] = (b[78] + r.randint(1, 20)) % 23
            return (wire.frame(wire.PUT, m + key + wire.reseal_blob(bytes(b))),
                    "auth: put, other valid %s, resealed" % field)
        if choice == 7:
            cut = r.randrange(len(blob))
            return wire.frame(wire.PUT, m + key + blob[:cut]), "auth: put, truncated blob"
        if choice == 8:  # a good block under another key
            other = r.choice(self.keys)
            if other == key:
                other = self.rbytes(16)
            return wire.frame(wire.PUT, m + other + blob), "auth: put under another key"
        if choice == 9:
            return wire.frame(wire.PUT, m + self.rbytes(16) + self.rbytes(r.randint(0, 4096))), \
                "auth: put of garbage"
        if choice == 10:
            text = self.rbytes(r.randint(0, 512)) if r.random() < 0.5 else \
                b"kvstash-model-description v1\narchitecture=Evil\n"
            return wire.frame(wire.REGISTER, r.choice([m, self.rbytes(16)]) + text), \
                "auth: register garbage"
        if choice == 11:
            return wire.frame(wire.GET_LOGITS, m + key + self.rbytes(r.choice([0, 15, 16, 17]))), \
                "auth: get_logits garbage"
        if choice == 12:
            return wire.frame(wire.PUT_LOGITS, m + key + self.rbytes(16) +
                              self.rbytes(r.randint(0, 4096))), "auth: put_logits garbage"
        head = wire.frame(wire.PUT, b"", payload_len=r.choice([MAX_FRAME + 1, (1 << 32) - 1]))
        return head[:wire.HEADER], "auth: over the frame limit"

    def k_auth(self):
        try:
            c = wire.Client(self.t.host, self.t.port, self.t.token, timeout=5)
        except (OSError, ValueError, wire.Closed):
            self.c.count("good hello refused")  # only fatal if the checkpoint fails too
            return
        try:
            for _ in range(self.rng.randint(1, 16)):
                data, kind = self.garbage_frame()
                c.sock.sendall(data)
                self.sent(kind)
                if kind == "auth: random bytes" and len(data) < wire.HEADER:
                    break  # the server waits for the rest of a header
                if not self.answer(c.sock):
                    break
        except (ConnectionError, socket.timeout):
            pass
        finally:
            c.close()

    def k_big_claim(self):
        """An authenticated frame that claims up to MAX_FRAME and stops early:
        the server reserves it. One at a time, and only from worker 0."""
        try:
            c = wire.Client(self.t.host, self.t.port, self.t.token, timeout=5)
        except (OSError, ValueError, wire.Closed):
            return
        s = c.sock
        try:
            n = self.rng.randint(1 << 20, MAX_FRAME)
            s.sendall(wire.frame(wire.PUT, b"", payload_len=n)[:wire.HEADER] +
                      self.rbytes(self.rng.randint(0, 4096)))
            self.sent("auth: large frame, cut short")
            s.shutdown(socket.SHUT_WR)
            while s.recv(4096):  # until the server drops the connection (and its buffer)
                pass
        except (ConnectionError, socket.timeout):
            pass
        finally:
            c.close()

    def main(self):
        kinds = [(self.k_random, 10), (self.k_bad_header, 8), (self.k_huge_len, 8),
                 (self.k_not_hello_first, 8), (self.k_truncated, 6), (self.k_bad_checksum, 5),
                 (self.k_wrong_token, 8), (self.k_auth, 45)]
        if self.index == 0:
            kinds.append((self.k_big_claim, 2))
        fns, weights = [k for k, _ in kinds], [w for _, w in kinds]
        while not self.stop and not self.c.violations and not self.c.stopped:
            if self.c.target is not None and self.c.get("frames") >= self.c.target:
                break
            if self.c.seconds is not None and self.c.elapsed() >= self.c.seconds:
                break
            try:
                self.rng.choices(fns, weights)[0]()
            except (ConnectionRefusedError, ConnectionResetError):
                self.c.count("connection refused or reset")
                time.sleep(0.01)
            except OSError as e:
                self.c.count("socket error: %s" % type(e).__name__)
                time.sleep(0.01)


class Peer:
    def __init__(self, campaign, work, model_dir):
        self.c = campaign
        self.work = work
        self.model_dir = model_dir
        self.store = os.path.join(work, "store")
        rng = rng_for(campaign.seed, "peer", "setup")
        self.token = "".join(rng.choice("0123456789abcdef") for _ in range(32))
        self.token_file = os.path.join(work, "token")
        with open(self.token_file, "w") as f:
            f.write(self.token + "\n")
        p0 = random_tokens(rng, 300)
        self.prompts = [p0, p0[:200] + random_tokens(rng, 150), random_tokens(rng, 260)]
        self.ids = []
        for i, p in enumerate(self.prompts):
            path = os.path.join(work, "p%d.ids" % i)
            write_ids(path, p)
            self.ids.append(path)
        self.server = None
        self.rss_samples = []
        self.rss_trace = []  # (frames so far, VmRSS)
        self.real_runs = 0
        self.checks = 0
        self.idle_opened = 0

    def run_args(self, i, extra):
        return (["run", "--model", self.model_dir, "--prompt-ids", self.ids[i], "--max-new-tokens",
                 str(NEW_TOKENS), "--logprobs", "4", "--block-tokens", str(BLOCK_TOKENS),
                 "--json"] + extra)

    def remote_args(self):
        return ["--store", "none", "--remote", self.addr, "--remote-token-file", self.token_file]

    def start(self):
        self.err_path = os.path.join(self.work, "serve.err")
        with open(self.err_path, "wb") as err:
            self.server = subprocess.Popen(
                [self.c.kvstash, "serve", "--store", self.store, "--listen", "127.0.0.1:0",
                 "--token-file", self.token_file], stdout=subprocess.DEVNULL, stderr=err)
        self.addr = wait_for_listen(self.server, self.err_path)
        host, port = self.addr.rsplit(":", 1)
        self.host, self.port = host, int(port)

    def answer(self, i, extra):
        rc, out, err, _ = run_kvstash(self.c.kvstash, self.run_args(i, extra), timeout=180)
        j = parse_json(out)
        if rc != 0 or j is None:
            raise Violation("kvstash run %s failed (%s): %s" % (" ".join(extra), describe_rc(rc),
                                                                err.strip()[-400:]),
                            self.c.repro_prefix())
        return j

    def real_run(self, i, why):
        """A real client through the server: the no-store answer, from the peer's blocks."""
        j = self.answer(i, self.remote_args())
        self.real_runs += 1
        bad, _ = same_answer(j, self.want[i])
        if bad:
            raise Violation("real client (%s) got a wrong answer: %s" % (why, bad),
                            self.c.repro_prefix())
        if j["reused_from"]["remote"] + j["reused_from"]["device"] < j["prompt_tokens"] - \
                BLOCK_TOKENS:
            raise Violation("real client (%s) reused only %s of %d tokens from the peer" %
                            (why, j["reused_from"], j["prompt_tokens"]), self.c.repro_prefix())

    def setup(self):
        self.want = parallel([lambda i=i: self.answer(i, ["--store", "none"])
                              for i in range(len(self.prompts))])
        self.start()
        for i in range(len(self.prompts)):  # fills the server's store
            j = self.answer(i, self.remote_args())
            bad, _ = same_answer(j, self.want[i])
            if bad:
                raise Violation("setup: a run through the server differs: " + bad, "")
        model = bytes.fromhex(self.want[0]["model_id"])
        blobs, chain = {}, []
        c = wire.Client(self.host, self.port, self.token)
        for i, p in enumerate(self.prompts):
            for h in wire.chain_hashes(model, p, BLOCK_TOKENS):
                t, blob = c.call(wire.GET, model + h)
                if t != wire.GET_OK:
                    raise Violation("setup: the server lacks block %s of prompt %d" % (h.hex(), i),
                                    "")
                blobs[h] = blob
                if i == 0:
                    chain.append(h)
        c.close()
        self.target = Target(self.host, self.port, self.token, model, blobs, chain)
        self.real_run(0, "before the campaign")
        self.baseline = read_rss(self.server.pid)[0]
        self.blocks_before = self.verify_blocks()

    def verify_blocks(self):
        """Blocks in the store, from `kvstash verify` (read-only, on the live store)."""
        rc, out, err, _ = run_kvstash(self.c.kvstash, ["verify", "--store", self.store, "--json"],
                                      timeout=300)
        j = parse_json(out)
        if rc != 0 or j is None or not j.get("clean"):
            raise Violation("kvstash verify of the server's store: %s, %s %s" %
                            (describe_rc(rc), err.strip()[-300:], (j or {}).get("problems")),
                            self.c.repro_prefix() + "; store kept in " + self.store)
        return j["blocks"]

    def rss_growth(self):
        """Least VmRSS of the last third of the samples minus that of the middle third."""
        rss = [r for _, r in self.rss_trace]
        if len(rss) < 6:
            return None
        third = len(rss) // 3
        return min(rss[2 * third:]) - min(rss[third:2 * third])

    def alive(self, why):
        if self.server.poll() is not None:
            with open(self.err_path) as f:
                tail = f.read()[-600:]
            raise Violation("kvstash serve died (%s) %s after %d frames; its stderr: %s" %
                            (describe_rc(self.server.returncode), why, self.c.get("frames"), tail),
                            self.c.repro_prefix() + " (server log: %s)" % self.err_path)

    def good_client(self, why):
        """hello, stats, match and a get of known blocks, byte for byte."""
        t = self.target
        try:
            c = wire.Client(t.host, t.port, t.token, timeout=10)
            kind, _ = c.call(wire.STATS)
            if kind != wire.STATS_OK:
                raise ValueError("stats answered with type %d" % kind)
            kind, p = c.call(wire.MATCH, t.model + struct.pack("<I", len(t.chain)) +
                             b"".join(t.chain))
            if kind != wire.MATCH_OK or struct.unpack("<I", p)[0] != len(t.chain):
                raise ValueError("match of a stored chain: type %d, %r" % (kind, p[:64]))
            for h in random.sample(list(t.blobs), min(3, len(t.blobs))):
                kind, blob = c.call(wire.GET, t.model + h)
                if kind != wire.GET_OK:
                    raise ValueError("get of block %s: type %d, %r" % (h.hex(), kind, blob[:200]))
                self.same_block(h, blob, t.blobs[h])
            c.close()
        except (OSError, ValueError, wire.Closed) as e:
            self.alive(why)
            raise Violation("a well-behaved client failed %s after %d frames: %r" %
                            (why, self.c.get("frames"), e), self.c.repro_prefix())
        self.checks += 1

    def same_block(self, h, got, want):
        """A stored block is put once: it comes back byte for byte, whatever
        was put under its key since. Anything else means a hostile put
        replaced a block that clients load."""
        if got == want:
            return
        if len(got) == len(want):
            diff = [i for i in range(len(got)) if got[i] != want[i]]
            fields = sorted({field_at(i, len(got)) for i in diff})
        else:
            fields = ["size %d -> %d" % (len(want), len(got))]
        raise Violation(
            "a hostile put replaced stored block %s (after %d frames): %s differ%s; clients "
            "now load other KV for its tokens" % (h.hex(), self.c.get("frames"), ", ".join(fields),
                                                  describe_fields(got, want)),
            self.c.repro_prefix() + "; or by hand: after hello, put a stored block back under "
            "its own key with header byte 77 (codec) 2 -> 1, or plane_chunk_bytes (bytes 80-83) "
            "another multiple of the element size, and the trailing xxh3_64 recomputed: the "
            "server answers put_ok, and a `kvstash run --remote` of the prompt then generates "
            "other tokens than `--store none`")

    def idle_flood(self):
        """IDLE_CONNECTIONS connections that never say hello; a good client still gets in."""
        socks = []
        try:
            for _ in range(IDLE_CONNECTIONS):
                try:
                    socks.append(socket.create_connection((self.host, self.port), timeout=5))
                except OSError:
                    break
            self.idle_opened += len(socks)
            self.good_client("with %d idle connections open" % len(socks))
        finally:
            for s in socks:
                s.close()

    def checkpoint(self, why):
        self.alive(why)
        rss = read_rss(self.server.pid)
        if rss:
            self.rss_samples.append(rss)
            self.rss_trace.append((self.c.get("frames"), rss[0]))
            if rss[1] > self.baseline + RSS_SLACK:
                raise Violation("server RSS peak %s over its bound %s (baseline %s + %s) after %d "
                                "frames" % (mib(rss[1]), mib(self.baseline + RSS_SLACK),
                                            mib(self.baseline), mib(RSS_SLACK),
                                            self.c.get("frames")), self.c.repro_prefix())
        self.good_client(why)

    def campaign(self):
        workers = [Worker(self.c, self.target, i) for i in range(WORKERS)]
        errors = []

        def wrap(w):
            try:
                w.main()
            except Violation as v:
                errors.append(v)
        threads = [threading.Thread(target=wrap, args=(w,), daemon=True) for w in workers]
        self.c.start = time.monotonic()  # the budget is for frames
        for t in threads:
            t.start()
        last_real = time.monotonic()
        n = 0
        try:
            while any(t.is_alive() for t in threads) and not self.c.stopped:
                try:
                    time.sleep(CHECK_EVERY_S)
                except KeyboardInterrupt:
                    log("interrupted: stopping the workers, then the final checks")
                    self.c.stopped = True
                    break
                n += 1
                if errors:
                    raise errors[0]
                self.checkpoint("during the campaign")
                if n % 5 == 0:
                    self.idle_flood()
                if time.monotonic() - last_real >= REAL_RUN_EVERY_S:
                    self.real_run(n % len(self.prompts), "during the campaign")
                    last_real = time.monotonic()
        finally:
            for w in workers:
                w.stop = True
            for t in threads:
                t.join(timeout=30)
        if errors:
            raise errors[0]
        self.frames_s = self.c.elapsed()

    def finish(self):
        self.checkpoint("after the campaign")
        self.idle_flood()
        parallel([lambda i=i: self.real_run(i, "after the campaign")
                  for i in range(len(self.prompts))])
        self.final_rss = read_rss(self.server.pid)
        growth = self.rss_growth()
        if growth is not None and growth > LEAK_SLACK:
            raise Violation("server RSS grows: the least RSS of the last third of the campaign "
                            "is %s above that of the middle third (bound %s)" %
                            (mib(growth), mib(LEAK_SLACK)), self.c.repro_prefix())
        self.server.send_signal(signal.SIGTERM)
        try:
            rc = self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.server.kill()
            raise Violation("kvstash serve did not stop within 30 s of SIGTERM",
                            self.c.repro_prefix())
        if rc != 0:
            with open(self.err_path) as f:
                tail = f.read()[-400:]
            raise Violation("kvstash serve exited %s on SIGTERM: %s" % (describe_rc(rc), tail),
                            self.c.repro_prefix())
        blocks = self.verify_blocks()
        if blocks != self.blocks_before:
            raise Violation("the store holds %d blocks after the campaign, %d before: hostile "
                            "puts got in" % (blocks, self.blocks_before),
                            self.c.repro_prefix() + "; store kept in " + self.store)


def run(campaign, work, model):
    p = Peer(campaign, work, model)
    t0 = time.monotonic()
    try:
        p.setup()
        setup_s = time.monotonic() - t0
        log("peer: server pid %d on %s, baseline RSS %s, %d known blocks; setup %.1f s" %
            (p.server.pid, p.addr, mib(p.baseline), len(p.target.blobs), setup_s))
        p.campaign()
        p.finish()
    except Violation as v:
        campaign.violate(v.what, v.repro)
        setup_s = time.monotonic() - t0
        p.frames_s = campaign.elapsed()
        if p.server and p.server.poll() is None:
            p.server.kill()
            p.server.wait()
    c = campaign.get
    frames = c("frames")
    secs = getattr(p, "frames_s", 0) or 1
    peak = max([s[1] for s in p.rss_samples] or [0])
    rows = [
        ("hostile frames", "%d (goal 100,000)" % frames),
        ("  answered with an error / ok", "%d / %d" % (c("answers: error"), c("answers: ok"))),
        ("  idle connections opened", "%d (%d at a time)" % (p.idle_opened, IDLE_CONNECTIONS)),
        ("  connections refused or reset", c("connection refused or reset")),
        ("good-client checks", p.checks),
        ("real kvstash runs via the server", p.real_runs),
        ("server RSS: baseline", mib(getattr(p, "baseline", 0))),
        ("server RSS: peak (VmHWM)", "%s (bound %s)" % (mib(peak), mib(
            getattr(p, "baseline", 0) + RSS_SLACK))),
        ("server RSS: at the end", mib((getattr(p, "final_rss", None) or (0,))[0])),
        ("server RSS: growth, last third", "%s (bound %s)" % (
            mib(p.rss_growth() or 0), mib(LEAK_SLACK))),
        ("violations", len(campaign.violations)),
        ("time", "%.0f s of frames" % secs),
        ("rate", "%.0f frames/s" % (frames / secs)),
    ]
    trace = p.rss_trace
    if trace:
        step = max(1, len(trace) // 8)
        rows.append(("server RSS over the campaign", ", ".join(
            "%dk: %.0f" % (f // 1000, r / 1048576.0) for f, r in trace[::step] + [trace[-1]]) +
            " (frames: MiB)"))
    kinds = sorted((k[len("kind: "):], v) for k, v in campaign.counts.items()
                   if k.startswith("kind: "))
    rows.append(("frames by kind:", None))
    rows += [("    %-36s %d" % (k, v), "") for k, v in kinds]
    return rows
