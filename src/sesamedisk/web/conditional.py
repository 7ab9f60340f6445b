"""HTTP conditional requests (RFC 9110 §13): entity tags, HTTP dates and the 304/206 choice.

Only GET and HEAD use them here. The order is RFC 9110 §13.2.2's: `If-None-Match` (weak
comparison, `*`, lists) decides 304 and, when present, `If-Modified-Since` is ignored; then
`If-Range` decides whether a `Range` is honoured (206) or the whole representation is sent.
Malformed fields never produce a 304: an unparsable `If-None-Match` matches nothing, an
invalid `If-Modified-Since` is ignored, an unparsable `If-Range` sends the whole file.

`If-Range` holding a date never matches: Last-Modified comes from an entry's mtime, which
sync clients set from their own file system, so it is not a strong validator (§13.1.5).
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from enum import Enum

from starlette.datastructures import Headers
from starlette.responses import Response

_ETAG_CHARS = "\x21\x23-\x7e\x80-\xff"
"""etagc of RFC 9110 §8.8.3: visible ASCII but DQUOTE, and obs-text."""
_LIST_MEMBER = re.compile(rf'[ \t]*(?:(W/)?"([{_ETAG_CHARS}]*)")?[ \t]*')
_SINGLE_TAG = re.compile(rf'[ \t]*(W/)?"([{_ETAG_CHARS}]*)"[ \t]*')
_UNSAFE_OPAQUE = re.compile(rf'[^{_ETAG_CHARS}]')

_DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAY = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_YEAR = "(?!00)[0-9]{4}"
"""Four digits, not 0000-0099: email.utils reads those as two-digit years (19xx or 20xx)."""
_TIME = "[0-9]{2}:[0-9]{2}:[0-9]{2}"
_HTTP_DATE = re.compile(
    rf"{_DAY}, [0-9]{{2}} {_MONTH} {_YEAR} {_TIME} GMT"  # IMF-fixdate
    rf"|{_LONG_DAY}, [0-9]{{2}}-{_MONTH}-(?P<two_digit_year>[0-9]{{2}}) {_TIME} GMT"  # RFC 850
    rf"|{_DAY} {_MONTH} [ 0-9][0-9] {_TIME} {_YEAR}")  # asctime
"""The exact shapes of RFC 9110 §5.6.7; email.utils alone also takes lower case, other zones."""
_LEAP_SECOND = re.compile(r"(?<=[0-9]{2}:[0-9]{2}:)60\b")


@dataclass(frozen=True)
class EntityTag:
    """An entity tag: the opaque part (without quotes) and whether it is weak."""

    opaque: str
    weak: bool = False

    def __str__(self) -> str:
        return f'{"W/" if self.weak else ""}"{self.opaque}"'


def file_etag(file_id: str) -> EntityTag:
    """The strong tag of a file's bytes: its content-addressed object id."""
    return EntityTag(_UNSAFE_OPAQUE.sub("", file_id))


def render_etag(file_id: str, variant: str) -> EntityTag:
    """A weak tag of something rendered from a file (thumbnail, page), never the file's own.

    Weak, because a render is equivalent but not byte-identical across renderer versions.
    """
    return EntityTag(_UNSAFE_OPAQUE.sub("", f"{file_id}.{variant}"), weak=True)


def weak_match(one: EntityTag, other: EntityTag) -> bool:
    """Weak comparison: the opaque parts are equal, weakness ignored."""
    return one.opaque == other.opaque


def strong_match(one: EntityTag, other: EntityTag) -> bool:
    """Strong comparison: both strong and the opaque parts equal."""
    return not one.weak and not other.weak and one.opaque == other.opaque


class AnyTag(Enum):
    """`*`: any current representation."""

    ANY = "*"


def parse_etag_list(value: str) -> tuple[EntityTag, ...] | AnyTag | None:
    """`*`, or the entity tags of a comma-separated list (empty members allowed); None if bad."""
    if value.strip(" \t") == "*":
        return AnyTag.ANY
    tags: list[EntityTag] = []
    position = 0
    while True:
        member = _LIST_MEMBER.match(value, position)
        assert member is not None  # every part of the pattern is optional
        if member.group(2) is not None:
            tags.append(EntityTag(member.group(2), weak=member.group(1) is not None))
        position = member.end()
        if position == len(value):
            return tuple(tags)
        if value[position] != ",":
            return None
        position += 1


def parse_etag(value: str) -> EntityTag | None:
    """A single entity tag (as If-Range holds one); None if `value` is not one."""
    found = _SINGLE_TAG.fullmatch(value)
    return None if found is None else EntityTag(found.group(2), weak=found.group(1) is not None)


