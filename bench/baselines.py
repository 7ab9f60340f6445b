"""Baseline servers for the throughput benchmarks: an nginx config and a minimal raw-ASGI app."""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

ROOT_ENV = "SESAME_BENCH_ASGI_ROOT"
FSYNC_ENV = "SESAME_BENCH_ASGI_FSYNC"
"""When set to 1, every PUT is fsync'ed before the answer, as sesamedisk does per block."""
"""Environment variable naming the directory the minimal ASGI app stores bodies in."""
READ_CHUNK = 1024 * 1024
"""The minimal ASGI app serves files in reads (and ASGI sends) of this size."""
_NAME = re.compile(r"[0-9a-f]{40}")


def asgi_command(python: str, port: int) -> list[str]:
    """argv running the minimal ASGI app under uvicorn on 127.0.0.1:`port`, as ours runs."""
    return [python, "-m", "uvicorn", "baselines:app",
            "--app-dir", str(Path(__file__).resolve().parent),
            "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
            "--lifespan", "off", "--no-access-log", "--log-level", "warning",
            "--timeout-keep-alive", "75"]


def nginx_config(base: Path, port: int) -> str:
    """An nginx config that keeps every file under `base` and serves `base/root` on `port`.

    Downloads use the best setting measured on this machine (`sendfile off; output_buffers
    2 1m`, notes section 2). Uploads are WebDAV PUTs that nginx streams into a temp file in
    1 MiB writes and renames into place, as `nginx -p base` in one process (no master, so
    the benchmark owns exactly one PID and no worker changes user).
    """
    return f"""\
daemon off;
master_process off;
worker_processes 1;
pid {base}/nginx.pid;
error_log {base}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {base}/access.log;
    client_body_temp_path {base}/body;
    proxy_temp_path {base}/proxy;
    fastcgi_temp_path {base}/fastcgi;
    uwsgi_temp_path {base}/uwsgi;
    scgi_temp_path {base}/scgi;
    default_type application/octet-stream;
    sendfile off;
    output_buffers 2 1m;
    keepalive_timeout 75s;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        root {base}/root;
        location /seafhttp/ {{
            dav_methods PUT;
            create_full_put_path on;
            client_max_body_size 0;
            client_body_buffer_size 1m;
        }}
    }}
}}
"""


async def _reply(send: Send, status: int, headers: list[tuple[bytes, bytes]] | None = None,
                 body: bytes = b"") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def _put(path: str, receive: Receive, send: Send) -> None:
    """Stream the request body into `path` with plain writes on the event loop."""
    with open(path, "wb", buffering=0) as out:
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                out.close()
                os.unlink(path)
                return
            body = message.get("body", b"")
            view = memoryview(body)
            while view:
                written = out.write(view) or 0
                view = view[written:]
            more = message.get("more_body", False)
        if os.environ.get(FSYNC_ENV) == "1":
            os.fsync(out.fileno())
    await _reply(send, 200)


async def _get(path: str, send: Send) -> None:
    """Send a file in 1 MiB reads, each one ASGI body message."""
    try:
        source = open(path, "rb", buffering=0)  # noqa: SIM115 - closed below
    except FileNotFoundError:
        await _reply(send, 404, body=b"not found")
        return
    with source:
        size = os.fstat(source.fileno()).st_size
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(size).encode()),
                                (b"content-type", b"application/octet-stream")]})
        remaining = size
        while remaining > 0:
            chunk = source.read(min(READ_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": remaining > 0})
        if remaining:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """PUT/GET <anything>/<40 hex> as the file root/<40 hex>; everything else is a 404."""
    if scope["type"] != "http":
        return
    name = str(scope["path"]).rstrip("/").rsplit("/", 1)[-1]
    if _NAME.fullmatch(name) is None:
        await _reply(send, 404, body=b"not found")
        return
    path = os.path.join(os.environ[ROOT_ENV], name)
    if scope["method"] == "PUT":
        await _put(path, receive, send)
    elif scope["method"] == "GET":
        await _get(path, send)
    else:
        await _reply(send, 405, body=b"method not allowed")
