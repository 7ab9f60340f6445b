"""The preview cache's size cap: least recently used entries go first, cheaply and safely."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from sesamedisk.adapters.previews import cache as cache_module
from sesamedisk.adapters.previews.cache import FilePreviewCache
from sesamedisk.config import load_settings
from sesamedisk.ports.previews import MIB, CacheKey

LIBRARY = "0b5e3c2a-1111-4222-8333-444455556666"
ENTRY = 300


def _key(name: str, variant: str = "thumb-64.png") -> CacheKey:
    return CacheKey(LIBRARY, name.encode().hex().ljust(40, "0")[:40], variant)


def _on_disk(cache: FilePreviewCache) -> int:
    return sum(path.stat().st_size for path in cache.root.rglob("*") if path.is_file())


def _age(cache: FilePreviewCache, key: CacheKey, seconds_ago: float) -> None:
    path = cache.path_of(key)
    assert path is not None
    moment = time.time() - seconds_ago
    os.utime(path, (moment, moment))


def _present(cache: FilePreviewCache, *names: str) -> list[str]:
    return [name for name in names if cache.read(_key(name)) is not None]


def test_least_recently_used_entries_are_evicted_first(tmp_path: Path) -> None:
    cache = FilePreviewCache(tmp_path / "cache", max_bytes=1000)
    for age, name in ((30, "a"), (20, "b"), (10, "c")):
        cache.write(_key(name), name.encode() * ENTRY)
        _age(cache, _key(name), age)
    assert cache.read(_key("a")) == b"a" * ENTRY  # a is now the most recently used
    cache.write(_key("d"), b"d" * ENTRY)  # 1200 > 1000: down to 900, the oldest (b) goes
    assert not (cache.root / LIBRARY / _key("b").file_id[:2] / _key("b").file_id).exists(), \
        "an evicted entry's empty folders go too"
    assert _present(cache, "a", "b", "c", "d") == ["a", "c", "d"]
    for age, name in ((10, "c"), (5, "d"), (1, "a")):
        _age(cache, _key(name), age)
    cache.write(_key("e"), b"e" * ENTRY)  # c is now the least recently used
    assert _present(cache, "a", "c", "d", "e") == ["a", "d", "e"]
    assert cache.total_bytes() == _on_disk(cache) == 900


def test_the_cap_holds_after_every_write_without_walking_each_time(tmp_path: Path) -> None:
    cap = 100 * ENTRY
    cache = FilePreviewCache(tmp_path / "cache", max_bytes=cap)
    writes = 400
    for number in range(writes):
        cache.write(_key(f"n{number}"), b"x" * ENTRY)
        assert _on_disk(cache) <= cap
        assert cache.total_bytes() == _on_disk(cache)
    # One walk to count, then one per 10 % of the cap written (eviction down to 90 %).
    assert cache.walks <= 1 + writes // 10 + 1
    assert cache.walks >= 2, "the cap was enforced"


def test_no_cap_never_walks_on_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "RESCAN_EVERY_WRITES", 5)
    cache = FilePreviewCache(tmp_path / "cache")
    for number in range(50):
        cache.write(_key(f"n{number}"), b"y" * ENTRY)
    assert cache.walks == 0, "nothing to enforce, nothing to count"
    assert cache.total_bytes() == 50 * ENTRY
    assert cache.walks == 1, "counted when asked"


def test_the_total_is_recounted_now_and_then(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "RESCAN_EVERY_WRITES", 5)
    cache = FilePreviewCache(tmp_path / "cache", max_bytes=100 * ENTRY)
    for number in range(3):
        cache.write(_key(f"n{number}"), b"z" * ENTRY)
    gone = cache.path_of(_key("n0"))
    assert gone is not None
    gone.unlink()  # deleted by hand (or by another process sharing the folder)
    assert cache.total_bytes() == 3 * ENTRY
    for number in range(3, 8):
        cache.write(_key(f"n{number}"), b"z" * ENTRY)
    assert cache.total_bytes() == _on_disk(cache) == 7 * ENTRY
    assert cache.walks == 2


def test_writes_go_on_while_a_walk_runs_outside_the_lock(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = FilePreviewCache(tmp_path / "cache", max_bytes=100 * ENTRY)
    walked, release = threading.Event(), threading.Event()
    walk = cache._walk

    def slow_walk() -> list[cache_module._Entry]:
        entries = walk()
        walked.set()
        assert release.wait(10)
        return entries

    monkeypatch.setattr(cache, "_walk", slow_walk)
    first = threading.Thread(target=cache.write, args=(_key("a"), b"a" * ENTRY))
    first.start()  # the first write walks to count
    assert walked.wait(10)
    second = threading.Thread(target=cache.write, args=(_key("b"), b"b" * ENTRY))
    second.start()
    second.join(10)
    assert not second.is_alive(), "a write does not wait for a walk under way"
    assert cache.read(_key("b")) == b"b" * ENTRY
    assert first.is_alive()
    release.set()
    first.join(10)
    assert not first.is_alive()
    assert cache.walks == 1, "one walk at a time: the second write did not walk"
    assert cache.total_bytes() == _on_disk(cache) == 2 * ENTRY, "the walk missed b: added"


def test_a_restarted_cache_counts_what_is_there_and_stale_temp_files_go(tmp_path: Path) -> None:
    first = FilePreviewCache(tmp_path / "cache", max_bytes=1000)
    for age, name in ((30, "a"), (20, "b"), (10, "c")):
        first.write(_key(name), name.encode() * ENTRY)
        _age(first, _key(name), age)
    folder = first.root / LIBRARY
    stale, fresh = folder / ".tmp-crashed", folder / ".tmp-in-flight"
    stale.write_bytes(b"s" * 50)
    fresh.write_bytes(b"f" * 50)
    old = time.time() - 2 * cache_module.STALE_TEMP_SECONDS
    os.utime(stale, (old, old))

    second = FilePreviewCache(tmp_path / "cache", max_bytes=1000)
    second.write(_key("d"), b"d" * ENTRY)
    assert _present(second, "a", "b", "c", "d") == ["b", "c", "d"]
    assert not stale.exists()
    assert fresh.exists(), "a temp file being written is left alone"


def test_eviction_is_safe_for_readers(tmp_path: Path) -> None:
    cache = FilePreviewCache(tmp_path / "cache", max_bytes=1000)
    cache.write(_key("a"), b"a" * ENTRY)
    _age(cache, _key("a"), 60)
    path = cache.path_of(_key("a"))
    assert path is not None
    with path.open("rb") as reader:
        first = reader.read(10)
        for name in "bcd":
            cache.write(_key(name), name.encode() * ENTRY)
        assert cache.path_of(_key("a")) is None
        assert cache.read(_key("a")) is None
        assert first + reader.read() == b"a" * ENTRY, "an open reader reads on after eviction"
    cache.write(_key("a"), b"A" * ENTRY)  # its folder was removed: writing it again works
    assert cache.read(_key("a")) == b"A" * ENTRY


def test_preview_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "sesame.toml"
    config.write_text('[previews]\ncache_max_mb = 64\noffice_network_isolation = "required"\n')
    settings = load_settings(config)
    assert settings.previews.cache_max_mb * MIB == 64 * MIB
    assert settings.previews.office_network_isolation == "required"
    assert load_settings().previews.office_network_isolation == "best-effort"
    assert load_settings().previews.cache_max_mb == 2048
    monkeypatch.setenv("SESAMEDISK_PREVIEWS__CACHE_MAX_MB", "10")
    assert load_settings().previews.cache_max_mb == 10
    config.write_text('[previews]\noffice_network_isolation = "never"\n')
    with pytest.raises(ValidationError):
        load_settings(config)
