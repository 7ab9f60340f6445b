"""Which /seafhttp routes take the repo token from which header, in-process on both databases.

The sync routes read only `Seafile-Repo-Token`; the §10 reads (block-map, accessible-repos)
also take `Authorization: Token <repo token>`, as newer Seafile fileservers do.
"""

from __future__ import annotations

from tests.plugins.app import App

ALICE = "alice@example.com"


def test_sync_routes_take_only_the_seafile_repo_token_header(app: App) -> None:
    info = app.create_library(app.login(ALICE))
    repo, token = str(info["repo_id"]), str(info["token"])
    for path, params in ((f"/seafhttp/repo/{repo}/commit/HEAD", {}),
                         (f"/seafhttp/repo/{repo}/permission-check/", {"op": "download"})):
        accepted = app.client.get(path, params=params, headers={"Seafile-Repo-Token": token})
        assert accepted.status_code == 200, (path, accepted.text)
        refused = app.client.get(path, params=params,
                                 headers={"Authorization": f"Token {token}"})
        assert refused.status_code == 403, (path, refused.text)


def test_block_reads_take_either_header_and_prefer_seafile_repo_token(app: App) -> None:
    info = app.create_library(app.login(ALICE))
    repo, token = str(info["repo_id"]), str(info["token"])
    requests = ((f"/seafhttp/repo/{repo}/block-map/{'0' * 40}", {}),
                ("/seafhttp/accessible-repos/", {"repo_id": repo}))
    for path, params in requests:
        for headers in ({"Seafile-Repo-Token": token}, {"Authorization": f"Token {token}"},
                        {"Authorization": f"token  {token} "},
                        {"Seafile-Repo-Token": token, "Authorization": "Token wrong"}):
            response = app.client.get(path, params=params, headers=headers)
            assert response.status_code == 200, (path, headers, response.text)
        for headers in ({"Authorization": f"Bearer {token}"}, {"Authorization": "Token "},
                        {"Seafile-Repo-Token": "wrong", "Authorization": f"Token {token}"},
                        {}):
            response = app.client.get(path, params=params, headers=headers)
            assert response.status_code == 403, (path, headers, response.text)
