"""UnlockedKeys: per-session file keys of encrypted libraries expire and go on logout."""

from __future__ import annotations

from sesamedisk.domain import crypto
from sesamedisk.web.unlocks import UnlockedKeys

LIBRARY = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def _key() -> crypto.FileKey:
    enc = crypto.make_encryption(LIBRARY, "pw")
    return crypto.unlock(LIBRARY, "pw", enc)


def test_a_key_is_bound_to_its_token_and_expires() -> None:
    now = [100.0]
    keys = UnlockedKeys(ttl=60, clock=lambda: now[0])
    key = _key()
    keys.remember("token-a", LIBRARY, key)
    assert keys.get("token-a", LIBRARY) is key
    assert keys.get("token-b", LIBRARY) is None
    assert keys.get("token-a", "another-library") is None
    now[0] += 59.9
    assert keys.get("token-a", LIBRARY) is key
    now[0] += 0.1
    assert keys.get("token-a", LIBRARY) is None


def test_logout_forgets_only_that_sessions_keys() -> None:
    keys = UnlockedKeys()
    key = _key()
    keys.remember("token-a", LIBRARY, key)
    keys.remember("token-b", LIBRARY, key)
    keys.forget_token("token-a")
    assert keys.get("token-a", LIBRARY) is None
    assert keys.get("token-b", LIBRARY) is key
