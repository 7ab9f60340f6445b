"""File keys of encrypted libraries unlocked for web access, held in this process's memory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from sesamedisk.domain import crypto
from sesamedisk.domain.records import Library, User
from sesamedisk.errors import LibraryLocked
from sesamedisk.services import libraries
from sesamedisk.web.auth import current_user, request_token
from sesamedisk.web.requests import deps_of

UNLOCK_SECONDS = 3600
"""How long an unlocked library stays usable by the session that unlocked it."""


class UnlockedKeys:
    """(api token, library id) -> file key, forgotten after `ttl` seconds or on logout."""

    def __init__(self, ttl: float = UNLOCK_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._clock = ttl, clock
        self._keys: dict[tuple[str, str], tuple[crypto.FileKey, float]] = {}
        self._lock = threading.Lock()

    def remember(self, token: str, library_id: str, key: crypto.FileKey) -> None:
        """Keep `key` for (token, library) until the time to live runs out."""
        with self._lock:
            self._keys[(token, library_id)] = (key, self._clock() + self._ttl)

    def get(self, token: str, library_id: str) -> crypto.FileKey | None:
        """The key if still unlocked, else None."""
        now = self._clock()
        with self._lock:
            found = self._keys.get((token, library_id))
            if found is None:
                return None
            if found[1] <= now:
                del self._keys[(token, library_id)]
                return None
            return found[0]

    def forget_token(self, token: str) -> None:
        """Drop every key unlocked by `token` (logout)."""
        with self._lock:
            for key in [k for k in self._keys if k[0] == token]:
                del self._keys[key]


def unlocked_keys(request: Request) -> UnlockedKeys:
    """The application's key holder."""
    keys: UnlockedKeys = request.app.state.unlocked_keys
    return keys


def remember_key(request: Request, library_id: str, key: crypto.FileKey) -> None:
    """Remember the key the request's session just unlocked."""
    unlocked_keys(request).remember(request_token(request), library_id, key)


def file_key_for(request: Request, library: Library) -> crypto.FileKey | None:
    """None for a plain library; the session's key for an encrypted one; else LibraryLocked."""
    if not library.encrypted:
        return None
    key = unlocked_keys(request).get(request_token(request), library.id)
    if key is None:
        raise LibraryLocked(f"library {library.id} is encrypted: unlock it with its password")
    return key


async def open_library(request: Request) -> tuple[User, Library, crypto.FileKey | None]:
    """The caller, the URL's library (read permission checked) and its key; 440 while locked."""
    user = await current_user(request)
    library = await run_in_threadpool(libraries.get_library, deps_of(request), user,
                                      request.path_params["repo_id"])
    return user, library, file_key_for(request, library)
