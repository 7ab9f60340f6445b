"""Streaming writes into every replica at once; commit needs the write quorum."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from sesamedisk.adapters.objects.hashing import HashingWriter
from sesamedisk.adapters.objects.keys import validate_object_id
from sesamedisk.adapters.objects.verifying import content_matches
from sesamedisk.errors import InvalidRequest, Unavailable
from sesamedisk.ports.objects import ObjectKind, ObjectWriter

Live = list[tuple[str, ObjectWriter]]
RunAll = Callable[[Live, Callable[[ObjectWriter], None]], tuple[list[str], list[str]]]
"""run_all(writers, call) -> (names that succeeded, names that were unavailable)."""
Settle = Callable[[str, list[str]], None]
"""settle(object_id, acked): record the outcome; raises Unavailable below quorum."""


class ReplicatedObjectWriter(HashingWriter):
    """Writes each piece to every backend writer; a backend failing mid-stream is dropped.

    The bytes are checked against the id on commit (InvalidRequest if they do not match),
    so no replica ever publishes an object the store would refuse to read.
    """

    def __init__(self, kind: ObjectKind, writers: Live, *, quorum: int, run_all: RunAll,
                 settle: Settle) -> None:
        super().__init__()
        self._kind = kind
        self._live: Live | None = writers
        self._quorum = quorum
        self._run_all = run_all
        self._settle = settle
        self._collected: bytearray | None = None if kind is ObjectKind.BLOCK else bytearray()

    def _open(self) -> Live:
        if self._live is None:
            raise InvalidRequest("this object writer is already finished")
        return self._live

    def _run(self, live: Live, call: Callable[[ObjectWriter], None]) -> list[str]:
        try:
            acked, failed = self._run_all(live, call)
        except BaseException:
            self.abort()
            raise
        self._live = [(name, writer) for name, writer in live if name in acked]
        for name, writer in live:
            if name in failed:
                with contextlib.suppress(Exception):
                    writer.abort()
        return acked

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Hash and append `data` on every live backend (all done before this returns)."""
        live = self._open()
        view = self._take(data)
        if self._collected is not None:
            self._collected += view
        acked = self._run(live, lambda writer: writer.write(view))
        if len(acked) < self._quorum:
            self.abort()
            raise Unavailable(f"only {len(acked)} of {self._quorum} required backends are "
                              "still accepting the object")

    def commit(self, object_id: str) -> None:
        """Publish on every live backend; Unavailable when fewer than quorum acknowledge."""
        live = self._open()
        validate_object_id(object_id)
        if self._collected is None:
            matches = self.digest == object_id
        else:
            matches = content_matches(self._kind, object_id, bytes(self._collected))
        if not matches:
            self.abort()
            raise InvalidRequest(f"{self._kind.value} object {object_id} does not match "
                                 "its content")
        self._live = None
        self._collected = None
        try:
            acked, _ = self._run_all(live, lambda writer: writer.commit(object_id))
        except BaseException:
            for _, writer in live:
                with contextlib.suppress(Exception):
                    writer.abort()
            raise
        self._settle(object_id, acked)

    def abort(self) -> None:
        """Discard what was written on every backend."""
        live, self._live = self._live, None
        self._collected = None
        for _, writer in live or []:
            with contextlib.suppress(Exception):
                writer.abort()
