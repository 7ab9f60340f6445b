"""Access control and malformed-input handling of a real `sesame serve` (api2, api/v1, seafhttp)."""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.plugins.server import (
    SEAFILE_FIXTURES,
    SesameApi,
    SesameServer,
    make_pack,
    sha1_hex,
)

USER2 = "mallory@example.com"
USER2_PASSWORD = "mallory-Pa55word"
PLAIN = json.loads((SEAFILE_FIXTURES / "manifest.json").read_text())["libraries"]["plain"]


@dataclass
class Resp:
    """Status and body of one raw HTTP exchange."""

    status: int
    body: bytes

    def __str__(self) -> str:
        return f"{self.status} {self.body[:200]!r}"


def raw(server: SesameServer, method: str, path: str, headers: dict[str, str] | None = None,
        body: bytes | None = None) -> Resp:
    """Send exactly `path` (no client-side normalisation) and return status + body."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        hdrs = dict(headers or {})
        if body is not None:
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return Resp(r.status, r.read())
    finally:
        conn.close()


@dataclass
class World:
    """Two users, two libraries of user 1 (X, Y) and one of user 2 (Z), with their tokens."""

    server: SesameServer
    api: SesameApi
    t1: str
    t2: str
    x: str
    y: str
    z: str
    rx: str
    ry: str
    rz: str
    y_head: str
    y_root: str
    y_blocks: list[str]


@pytest.fixture
def world(sesame_server: SesameServer) -> Iterator[World]:
    """Users, libraries X/Y (user 1, each with a file) and Z (user 2), and their tokens."""
    srv = sesame_server
    srv.create_user(USER2, USER2_PASSWORD)
    api = SesameApi(srv.url)
    t1 = api.login(srv.admin_email, srv.admin_password)
    t2 = api.login(USER2, USER2_PASSWORD)
    x = api.create_repo(t1, "lib-x")["repo_id"]
    y = api.create_repo(t1, "lib-y")["repo_id"]
    z = api.create_repo(t2, "lib-z")["repo_id"]
    for repo, tok in ((x, t1), (y, t1)):
        r = api.put_file(tok, repo, "/secret.txt", f"secret of {repo}\n".encode() * 50)
        assert r.status_code in (200, 201), f"PUT file: {r.status_code} {r.text}"
    rx, ry, rz = api.repo_token(t1, x), api.repo_token(t1, y), api.repo_token(t2, z)
    y_head = api.head(y, ry)
    y_root = str(api.commit(y, ry, y_head)["root_id"])
    y_blocks = list(api.tree(y, ry)["/secret.txt"]["block_ids"])
    assert y_blocks
    w = World(srv, api, t1, t2, x, y, z, rx, ry, rz, y_head, y_root, y_blocks)
    yield w
    api.close()


def _is_4xx_with_message(r: Resp) -> bool:
    return 400 <= r.status < 500 and bool(r.body.strip())


def _check(failures: list[str], what: str, r: Resp, allowed: tuple[int, ...] | None = None) -> None:
    ok = _is_4xx_with_message(r) if allowed is None else r.status in allowed
    if allowed is not None and ok and r.status >= 400 and not r.body.strip():
        ok = False
    if not ok:
        want = "a 4xx with a message" if allowed is None else f"one of {allowed} (+ message)"
        failures.append(f"{what}: got {r}, want {want}")


def _tok(t: str) -> dict[str, str]:
    return {"Authorization": f"Token {t}"}


def _rt(t: str) -> dict[str, str]:
    return {"Seafile-Repo-Token": t}


def test_other_users_and_foreign_tokens_are_refused(world: World) -> None:
    """(h) user 2 cannot reach user 1's library; repo tokens are bound to their library."""
    w, srv, f = world, world.server, []
    # user 2 against user 1's library X
    r = raw(srv, "GET", f"/api2/repos/{w.x}/download-info/", _tok(w.t2))
    _check(f, "user2 download-info X", r, (403, 404))
    if b"token" in r.body:
        f.append(f"user2 download-info X leaked a token: {r}")
    r = raw(srv, "GET", "/api2/repos/", _tok(w.t2))
    if r.status != 200 or w.x.encode() in r.body or w.y.encode() in r.body:
        f.append(f"user2 repo list shows user1's libraries or failed: {r}")
    _check(f, "user2 GET /api2/repos/X/", raw(srv, "GET", f"/api2/repos/{w.x}/", _tok(w.t2)),
           (403, 404))
    _check(f, "user2 DELETE X", raw(srv, "DELETE", f"/api2/repos/{w.x}/", _tok(w.t2)),
           (403, 404))
    _check(f, "user2 PUT file into X",
           raw(srv, "PUT", f"/api/v1/repos/{w.x}/file?p=/evil.txt", _tok(w.t2), b"evil"),
           (403, 404))
    _check(f, "user2 GET file of Y",
           raw(srv, "GET", f"/api/v1/repos/{w.y}/file?p=/secret.txt", _tok(w.t2)), (403, 404))
    _check(f, "user2's repo token on X HEAD",
           raw(srv, "GET", f"/seafhttp/repo/{w.x}/commit/HEAD", _rt(w.rz)), (403,))
    if raw(srv, "GET", f"/api2/repos/{w.x}/download-info/", _tok(w.t1)).status != 200:
        f.append("library X is gone after user2's DELETE attempt")

    # repo token of X on Y's sync URLs
    y = f"/seafhttp/repo/{w.y}"
    fixture_commit = (SEAFILE_FIXTURES / PLAIN["commit_file"]).read_bytes()
    pack = (SEAFILE_FIXTURES / "plain" / "recv-fs-request-body.bin").read_bytes()
    cases: list[tuple[str, str, bytes | None]] = [
        ("GET", f"{y}/commit/HEAD", None),
        ("GET", f"{y}/commit/{w.y_head}", None),
        ("PUT", f"{y}/commit/HEAD/?head={w.y_head}", b""),
        ("PUT", f"{y}/commit/{PLAIN['commit_id']}", fixture_commit),
        ("GET", f"{y}/fs-id-list/?server-head={w.y_head}", None),
        ("POST", f"{y}/pack-fs/", json.dumps([w.y_root]).encode()),
        ("POST", f"{y}/check-fs/", json.dumps([w.y_root]).encode()),
        ("POST", f"{y}/check-blocks/", json.dumps(w.y_blocks).encode()),
        ("POST", f"{y}/recv-fs/", pack),
        ("GET", f"{y}/block/{w.y_blocks[0]}", None),
        ("PUT", f"{y}/block/{sha1_hex(b'intruder')}", b"intruder"),
        ("GET", f"{y}/permission-check/?op=upload&client_id={'1' * 40}&client_name=x", None),
        ("GET", f"{y}/quota-check/?delta=1", None),
    ]
    for method, path, body in cases:
        _check(f, f"X's token: {method} {path}", raw(srv, method, path, _rt(w.rx), body), (403,))
    # garbage / missing tokens
    for label, hdrs in (
        ("garbage token", _rt("garbage")),
        ("40-hex unknown token", _rt("0" * 40)),
        ("empty token", _rt("")),
        ("no token", {}),
        ("api token as repo token", _rt(w.t1)),
    ):
        _check(f, f"{label} on HEAD", raw(srv, "GET", f"{y}/commit/HEAD", hdrs), (403,))
        _check(f, f"{label} on block", raw(srv, "GET", f"{y}/block/{w.y_blocks[0]}", hdrs),
               (403,))
    for label, hdrs in (("garbage api token", _tok("garbage")), ("no api token", {})):
        _check(f, f"{label} on /api2/repos/", raw(srv, "GET", "/api2/repos/", hdrs), (401, 403))
        _check(f, f"{label} on download-info",
               raw(srv, "GET", f"/api2/repos/{w.y}/download-info/", hdrs), (401, 403))

    # objects are scoped per library: X's token cannot probe or fetch Y's content by hash
    x = f"/seafhttp/repo/{w.x}"
    r = raw(srv, "POST", f"{x}/check-blocks/", _rt(w.rx), json.dumps(w.y_blocks).encode())
    if r.status != 200 or sorted(json.loads(r.body)) != sorted(w.y_blocks):
        f.append(f"X's check-blocks should report Y's blocks missing: {r}")
    _check(f, "X token GET Y's block via X", raw(srv, "GET", f"{x}/block/{w.y_blocks[0]}",
                                                 _rt(w.rx)))
    _check(f, "X token pack-fs Y's root via X",
           raw(srv, "POST", f"{x}/pack-fs/", _rt(w.rx), json.dumps([w.y_root]).encode()))
    _check(f, "X token fs-id-list of Y's head via X",
           raw(srv, "GET", f"{x}/fs-id-list/?server-head={w.y_head}", _rt(w.rx)))
    _check(f, "X token GET Y's commit via X", raw(srv, "GET", f"{x}/commit/{w.y_head}",
                                                  _rt(w.rx)))
    assert not f, "access-control failures:\n" + "\n".join(f)


