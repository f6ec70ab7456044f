"""Properties of the transport's pure parts, for arbitrary server behaviour (no network).

- Reading an answer (status 100..599, any headers, any bytes, or hostile JSON) raises only
  ``DmjyError`` subclasses, with a message of bounded size.
- The page walk ends and hands out each id once, whatever pages the server returns.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_dmjy.client import calls
from airflow_provider_dmjy.client.calls import Call, PageWalker
from airflow_provider_dmjy.client.responses import parse_body
from airflow_provider_dmjy.client.retry import CallAttempts
from airflow_provider_dmjy.exceptions import DmjyError
from tests.reliability.evidence import Evidence

CALLS = [
    Call("GET", "/account"),
    Call("POST", "/videos", json={"description": "d"}),
    Call("DELETE", "/videos/v"),
]
#: Longer than any honest error message, far shorter than any body.
MAX_MESSAGE_CHARS = 1500

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["INSUFFICIENT_BALANCE", "daily cap", "timestamp expired", "<html>", ""]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(["success", "data", "error", "code", "message", "x"]) | st.text(max_size=4),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=15,
)
envelopes = st.fixed_dictionaries(
    {"success": st.one_of(st.just(True), json_values)},
    optional={"data": json_values, "error": json_values, "code": json_values, "message": json_values},
)


def _dump(value: Any) -> bytes:
    try:
        return json.dumps(value).encode()
    except ValueError:  # integers beyond Python's str() digit limit
        return b"{}"


hostile_bodies = st.sampled_from(
    [
        b"[" * 100_000,  # deeper than any recursion limit
        b'{"success": true, "data": ' * 50_000,
        b'{"success": true, "data": {"n": ' + b"9" * 10_000 + b"}}",  # beyond int's digit limit
        b'{"success": true, "data": {"n": 1e999}}',
        b'{"success": true, "data": [1, 2]}',
        b'{"success": false, "error": {"code": ' + b"7" * 4000 + b', "message": {"a": [1]}}}',
        b'{"success": false, "message": "' + b"m" * 100_000 + b'"}',
        b"<" * 200_000,  # a regex trap for a naive tag stripper
        b"\xff\xfe\x00" * 10,
        b'{"success": true, "data": "\\ud800"}',
    ]
)
bodies = st.one_of(st.binary(max_size=300), envelopes.map(_dump), json_values.map(_dump), hostile_bodies)
headers = st.dictionaries(
    st.sampled_from(["Location", "Retry-After", "Date", "Content-Type"]) | st.text(max_size=10),
    st.one_of(
        st.text(max_size=40),
        st.sampled_from(
            ["http://[::1/x", "//evil.example:99999/", "nan", "1e309", "-5", "Mon, 99 Foo 99999"]
        ),
    ),
    max_size=4,
)


@pytest.mark.reliability(
    area="Input",
    case="property: any status 100..599, any headers, any bytes or hostile JSON as an answer",
    expected="only DmjyError subclasses, with a bounded message; a 2xx success gives a dict",
)
def test_reading_any_answer_raises_only_dmjy_errors(evidence: Evidence) -> None:
    raised: dict[str, int] = {}

    @settings(max_examples=400, deadline=None)
    @given(status=st.integers(100, 599), headers=headers, body=bodies, call=st.sampled_from(CALLS))
    def check(status: int, headers: dict[str, str], body: bytes, call: Call) -> None:
        for read in (
            lambda: parse_body(status, headers, body, call.method, "/api/v1" + call.path),
            lambda: CallAttempts(call, "/api/v1" + call.path).settle(status, headers, body, call.method, 0.0),
        ):
            try:
                data = read()
            except DmjyError as error:
                raised[type(error).__name__] = raised.get(type(error).__name__, 0) + 1
                message = str(error)
            else:
                assert isinstance(data, dict)
                continue
            assert len(message) < MAX_MESSAGE_CHARS

    check()
    evidence.message(f"errors raised, by class: {dict(sorted(raised.items()))}")


item = st.one_of(
    st.fixed_dictionaries({"id": st.sampled_from([f"v{i}" for i in range(12)])}),
    st.fixed_dictionaries({"id": st.one_of(st.none(), st.integers(), st.just(""))}),
    st.integers(),
    st.none(),
)
pagination = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.fixed_dictionaries(
        {},
        optional={
            "page": st.integers(-5, 10**9),
            "totalPages": st.one_of(
                st.integers(-5, 10**12), st.floats(), st.text(max_size=3), st.booleans(), st.none()
            ),
        },
    ),
)
pages = st.fixed_dictionaries(
    {}, optional={"tasks": st.one_of(st.lists(item, max_size=6), json_values), "pagination": pagination}
)


@pytest.mark.reliability(
    area="Time and memory",
    case="property: the page walk against any sequence of pages (lies, repeats, junk)",
    expected="ends within max_pages and ids+1 pages; each id once; never an unaddressable item",
)
def test_the_page_walk_ends_and_yields_each_id_once(evidence: Evidence) -> None:
    longest = [0]

    @settings(max_examples=400, deadline=None)
    @given(
        answers=st.lists(pages, min_size=1, max_size=8),
        honours_page=st.booleans(),
        max_pages=st.one_of(st.none(), st.integers(1, 30)),
    )
    def check(answers: list[dict[str, Any]], honours_page: bool, max_pages: int | None) -> None:
        walker = PageWalker("tasks", max_pages)
        fetched = 0
        yielded: list[str] = []
        while (page := walker.next_page) is not None:
            assert page == fetched + 1  # the client's own counter
            # A server that honours ``page`` serves its pages in order, then repeats the last one.
            index = min(page, len(answers)) - 1 if honours_page else fetched % len(answers)
            fetched += 1
            assert fetched <= (max_pages or calls.MAX_PAGES)
            for video in walker.take(answers[index]):
                # A string id, or a whole number (the models read it as its digits).
                item_id = video["id"] if isinstance(video, dict) else None
                assert isinstance(item_id, (str, int)) and not isinstance(item_id, bool)
                yielded.append(str(item_id))
        assert len(yielded) == len(set(yielded))
        assert fetched <= len(yielded) + 1  # every page but the last brought a new id
        longest[0] = max(longest[0], fetched)

    check()
    evidence.message(f"every walk ended; the longest read {longest[0]} pages")
