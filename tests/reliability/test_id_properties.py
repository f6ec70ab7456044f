"""Property: every id that passes the check stays exactly one path segment on the wire.

The URL is built as the clients build it (``ClientConfig.url`` of the call's path), then
normalised as the HTTP libraries do before sending: ``requests`` (the sync client) through
``Request(...).prepare()``, aiohttp (the async client and the triggers) through ``yarl.URL``.
Both collapse ``.``/``..`` segments and resolve percent-encoding differently, which is how
``delete_video("..")`` once became ``DELETE /api/v1/``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
import yarl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_dmjy.client import calls
from airflow_provider_dmjy.client.config import ClientConfig
from airflow_provider_dmjy.client.validation import MAX_ID_LENGTH, check_resource_id
from airflow_provider_dmjy.exceptions import DmjyValidationError

CONFIG = ClientConfig(api_key="mk_key", api_secret="secret", base_url="http://127.0.0.1:8787/api/v1")
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Ids the check accepts: runs of [A-Za-z0-9_-] joined by single dots, up to the length limit.
accepted_ids = st.from_regex(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*", fullmatch=True).filter(
    lambda text: len(text) <= MAX_ID_LENGTH
)
#: Near misses: the characters that dot segments, separators and percent-encoding are made of.
tricky_ids = st.text(alphabet="./%2eEfF5Cc \t\n\\?#;:@a_-~\u00e9\uff0e", max_size=12)


def wire_paths(url: str) -> dict[str, str]:
    """The request path each HTTP library would send for ``url``."""
    sent_by_requests = requests.Request("GET", url).prepare().url
    assert sent_by_requests is not None
    sent_by_aiohttp = yarl.URL(url)  # what the async client passes to aiohttp
    return {
        "requests": urlsplit(sent_by_requests).path,
        "yarl raw": sent_by_aiohttp.raw_path,
        "yarl decoded": sent_by_aiohttp.path,
    }


def assert_one_segment(url: str, video_id: str) -> None:
    for library, path in wire_paths(url).items():
        assert path == f"{CONFIG.base_path}/videos/{video_id}", (library, path)
        assert path.rsplit("/", 1)[1] == video_id, (library, path)


def client_url(video_id: str) -> str:
    """The URL of ``get_video(video_id)`` as both clients build it (the id is checked here)."""
    return CONFIG.url(calls.get_video(video_id).path)


@pytest.mark.reliability(
    area="Secrets and the local disk",
    case="property: any id the check accepts, sent through requests and yarl (aiohttp)",
    expected="the path ends /videos/<id>: one segment, the id unchanged",
)
@PROPERTY
@given(video_id=accepted_ids)
@example(video_id="a.b")
@example(video_id="-")
@example(video_id="x" * MAX_ID_LENGTH)
def test_accepted_ids_stay_one_segment(video_id: str) -> None:
    assert check_resource_id("video_id", video_id) == video_id
    assert_one_segment(client_url(video_id), video_id)


@PROPERTY
@given(video_id=st.one_of(tricky_ids, st.text(max_size=40)))
@example(video_id="..")
@example(video_id=" .. ")
@example(video_id="%2e%2e")
@example(video_id="..%2F")
@example(video_id="\uff0e\uff0e")  # fullwidth dots: NFKC-normalised to ".." by some libraries
def test_any_text_is_refused_or_stays_one_segment(video_id: str) -> None:
    try:
        checked = check_resource_id("video_id", video_id)
    except DmjyValidationError as error:  # refused, and only ever with the package's own error
        refused = error
    else:
        assert checked == video_id
        assert_one_segment(client_url(video_id), video_id)
        return
    assert refused.field == "video_id"


@pytest.mark.parametrize("video_id", ["..", ".", "%2e%2e", "..%2F", "a/b"])
def test_the_oracle_catches_ids_that_leave_their_segment(video_id: str) -> None:
    # Not vacuous: put in the URL unchecked, each of these leaves its segment in some library.
    with pytest.raises(AssertionError):
        assert_one_segment(CONFIG.url(f"/videos/{video_id}"), video_id)
    with pytest.raises(DmjyValidationError):
        client_url(video_id)
