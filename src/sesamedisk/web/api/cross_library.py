"""Copy and move into another library for api2 and /api/v1, with this session's unlocked keys.

Both sides' keys come from the session's unlocked libraries (web/unlocks.py); the service
checks permissions first and answers LibraryLocked (440) for an encrypted side without one.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from sesamedisk.domain.records import User
from sesamedisk.services import cross_library
from sesamedisk.web.auth import request_token
from sesamedisk.web.requests import deps_of
from sesamedisk.web.unlocks import unlocked_keys


async def transfer_between(request: Request, user: User, src_repo: str,  # noqa: PLR0917
                           path: str, dst_repo: str, dst_dir: str, *, move: bool,
                           new_name: str | None = None) -> str:
    """Copy (or move) `path` of `src_repo` into `dst_dir` of `dst_repo`; the new path."""
    keys, token = unlocked_keys(request), request_token(request)
    return await run_in_threadpool(lambda: cross_library.transfer_between(
        deps_of(request), user, src_repo, path, dst_repo, dst_dir, move=move,
        src_key=keys.get(token, src_repo), dst_key=keys.get(token, dst_repo),
        new_name=new_name))
