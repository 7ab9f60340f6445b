"""A minimal driver of the sync protocol that does what seaf-daemon does, for HTTP tests."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from starlette.testclient import TestClient

from sesamedisk.domain import codec
from sesamedisk.domain.objects import Commit, FsObject
from sesamedisk.domain.pack import encode_pack

DEVICE = "852d27950a90cd257575b83f4a9dda2a74aab1ac"


@dataclass
class SyncDriver:
    """Talks /seafhttp for one library with one repo token."""

    client: TestClient
    repo_id: str
    token: str
    email: str

    @property
    def headers(self) -> dict[str, str]:
        """The repo-token header."""
        return {"Seafile-Repo-Token": self.token}

    def url(self, tail: str) -> str:
        """URL of a per-library endpoint."""
        return f"/seafhttp/repo/{self.repo_id}/{tail}"

    def head(self) -> str:
        """The server's head commit id."""
        response = self.client.get(self.url("commit/HEAD"), headers=self.headers)
        assert response.status_code == 200, response.text
        head: str = response.json()["head_commit_id"]
        return head

    def commit(self, commit_id: str) -> Commit:
        """A commit from the server."""
        response = self.client.get(self.url(f"commit/{commit_id}"), headers=self.headers)
        assert response.status_code == 200, response.text
        return codec.verify_commit(commit_id, response.content)

    def upload(self, root_id: str, parent: str, fs_records: list[tuple[str, bytes]],
               blocks: dict[str, bytes], description: str = "client change") -> str:
        """Upload a commit, its fs objects and blocks, then move HEAD; returns the commit id."""
        ctime = int(time.time())
        cid = codec.commit_id(root_id=root_id, creator=DEVICE, creator_name=self.email,
                              description=description, ctime=ctime)
        commit = Commit(commit_id=cid, root_id=root_id, repo_id=self.repo_id, creator=DEVICE,
                        creator_name=self.email, description=description, ctime=ctime,
                        parent_id=parent, repo_name="lib", repo_desc="",
                        device_name="unknown", client_version="8.0.10")
        h = self.headers
        assert self.client.get(self.url("permission-check/?op=upload&client_id=" + DEVICE
                                        + "&client_name=unknown"), headers=h).status_code == 200
        response = self.client.put(self.url(f"commit/{cid}"), content=codec.encode_commit(commit),
                                   headers=h)
        assert response.status_code == 200, response.text
        ids = [oid for oid, _ in fs_records]
        needed = self.client.post(self.url("check-fs/"), content=json.dumps(ids), headers=h)
        assert needed.status_code == 200, needed.text
        wanted = set(needed.json())
        if wanted:
            body = encode_pack([(oid, raw) for oid, raw in fs_records if oid in wanted])
            response = self.client.post(self.url("recv-fs/"), content=body, headers=h)
            assert response.status_code == 200, response.text
        missing = self.client.post(self.url("check-blocks/"), content=json.dumps(list(blocks)),
                                   headers=h).json()
        for block_id in missing:
            response = self.client.put(self.url(f"block/{block_id}"), content=blocks[block_id],
                                       headers=h)
            assert response.status_code == 200, response.text
        response = self.client.put(self.url(f"commit/HEAD/?head={cid}"), headers=h)
        assert response.status_code == 200, response.text
        return cid

    def fs_ids(self, server_head: str, client_head: str | None = None) -> list[str]:
        """fs-id-list for a head (optionally relative to a client head)."""
        query = f"fs-id-list/?server-head={server_head}"
        if client_head:
            query += f"&client-head={client_head}"
        response = self.client.get(self.url(query), headers=self.headers)
        assert response.status_code == 200, response.text
        ids: list[str] = response.json()
        return ids

    def block(self, block_id: str) -> bytes:
        """A block's bytes."""
        response = self.client.get(self.url(f"block/{block_id}"), headers=self.headers)
        assert response.status_code == 200, response.text
        return response.content


def record(obj: FsObject) -> tuple[str, bytes]:
    """(id, compressed bytes) of an fs object, as a pack record."""
    return codec.encode_fs_object(obj)
