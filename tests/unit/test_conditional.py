"""Conditional request rules (RFC 9110 §13): entity tags, HTTP dates and the 304/206 choice."""

from __future__ import annotations

import calendar
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import Headers

from sesamedisk.web.conditional import (
    AnyTag,
    EntityTag,
    Outcome,
    Preconditions,
    Validators,
    decide,
    file_etag,
    format_http_date,
    last_modified,
    parse_etag,
    parse_etag_list,
    parse_http_date,
    render_etag,
    strong_match,
    weak_match,
)

RFC_EXAMPLE = 784111777
"""Sun, 06 Nov 1994 08:49:37 GMT, the example of RFC 9110 §5.6.7."""
NOW_2025 = calendar.timegm((2025, 6, 1, 0, 0, 0))
LATEST_HTTP_DATE = calendar.timegm((9999, 12, 31, 23, 59, 59))
"""The last second an HTTP date can name: it has four year digits."""
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

etag_chars = st.sampled_from([chr(c) for c in (0x21, *range(0x23, 0x7F), *range(0x80, 0x100))])
entity_tags = st.builds(EntityTag, st.text(etag_chars, max_size=20), st.booleans())
ows = st.sampled_from(["", " ", "\t", "  \t"])
seconds = st.integers(0, LATEST_HTTP_DATE)


def _rfc850(at: int) -> str:
    parts = time.gmtime(at)
    return (f"{DAYS[parts.tm_wday]}, {parts.tm_mday:02d}-{MONTHS[parts.tm_mon - 1]}-"
            f"{parts.tm_year % 100:02d} {parts.tm_hour:02d}:{parts.tm_min:02d}:"
            f"{parts.tm_sec:02d} GMT")


def _asctime(at: int) -> str:
    parts = time.gmtime(at)
    return (f"{DAYS[parts.tm_wday][:3]} {MONTHS[parts.tm_mon - 1]} {parts.tm_mday:2d} "
            f"{parts.tm_hour:02d}:{parts.tm_min:02d}:{parts.tm_sec:02d} {parts.tm_year}")


def test_the_three_date_formats_of_the_rfc() -> None:
    for text in ("Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                 "Sun Nov  6 08:49:37 1994", " Sun, 06 Nov 1994 08:49:37 GMT\t"):
        assert parse_http_date(text, now=NOW_2025) == RFC_EXAMPLE, text
    assert format_http_date(RFC_EXAMPLE) == "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize("text", [
    "", "0", "yesterday", "Sun, 31 Feb 2021 00:00:00 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
    "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 1994 08:49:61 GMT",
    "sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 6 Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 0000 08:49:37 GMT", "Sun, \uff10\uff16 Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
    "Sun, 00 Nov 1994 08:49:37 GMT", "Sun Nov 6 08:49:37 1994",
])
def test_invalid_dates_are_none(text: str) -> None:
    assert parse_http_date(text, now=NOW_2025) is None


def test_a_two_digit_year_is_never_more_than_fifty_years_ahead() -> None:
    def year(yy: str) -> int:
        found = parse_http_date(f"Monday, 01-Jan-{yy} 00:00:00 GMT", now=NOW_2025)
        assert found is not None
        return time.gmtime(found).tm_year

    assert (year("94"), year("75"), year("76"), year("00"), year("25")) == (
        1994, 2075, 1976, 2000, 2025)


@given(seconds)
def test_formatted_dates_parse_back(at: int) -> None:
    assert parse_http_date(format_http_date(at)) == at
    assert parse_http_date(_asctime(at)) == at


@given(st.integers(calendar.timegm((1900, 1, 1, 0, 0, 0)), LATEST_HTTP_DATE))
def test_rfc850_dates_parse_back_near_now(at: int) -> None:
    assert parse_http_date(_rfc850(at), now=at) == at


@given(st.text())
def test_any_text_parses_or_is_none(text: str) -> None:
    found = parse_http_date(text)
    assert found is None or found <= LATEST_HTTP_DATE + 1  # 23:59:60 of the last day


@given(st.lists(entity_tags, max_size=6), st.data())
def test_etag_lists_parse_back(tags: list[EntityTag], data: st.DataObject) -> None:
    parts = [data.draw(ows)]
    for tag in tags:
        parts += [str(tag), data.draw(ows), ",", data.draw(ows)]
        if data.draw(st.booleans()):  # empty list members are allowed (RFC 9110 §5.6.1)
            parts += [",", data.draw(ows)]
    assert parse_etag_list("".join(parts)) == tuple(tags)


@given(st.text())
def test_any_text_is_a_list_star_or_rejected(text: str) -> None:
    found = parse_etag_list(text)
    assert found is None or found is AnyTag.ANY or all(
        isinstance(tag, EntityTag) for tag in found)


@pytest.mark.parametrize("text", [
    'abc', '"a" "b"', 'W/ "a"', '"a', 'w/"a"', '"a"b', '"a"; "b"', '"a\x7f"', '*, "a"',
    '"a,b', '"\x00"',
])
def test_malformed_etag_lists_are_rejected(text: str) -> None:
    assert parse_etag_list(text) is None


