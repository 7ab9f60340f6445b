"""Streaming multipart/form-data reading: one part at a time, file contents never held whole."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from sesamedisk.errors import InvalidRequest, TooLarge

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MAX_FIELD_BYTES = 64 * 1024
"""Largest text field (parent_dir, relative_path, replace...) accepted in memory."""


@dataclass(frozen=True)
class Part:
    """The headers of one part: its form field name and, for a file, its file name."""

    name: str
    filename: str | None


def _text(raw: bytes) -> str:
    """Header bytes as text: UTF-8 as browsers and apps send it, else Latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class MultipartStream:
    """Pulls parts out of a push parser fed from a blocking byte iterator (a worker thread).

    Iterate `parts()`; inside the loop read the current part with `chunks()` (streamed) or
    `text()` (small fields). Whatever a caller leaves unread is skipped.
    """

    def __init__(self, source: Iterator[bytes], content_type: str) -> None:
        kind, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise InvalidRequest("the body must be multipart/form-data with a boundary")
        self._source = source
        self._events: deque[tuple[str, bytes]] = deque()
        self._exhausted = False
        self._in_part = False
        self._parser = MultipartParser(boundary, self._callbacks())

    def _callbacks(self) -> MultipartCallbacks:
        def event(kind: str) -> Callable[[], None]:
            return lambda: self._events.append((kind, b""))

        def data(kind: str) -> Callable[[bytes, int, int], None]:
            return lambda buf, start, end: self._events.append((kind, bytes(buf[start:end])))

        return {
            "on_part_begin": event("begin"), "on_header_field": data("field"),
            "on_header_value": data("value"), "on_header_end": event("header_end"),
            "on_headers_finished": event("headers_done"), "on_part_data": data("data"),
            "on_part_end": event("part_end"), "on_end": event("end"),
        }

    def _next(self) -> tuple[str, bytes]:
        while not self._events:
            if self._exhausted:
                raise InvalidRequest("the multipart body ended before its closing boundary")
            piece = next(self._source, None)
            if piece is None:
                self._exhausted = True
                continue
            try:
                self._parser.write(piece)
            except MultipartParseError as exc:
                raise InvalidRequest(f"malformed multipart body: {exc}") from exc
        return self._events.popleft()

    def _headers(self) -> Part:
        headers: dict[str, str] = {}
        field = value = b""
        while (kind := self._next())[0] != "headers_done":
            if kind[0] == "field":
                field += kind[1]
            elif kind[0] == "value":
                value += kind[1]
            elif kind[0] == "header_end":
                headers[_text(field).strip().lower()] = _text(value).strip()
                field = value = b""
        disposition, params = parse_options_header(headers.get("content-disposition", ""))
        if disposition != b"form-data" or b"name" not in params:
            raise InvalidRequest("a multipart part lacks Content-Disposition: form-data; name=")
        filename = params.get(b"filename")
        return Part(name=_text(params[b"name"]),
                    filename=None if filename is None else _text(filename))

    def parts(self) -> Iterator[Part]:
        """Each part's headers in body order; the body is checked to its closing boundary."""
        while True:
            if self._in_part:
                for _ in self.chunks():
                    pass
            kind, _ = self._next()
            if kind == "end":
                return
            if kind == "begin":
                part = self._headers()
                self._in_part = True
                yield part

    def chunks(self) -> Iterator[bytes]:
        """The rest of the current part's content, piece by piece as it arrives."""
        while self._in_part:
            kind, data = self._next()
            if kind == "data" and data:
                yield data
            elif kind == "part_end":
                self._in_part = False

    def text(self, limit: int = MAX_FIELD_BYTES) -> str:
        """The current part's content as text, refused beyond `limit` bytes."""
        value = bytearray()
        for piece in self.chunks():
            value += piece
            if len(value) > limit:
                raise TooLarge(f"a form field is larger than {limit} bytes")
        return _text(bytes(value))
