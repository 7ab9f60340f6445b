"""A 2 GiB resumable upload to a real `sesame serve`: a cut connection and a SIGKILL+restart.

The content is generated deterministically and streamed (never held whole); the download's
SHA-256 must equal the source's, and the server's memory must stay flat throughout.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.plugins.server import SesameApi, SesameServer, _auth

MiB = 1 << 20
SIZE = 2048 * MiB
CHUNK = 64 * MiB
PIECE = MiB
BASE = random.Random(2026).randbytes(64 * MiB)
CUT_AT_CHUNK, KILL_AT_CHUNK = 5, 20
RSS_LIMIT = 300 * 1000 * 1000


@dataclass
class Source:
    """Byte i of the file is BASE[i % 64 MiB], except each MiB starts with its own number.

    Every byte is hashed the first time it is sent (uploads resume at or before the furthest
    byte sent), so the file's SHA-256 is known once the upload is done.
    """

    digest: Any = field(default_factory=hashlib.sha256)
    hashed: int = 0

    def pieces(self, start: int, end: int) -> Iterator[bytes]:
        """The bytes [start, end) in pieces of at most 1 MiB."""
        position = start
        while position < end:
            index, within = divmod(position, PIECE)
            piece = bytearray(BASE[(index % 64) * PIECE:(index % 64 + 1) * PIECE])
            piece[:8] = struct.pack(">Q", index)
            data = bytes(memoryview(piece)[within:min(PIECE, end - index * PIECE)])
            if position + len(data) > self.hashed:
                self.digest.update(data[self.hashed - position:])
                self.hashed = position + len(data)
            yield data
            position += len(data)


class RssSampler(threading.Thread):
    """Samples the server's resident memory every 0.1 s; `peak` is the highest seen."""

    def __init__(self, server: SesameServer) -> None:
        super().__init__(daemon=True)
        self.server, self.peak, self.samples = server, 0, 0
        self.stopped = threading.Event()

    def run(self) -> None:
        """Sample until stopped (a server being restarted counts as 0)."""
        while not self.stopped.wait(0.1):
            with contextlib.suppress(Exception):
                self.peak = max(self.peak, self.server.rss_bytes())
                self.samples += 1


@dataclass
class Upload:
    """The session under test."""

    server: SesameServer
    token: str
    upload_id: str
    source: Source


def _send_partial(upload: Upload, first: int, stop_after: int,
                  then: Callable[[], object]) -> None:
    """PUT one chunk on a raw socket, stop after `stop_after` body bytes, run `then`, close."""
    last = min(first + CHUNK, SIZE) - 1
    head = (f"PUT /api/v1/uploads/{upload.upload_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Token {upload.token}\r\n"
            f"Content-Range: bytes {first}-{last}/{SIZE}\r\n"
            f"Content-Length: {last - first + 1}\r\n\r\n")
    with socket.create_connection(("127.0.0.1", upload.server.port)) as sock:
        sock.sendall(head.encode())
        for piece in upload.source.pieces(first, first + stop_after):
            sock.sendall(piece)
        time.sleep(0.3)  # let the server consume what it got
        then()


def _received(http: httpx.Client, token: str, upload_id: str) -> int:
    response = http.get(f"/api/v1/uploads/{upload_id}", headers=_auth(token))
    assert response.status_code == 200, response.text
    return int(response.json()["received"])


def _put_chunk(http: httpx.Client, token: str, upload_id: str, source: Source,
               first: int) -> httpx.Response:
    last = min(first + CHUNK, SIZE) - 1
    headers = {**_auth(token), "Content-Range": f"bytes {first}-{last}/{SIZE}",
               "Content-Length": str(last - first + 1)}
    return http.put(f"/api/v1/uploads/{upload_id}", headers=headers,
                    content=source.pieces(first, last + 1))


def test_two_gib_upload_resumes_after_a_cut_and_a_restart(sesame_server: SesameServer) -> None:
    server = sesame_server
    api = SesameApi(server.url)
    token = api.login(server.admin_email, server.admin_password)
    repo = str(api.create_repo(token, "big")["repo_id"])
    http = httpx.Client(base_url=server.url, timeout=300.0)
    started = http.post(f"/api/v1/repos/{repo}/uploads", headers=_auth(token),
                        json={"path": "/video/huge.bin", "size": SIZE})
    assert started.status_code == 201, started.text
    upload_id = started.json()["id"]
    source, sampler = Source(), RssSampler(server)
    session = Upload(server, token, upload_id, source)
    sampler.start()
    interruptions, answer = [], None
    try:
        while True:
            first = _received(http, token, upload_id)
            chunk = first // CHUNK
            if chunk == CUT_AT_CHUNK and "cut" not in interruptions:
                interruptions.append("cut")
                _send_partial(session, first, CHUNK // 2, then=lambda: None)
                continue
            if chunk == KILL_AT_CHUNK and "kill" not in interruptions:
                interruptions.append("kill")
                http.close()
                _send_partial(session, first, CHUNK // 2,
                              then=lambda: server.kill(signal.SIGKILL))
                server.start()
                http = httpx.Client(base_url=server.url, timeout=300.0)
                assert _received(http, token, upload_id) == first
                continue
            response = _put_chunk(http, token, upload_id, source, first)
            assert response.status_code in (200, 201), response.text
            assert response.json()["received"] == min(first + CHUNK, SIZE)
            if response.status_code == 201:
                answer = response.json()
                break
        assert interruptions == ["cut", "kill"]
        assert answer is not None
        assert answer["file"]["size"] == SIZE
        downloaded = hashlib.sha256()
        count = 0
        with http.stream("GET", f"/api/v1/repos/{repo}/file",
                         params={"p": "/video/huge.bin"}, headers=_auth(token)) as response:
            assert response.status_code == 200
            for data in response.iter_bytes(4 * MiB):
                downloaded.update(data)
                count += len(data)
    finally:
        sampler.stopped.set()
        sampler.join()
        http.close()
        api.close()
    assert count == SIZE
    assert source.hashed == SIZE
    assert downloaded.hexdigest() == source.digest.hexdigest()
    assert sampler.samples > 50
    assert 0 < sampler.peak < RSS_LIMIT, f"server RSS peaked at {sampler.peak / MiB:.0f} MiB"