def test_star_and_single_tags() -> None:
    assert parse_etag_list(" * ") is AnyTag.ANY
    assert parse_etag_list("") == ()
    assert parse_etag('W/"x"') == EntityTag("x", weak=True)
    assert parse_etag(' "x" ') == EntityTag("x")
    assert parse_etag('"x", "y"') is None
    assert parse_etag("Sun, 06 Nov 1994 08:49:37 GMT") is None


def test_comparison_table_of_rfc_9110() -> None:
    """§8.8.3.2: W/"1" W/"1" weak only; W/"1" W/"2" neither; W/"1" "1" weak; "1" "1" both."""
    weak_one, weak_two, strong_one = EntityTag("1", True), EntityTag("2", True), EntityTag("1")
    cases = [(weak_one, weak_one, False, True), (weak_one, weak_two, False, False),
             (weak_one, strong_one, False, True), (strong_one, strong_one, True, True)]
    for one, other, strong, weak in cases:
        assert strong_match(one, other) is strong
        assert weak_match(one, other) is weak


def test_file_and_render_tags_differ() -> None:
    file_id = "a" * 40
    assert str(file_etag(file_id)) == f'"{file_id}"'
    assert str(render_etag(file_id, "thumb-256")) == f'W/"{file_id}.thumb-256"'
    assert not weak_match(file_etag(file_id), render_etag(file_id, "thumb-256"))
    assert str(file_etag('bad"id\n')) == '"badid"'  # never an unparsable header


def test_last_modified_is_never_in_the_future_nor_negative() -> None:
    assert last_modified(100, now=200) == 100
    assert last_modified(300, now=200) == 200
    assert last_modified(-5, now=200) == 0


def _decide(headers: dict[str, str], validators: Validators, *, ranged: bool = False) -> Outcome:
    return decide(Preconditions.of(Headers(headers)), validators, range_requested=ranged)


@given(entity_tags, st.lists(entity_tags, max_size=4), st.integers(0, 2 * 10**9),
       st.integers(0, 2 * 10**9), st.booleans())
def test_if_none_match_decides_before_if_modified_since(
        current: EntityTag, others: list[EntityTag], modified: int, since: int,
        ranged: bool) -> None:
    validators = Validators(current, modified)
    listed = ", ".join(str(tag) for tag in others)
    headers = {"if-none-match": listed, "if-modified-since": format_http_date(since),
               "if-range": str(current)}
    matched = any(weak_match(tag, current) for tag in others)
    outcome = _decide(headers, validators, ranged=ranged)
    assert (outcome is Outcome.NOT_MODIFIED) is matched
    with_current = {**headers, "if-none-match": f"{listed}, {current}" if listed else str(current)}
    assert _decide(with_current, validators, ranged=ranged) is Outcome.NOT_MODIFIED
    without_tags = {"if-modified-since": format_http_date(since)}
    assert (_decide(without_tags, validators) is Outcome.NOT_MODIFIED) is (modified <= since)


def test_if_none_match_star_and_malformed() -> None:
    validators = Validators(EntityTag("abc"), 100)
    future = format_http_date(10**9)
    assert _decide({"if-none-match": "*"}, validators) is Outcome.NOT_MODIFIED
    assert _decide({"if-none-match": "abc", "if-modified-since": future}, validators) \
        is Outcome.FULL
    assert _decide({"if-modified-since": "not a date"}, validators) is Outcome.FULL
    assert _decide({"if-modified-since": future}, Validators(EntityTag("abc"))) is Outcome.FULL
    several = Headers(raw=[(b"if-none-match", b'"x"'), (b"if-none-match", b'"abc"')])
    assert decide(Preconditions.of(several), validators, range_requested=False) \
        is Outcome.NOT_MODIFIED
    two_dates = Headers(raw=[(b"if-modified-since", future.encode())] * 2)
    assert decide(Preconditions.of(two_dates), validators, range_requested=False) \
        is Outcome.FULL


def test_if_range_needs_a_strong_match() -> None:
    validators = Validators(EntityTag("abc"), RFC_EXAMPLE)
    assert _decide({}, validators, ranged=True) is Outcome.PARTIAL
    assert _decide({"if-range": '"abc"'}, validators, ranged=True) is Outcome.PARTIAL
    assert _decide({"if-range": '"abc"'}, validators) is Outcome.FULL
    for stale in ('W/"abc"', '"abd"', format_http_date(RFC_EXAMPLE), "", '"abc", "abc"'):
        assert _decide({"if-range": stale}, validators, ranged=True) is Outcome.FULL, stale
    assert _decide({"if-range": '"abc"'}, Validators(EntityTag("abc", weak=True)),
                   ranged=True) is Outcome.FULL
    twice = Headers(raw=[(b"if-range", b'"abc"')] * 2)
    assert decide(Preconditions.of(twice), validators, range_requested=True) is Outcome.FULL


def test_presence() -> None:
    assert not Preconditions.of(Headers({})).present
    for name in ("if-none-match", "if-modified-since", "if-range"):
        assert Preconditions.of(Headers({name: ""})).present, name