def test_malformed_input_gets_4xx_with_message(world: World, tmp_path: Path) -> None:
    """(h) a table of malformed requests: every one gets a 4xx (never 5xx) with a message."""
    w, srv = world, world.server
    x = f"/seafhttp/repo/{w.x}"
    rt, tk = _rt(w.rx), _tok(w.t1)
    head = w.api.head(w.x, w.rx)
    unknown = "f" * 40
    fs_dir = SEAFILE_FIXTURES / "plain" / "fs"
    hello_fs = PLAIN["paths"]["/hello.txt"]["fs_id"]
    hello_z = (fs_dir / hello_fs).read_bytes()
    good_pack = make_pack({hello_fs: hello_z})
    commit_json = (SEAFILE_FIXTURES / PLAIN["commit_file"]).read_bytes()
    sentinel = f"sesame-traversal-{uuid.uuid4().hex}"
    big = str(10**30)
    any4xx = None
    table: list[tuple[str, str, str, dict[str, str], bytes | None, tuple[int, ...] | None]] = [
        # bad library ids
        ("repo id not a uuid (seafhttp)", "GET", "/seafhttp/repo/not-a-uuid/commit/HEAD", rt,
         None, any4xx),
        ("unknown repo id (seafhttp)", "GET", f"/seafhttp/repo/{uuid.uuid4()}/commit/HEAD", rt,
         None, any4xx),
        ("sql in repo id", "GET", "/seafhttp/repo/x'%20OR%20'1'='1/commit/HEAD", rt, None,
         any4xx),
        ("repo id not a uuid (api2)", "GET", "/api2/repos/not-a-uuid/download-info/", tk, None,
         any4xx),
        ("unknown repo id (api2)", "GET", f"/api2/repos/{uuid.uuid4()}/download-info/", tk,
         None, (404,)),
        ("delete unknown repo", "DELETE", f"/api2/repos/{uuid.uuid4()}/", tk, None, any4xx),
        ("repo id not a uuid (api/v1)", "PUT", "/api/v1/repos/not-a-uuid/file?p=/a.txt", tk,
         b"a", any4xx),
        # bad commit ids
        ("commit id not hex", "GET", f"{x}/commit/zzzz", rt, None, any4xx),
        ("commit id too long", "GET", f"{x}/commit/{'a' * 41}", rt, None, any4xx),
        ("unknown commit id", "GET", f"{x}/commit/{unknown}", rt, None, (404,)),
        ("HEAD update to garbage", "PUT", f"{x}/commit/HEAD/?head=zzz", rt, b"", any4xx),
        ("HEAD update to unknown", "PUT", f"{x}/commit/HEAD/?head={unknown}", rt, b"", any4xx),
        ("HEAD update without head", "PUT", f"{x}/commit/HEAD/", rt, b"", any4xx),
        ("fs-id-list garbage head", "GET", f"{x}/fs-id-list/?server-head=zzz", rt, None,
         any4xx),
        ("fs-id-list unknown head", "GET", f"{x}/fs-id-list/?server-head={unknown}", rt, None,
         any4xx),
        ("fs-id-list without head", "GET", f"{x}/fs-id-list/", rt, None, any4xx),
        ("fs-id-list garbage client-head", "GET",
         f"{x}/fs-id-list/?server-head={head}&client-head=zz", rt, None, any4xx),
        # non-JSON and wrongly shaped bodies
        ("check-fs not JSON", "POST", f"{x}/check-fs/", rt, b"not json", any4xx),
        ("check-fs object", "POST", f"{x}/check-fs/", rt, b'{"a": 1}', any4xx),
        ("check-fs empty body", "POST", f"{x}/check-fs/", rt, b"", any4xx),
        ("check-blocks not JSON", "POST", f"{x}/check-blocks/", rt, b"[\"abc", any4xx),
        ("check-blocks number", "POST", f"{x}/check-blocks/", rt, b"42", any4xx),
        ("check-blocks binary", "POST", f"{x}/check-blocks/", rt, b"\xff\xfe\x00", any4xx),
        ("head-commits-multi not JSON", "POST", "/seafhttp/repo/head-commits-multi/", {},
         b"nope", any4xx),
        ("head-commits-multi object", "POST", "/seafhttp/repo/head-commits-multi/", {},
         b'{"a": 1}', any4xx),
        ("head-commits-multi binary", "POST", "/seafhttp/repo/head-commits-multi/", {},
         b"\x80\x81", any4xx),
        ("pack-fs not JSON", "POST", f"{x}/pack-fs/", rt, b"nope", any4xx),
        ("pack-fs unknown id", "POST", f"{x}/pack-fs/", rt, json.dumps([unknown]).encode(),
         any4xx),
        # recv-fs packs
        ("recv-fs truncated object", "POST", f"{x}/recv-fs/", rt, good_pack[:-7], any4xx),
        ("recv-fs truncated header", "POST", f"{x}/recv-fs/", rt, good_pack[:30], any4xx),
        ("recv-fs id/content mismatch", "POST", f"{x}/recv-fs/", rt,
         make_pack({unknown: hello_z}), any4xx),
        ("recv-fs not zlib", "POST", f"{x}/recv-fs/", rt,
         make_pack({sha1_hex(b"plain"): b"plain"}), any4xx),
        ("recv-fs non-hex id", "POST", f"{x}/recv-fs/", rt, make_pack({"z" * 40: hello_z}),
         any4xx),
        ("recv-fs not a pack", "POST", f"{x}/recv-fs/", rt, b"garbage", any4xx),
        # blocks
        ("block content != id", "PUT", f"{x}/block/{sha1_hex(b'a')}", rt, b"b", any4xx),
        ("block id not hex", "PUT", f"{x}/block/not-hex", rt, b"b", any4xx),
        ("GET block id not hex", "GET", f"{x}/block/xyz", rt, None, any4xx),
        ("GET unknown block", "GET", f"{x}/block/{unknown}", rt, None, (404,)),
        # commits
        ("commit id != content", "PUT", f"{x}/commit/{unknown}", rt, commit_json, any4xx),
        ("commit not JSON", "PUT", f"{x}/commit/{PLAIN['commit_id']}", rt, b"{nope", any4xx),
        ("commit JSON without fields", "PUT", f"{x}/commit/{PLAIN['commit_id']}", rt, b"{}",
         any4xx),
        ("commit id not hex", "PUT", f"{x}/commit/zzzz", rt, commit_json, any4xx),
        # quota deltas (a small negative delta is legitimate, spec 6.2/9.2)
        ("quota delta overflow", "GET", f"{x}/quota-check/?delta={big}", rt, None, any4xx),
        ("quota delta negative overflow", "GET", f"{x}/quota-check/?delta=-{big}", rt, None,
         any4xx),
        ("quota delta not a number", "GET", f"{x}/quota-check/?delta=abc", rt, None, any4xx),
        ("quota delta missing", "GET", f"{x}/quota-check/", rt, None, any4xx),
        ("quota delta -1 (legit)", "GET", f"{x}/quota-check/?delta=-1", rt, None, (200,)),
        ("permission-check bad op", "GET", f"{x}/permission-check/?op=destroy", rt, None,
         any4xx),
        # path traversal
        ("PUT p=/../..", "PUT", f"/api/v1/repos/{w.x}/file?p=/../../../../../../tmp/{sentinel}",
         tk, b"x", any4xx),
        ("PUT p=../", "PUT", f"/api/v1/repos/{w.x}/file?p=../{sentinel}", tk, b"x", any4xx),
        ("PUT p=/a/../../", "PUT", f"/api/v1/repos/{w.x}/file?p=/a/../../{sentinel}", tk, b"x",
         any4xx),
        ("PUT p with NUL", "PUT", f"/api/v1/repos/{w.x}/file?p=/a%00b.txt", tk, b"x", any4xx),
        ("PUT p empty", "PUT", f"/api/v1/repos/{w.x}/file?p=", tk, b"x", any4xx),
        ("PUT p=/", "PUT", f"/api/v1/repos/{w.x}/file?p=/", tk, b"x", any4xx),
        ("PUT without p", "PUT", f"/api/v1/repos/{w.x}/file", tk, b"x", any4xx),
        ("GET p=/../", "GET", f"/api/v1/repos/{w.x}/file?p=/../../../../etc/passwd", tk, None,
         any4xx),
        ("DELETE p=/..", "DELETE", f"/api/v1/repos/{w.x}/file?p=/..", tk, None, any4xx),
        ("GET dir p=/../", "GET", f"/api/v1/repos/{w.x}/dir?p=/../..", tk, None, any4xx),
        ("block id ../ (encoded)", "GET", f"{x}/block/..%2F..%2F..%2Fetc%2Fpasswd", rt, None,
         any4xx),
        ("block id ../ (raw)", "GET", f"{x}/block/../../../../etc/passwd", rt, None, any4xx),
        ("repo id ../ (encoded)", "GET", "/seafhttp/repo/..%2F..%2Fetc/commit/HEAD", rt, None,
         any4xx),
        ("commit id ../ (encoded)", "GET", f"{x}/commit/..%2F..%2F{w.y}%2Fcommits", rt, None,
         any4xx),
    ]
    failures: list[str] = []
    for name, method, path, hdrs, body, allowed in table:
        try:
            r = raw(srv, method, path, hdrs, body)
        except (OSError, http.client.HTTPException) as exc:
            failures.append(f"{name}: {method} {path}: connection error {exc!r}")
            continue
        _check(failures, f"{name}: {method} {path}", r, allowed)

    leaked = [p for p in (Path("/tmp") / sentinel, srv.data_dir.parent / sentinel) if p.exists()]
    leaked += list(srv.data_dir.rglob(f"*{sentinel}*"))
    if leaked:
        failures.append(f"path traversal wrote files: {leaked}")
    tree = w.api.tree(w.x, w.rx)
    if set(tree) != {"/secret.txt"}:
        failures.append(f"library X changed by malformed requests: {sorted(tree)}")
    if srv.proc is None or srv.proc.poll() is not None:
        failures.append("server died")
    r = raw(srv, "GET", "/api2/ping/")
    if r.status != 200:
        failures.append(f"server unhealthy afterwards: {r}")
    if "Traceback" in srv.log_tail(10**7):
        failures.append("server log contains a Traceback (see the artifacts' server.log)")
    assert not failures, f"{len(failures)} of {len(table)} malformed requests mishandled:\n" + (
        "\n".join(failures)
    )