def format_http_date(seconds: int) -> str:
    """IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`."""
    return formatdate(seconds, usegmt=True)


def _two_digit_year(year: int, now: float) -> int:
    """RFC 9110 §5.6.7: a year more than 50 years ahead is the latest past one instead."""
    this_year = time.gmtime(now).tm_year
    full = this_year - this_year % 100 + year
    return full - 100 if full > this_year + 50 else full


def parse_http_date(value: str, *, now: float | None = None) -> int | None:
    """Seconds since the epoch of an HTTP-date in any of its three formats; None if invalid.

    A leap second (`:60`) is the second after `:59`, as calendar.timegm counts it.
    """
    text = value.strip(" \t")
    shape = _HTTP_DATE.fullmatch(text)
    if shape is None:
        return None
    text, leap = _LEAP_SECOND.subn("59", text)
    try:
        parsed = parsedate_to_datetime(text)  # ValueError: 31 February, hour 24, day 0...
        if shape["two_digit_year"] is not None:
            parsed = parsed.replace(year=_two_digit_year(
                int(shape["two_digit_year"]), time.time() if now is None else now))
    except ValueError:
        return None
    return calendar.timegm(parsed.utctimetuple()) + leap


def last_modified(mtime: int, *, now: float | None = None) -> int:
    """The Last-Modified second of an entry: its mtime, never in the future nor before 1970.

    RFC 9110 §8.8.2.1: a modification time ahead of the server's clock is sent as now.
    """
    return max(0, min(mtime, int(time.time() if now is None else now)))


@dataclass(frozen=True)
class Validators:
    """What a response is validated by: its entity tag and, if it has one, Last-Modified."""

    etag: EntityTag
    last_modified: int | None = None


@dataclass(frozen=True)
class Preconditions:
    """The conditional header fields of a GET or HEAD request, as received."""

    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_range: str | None = None
    """None when absent; the empty string (which matches nothing) when sent twice."""

    @classmethod
    def of(cls, headers: Headers) -> Preconditions:
        """The fields of `headers`; several If-None-Match lines form one list (RFC 9110 §5.3)."""
        none_match = headers.getlist("if-none-match")
        since, if_range = headers.getlist("if-modified-since"), headers.getlist("if-range")
        return cls(if_none_match=", ".join(none_match) if none_match else None,
                   if_modified_since=since[0] if len(since) == 1 else None,
                   if_range=(if_range[0] if len(if_range) == 1 else "") if if_range else None)

    @property
    def present(self) -> bool:
        """True when any of the fields was sent."""
        return any(field is not None for field in (self.if_none_match, self.if_modified_since,
                                                    self.if_range))


def is_not_modified(preconditions: Preconditions, validators: Validators, *,
                    now: float | None = None) -> bool:
    """True when the client's copy is current: answer 304 (GET and HEAD only)."""
    if preconditions.if_none_match is not None:
        wanted = parse_etag_list(preconditions.if_none_match)
        if wanted is AnyTag.ANY:
            return True
        return wanted is not None and any(weak_match(tag, validators.etag) for tag in wanted)
    if preconditions.if_modified_since is None or validators.last_modified is None:
        return False
    since = parse_http_date(preconditions.if_modified_since, now=now)
    return since is not None and validators.last_modified <= since


def range_allowed(preconditions: Preconditions, validators: Validators) -> bool:
    """Whether a Range may be honoured: no If-Range, or one strongly matching the entity tag."""
    if preconditions.if_range is None:
        return True
    sent = parse_etag(preconditions.if_range)
    return sent is not None and strong_match(sent, validators.etag)


class Outcome(Enum):
    """What to answer a GET: 304, the whole representation (200) or the asked range (206)."""

    NOT_MODIFIED = 304
    FULL = 200
    PARTIAL = 206


def decide(preconditions: Preconditions, validators: Validators, *, range_requested: bool,
           now: float | None = None) -> Outcome:
    """The outcome of a GET or HEAD given its preconditions and the resource's validators.

    PARTIAL still has to be checked against the size (416 when nothing of it lies in range).
    """
    if is_not_modified(preconditions, validators, now=now):
        return Outcome.NOT_MODIFIED
    if range_requested and range_allowed(preconditions, validators):
        return Outcome.PARTIAL
    return Outcome.FULL


def not_modified(validators: Validators, cache_control: str) -> Response:
    """A 304 without a body, with the fields caches update from it (RFC 9110 §15.4.5)."""
    return Response(status_code=304, headers={"etag": str(validators.etag),
                                              "cache-control": cache_control})
