"""Connection parsing and the reading of every error envelope the client accepts."""

from __future__ import annotations

import json

import pytest

from airflow_provider_dmjy.client.config import ClientConfig, build_base_url
from airflow_provider_dmjy.client.responses import error_from_response, parse_body, parse_retry_after
from airflow_provider_dmjy.exceptions import (
    DmjyApiError,
    DmjyAuthenticationError,
    DmjyBadRequestError,
    DmjyConfigurationError,
    DmjyDailyCapError,
    DmjyInsufficientBalanceError,
    DmjyInvalidResponseError,
    DmjyNotFoundError,
    DmjyPermissionError,
    DmjyRateLimitError,
    DmjyServerError,
)


@pytest.mark.parametrize(
    ("host", "port", "schema", "expected"),
    [
        (None, None, None, "https://dmjyai.vip/api/v1"),
        ("http://127.0.0.1:8787/api/v1", None, None, "http://127.0.0.1:8787/api/v1"),
        ("http://127.0.0.1", 8787, "api/v1", "http://127.0.0.1:8787/api/v1"),
        ("dmjyai.vip", None, None, "https://dmjyai.vip/api/v1"),
        ("localhost:8787", None, None, "https://localhost:8787/api/v1"),
        ("127.0.0.1:8787/api/v1", None, None, "https://127.0.0.1:8787/api/v1"),
        ("https://proxy.example.com/dmjy/api/v1/", None, None, "https://proxy.example.com/dmjy/api/v1"),
    ],
)
def test_base_url_from_connection_fields(
    host: str | None, port: int | None, schema: str | None, expected: str
) -> None:
    assert build_base_url(host, port, schema) == expected


def test_uri_extras_arrive_as_strings_and_are_coerced() -> None:
    config = ClientConfig.from_connection_parts(
        login="mk_k",
        password="s",
        extra={
            "auth_mode": "HEADER",
            "timeout": "12.5",
            "max_retries": "5",
            "sign_query_string": "true",
            "user_id": "u1",
        },
    )
    assert (
        config.auth_mode,
        config.timeout,
        config.max_retries,
        config.sign_query_string,
        config.user_id,
    ) == (
        "header",
        12.5,
        5,
        True,
        "u1",
    )


@pytest.mark.parametrize(
    ("login", "password", "extra", "fragment"),
    [
        ("", "s", {}, "API key"),
        ("k", None, {}, "API secret"),
        ("k", "s", {"auth_mode": "oauth"}, "auth_mode"),
        ("k", "s", {"timeout": "soon"}, "timeout"),
        ("k", "s", {"timeout": 0}, "timeout"),
        ("k", "s", {"timeout": -1}, "timeout"),
        ("k", "s", {"timeout": "inf"}, "timeout"),
        ("k", "s", {"timeout": "nan"}, "timeout"),
        ("k", "s", {"timeout": "1e400"}, "timeout"),
        ("k", "s", {"timeout": 601}, "timeout"),
        ("k", "s", {"max_retries": -1}, "max_retries"),
        ("k", "s", {"max_retries": 11}, "max_retries"),
        ("k", "s", {"max_retries": 2.5}, "max_retries"),
        ("k", "s", {"max_retries": "2.5"}, "max_retries"),
        ("k", "s", {"max_retries": True}, "max_retries"),
        ("k", "s", {"sign_query_string": "maybe"}, "sign_query_string"),
        ("k", "s", {"max_requests_per_second": -1}, "max_requests_per_second"),
        ("k", "s", {"max_requests_per_second": 0.05}, "max_requests_per_second"),
        ("k", "s", {"max_requests_per_second": 1001}, "max_requests_per_second"),
        ("k", "s", {"max_requests_per_second": "nan"}, "max_requests_per_second"),
        ("k", "s", {"max_requests_per_second": "fast"}, "max_requests_per_second"),
        ("k", "s", {"max_requests_per_second": True}, "max_requests_per_second"),
    ],
)
def test_bad_connection_settings(
    login: str, password: str | None, extra: dict[str, object], fragment: str
) -> None:
    with pytest.raises(DmjyConfigurationError, match=fragment):
        ClientConfig.from_connection_parts(login=login, password=password, extra=extra)


def test_limits_of_connection_settings_are_accepted() -> None:
    config = ClientConfig.from_connection_parts(
        login="k", password="s", extra={"timeout": "600", "max_retries": "10"}
    )
    assert (config.timeout, config.max_retries) == (600.0, 10)
    assert (
        ClientConfig.from_connection_parts(login="k", password="s", extra={"max_retries": 0}).max_retries == 0
    )


@pytest.mark.parametrize(
    ("extra", "rate"),
    [
        ({}, 10.0),  # the default budget
        ({"max_requests_per_second": "20"}, 20.0),
        ({"max_requests_per_second": 2.5}, 2.5),
        ({"max_requests_per_second": "0.1"}, 0.1),
        ({"max_requests_per_second": 1000}, 1000.0),
        ({"max_requests_per_second": 0}, 0.0),  # off
        ({"max_requests_per_second": " OFF "}, 0.0),
        ({"max_requests_per_second": ""}, 10.0),
    ],
)
def test_max_requests_per_second(extra: dict[str, object], rate: float) -> None:
    config = ClientConfig.from_connection_parts(login="k", password="s", extra=extra)
    assert config.max_requests_per_second == rate


@pytest.mark.parametrize(
    ("host", "fragment"),
    [
        ("javascript:alert(1)", "scheme 'javascript'"),
        ("mailto:ops@example.com", "scheme 'mailto'"),
        ("ftp://files.example.com/api/v1", "http"),
        ("file:///etc/passwd", "http"),
        ("http://[::1/api/v1", "not a valid URL"),
        ("http://example.com:port/api/v1", "not a valid URL"),
        ("http://user:hunter2@example.com/api/v1", "user name or password"),
        ("https://exa mple.com/api/v1", "whitespace"),
    ],
)
def test_bad_connection_hosts(host: str, fragment: str) -> None:
    with pytest.raises(DmjyConfigurationError, match=fragment) as info:
        ClientConfig.from_connection_parts(login="k", password="s", host=host)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("sim_secret\n", "control character"),
        ("sim_secret\r\nX-Evil: 1", "control character"),
        ("sim\x00secret", "control character"),
        ("sim\x7fsecret", "control character"),
        ("sim secret", "whitespace"),
        ("sim_sécret", "outside printable ASCII"),
        ("sim_secret\u2028", "whitespace"),
    ],
)
@pytest.mark.parametrize("auth_mode", ["header", "signature"])
def test_secrets_that_cannot_be_a_header_are_refused_without_echo(
    secret: str, problem: str, auth_mode: str
) -> None:
    with pytest.raises(DmjyConfigurationError, match=problem) as info:
        ClientConfig(api_key="mk_sim_key", api_secret=secret, auth_mode=auth_mode)
    assert "API secret" in str(info.value)
    for shown in (str(info.value), repr(info.value), repr(info.value.args)):
        assert "sim" not in shown


def test_base_url_without_query_or_fragment() -> None:
    with pytest.raises(DmjyConfigurationError, match="query or fragment"):
        ClientConfig(api_key="k", api_secret="s", base_url="https://example.com/api/v1?x=1")


def test_keys_that_cannot_be_a_header_are_refused_without_echo() -> None:
    with pytest.raises(DmjyConfigurationError, match="API key contains a control character") as info:
        ClientConfig(api_key="mk_sim_key\n", api_secret="s")
    assert "mk_sim_key" not in str(info.value)


def test_config_repr_hides_secret() -> None:
    assert "hunter2" not in repr(ClientConfig(api_key="mk", api_secret="hunter2"))


def _body(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_success_envelope() -> None:
    assert parse_body(200, {}, _body({"success": True, "data": {"id": "x"}}), "GET", "/p") == {"id": "x"}
    assert parse_body(200, {}, _body({"success": True}), "DELETE", "/p") == {}


def test_a_success_answer_is_scrubbed_of_the_credentials_in_every_string_keys_untouched() -> None:
    key, secret = "mk_live_ABCDEF123456", "s3cr3t/987654"
    data = {
        "id": "v1",
        "errorMessage": f"upstream rejected key={key} secret={secret}",
        "title": f"{key}{secret}",
        "progress": 40,
        "videoUrl": None,
        key: "a key that is the key stays: keys are the server's field names",
        "images": [{"url": f"https://cdn/{key}.jpg", "sizes": [1, f"{secret}"]}],
    }
    # A PHP server sends "/" as "\/": the scrub works on the decoded text.
    body = json.dumps({"success": True, "data": data}).replace("/", "\\/").encode()
    assert parse_body(200, {}, body, "GET", "/p", secrets=(key, secret)) == {
        "id": "v1",
        "errorMessage": "upstream rejected key=*** secret=***",
        "title": "******",
        "progress": 40,
        "videoUrl": None,
        key: "a key that is the key stays: keys are the server's field names",
        "images": [{"url": "https://cdn/***.jpg", "sizes": [1, "***"]}],
    }


@pytest.mark.parametrize(
    "payload",
    [
        {"success": False, "error": "bad thing"},
        {"success": False, "error": {"code": "X_CODE", "message": "bad thing"}},
        {"success": False, "message": "bad thing"},
    ],
)
def test_each_error_envelope_form(payload: dict[str, object]) -> None:
    error = error_from_response(400, {}, _body(payload), "POST", "/api/v1/videos")
    assert isinstance(error, DmjyBadRequestError)
    assert error.vendor_message == "bad thing"
    assert "400" in str(error) and "POST /api/v1/videos" in str(error)


def test_success_false_with_200_is_an_error() -> None:
    with pytest.raises(DmjyApiError) as info:
        parse_body(
            200, {}, _body({"success": False, "error": {"code": "NOT_FOUND", "message": "gone"}}), "GET", "/p"
        )
    assert info.value.code == "NOT_FOUND"


def test_html_from_a_proxy() -> None:
    html = b"<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"
    error = error_from_response(502, {}, html, "GET", "/api/v1/account")
    assert isinstance(error, DmjyServerError) and error.retryable
    assert "502 Bad Gateway" in str(error) and "<h1>" not in str(error)
    with pytest.raises(DmjyInvalidResponseError):
        parse_body(200, {}, html, "GET", "/api/v1/account")


@pytest.mark.parametrize(
    ("status", "code", "message", "headers", "cls", "retryable"),
    [
        (401, "INVALID_SIGNATURE", "bad signature", {}, DmjyAuthenticationError, False),
        (403, None, "IP not allowed", {}, DmjyPermissionError, False),
        (404, "NOT_FOUND", "no such task", {}, DmjyNotFoundError, False),
        (429, "RATE_LIMITED", "Too many requests", {"Retry-After": "3"}, DmjyRateLimitError, True),
        (429, "DAILY_LIMIT_REACHED", "Daily video limit reached", {}, DmjyDailyCapError, False),
        (429, None, "已达到每日上限", {}, DmjyDailyCapError, False),
        (402, "INSUFFICIENT_BALANCE", "balance 5 < 100", {}, DmjyInsufficientBalanceError, False),
        (400, "INSUFFICIENT_BALANCE", "balance 5 < 100", {}, DmjyInsufficientBalanceError, False),
        (500, "INTERNAL_ERROR", "boom", {}, DmjyServerError, True),
        (418, None, "teapot", {}, DmjyApiError, False),
    ],
)
def test_status_mapping(
    status: int, code: str | None, message: str, headers: dict[str, str], cls: type, retryable: bool
) -> None:
    error = error_from_response(
        status, headers, _body({"success": False, "error": {"code": code, "message": message}}), "GET", "/p"
    )
    assert type(error) is cls
    assert error.retryable is retryable
    if isinstance(error, DmjyRateLimitError):
        assert error.retry_after == 3


def test_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after(None) is None
    assert parse_retry_after("garbage") is None
    import email.utils
    import time

    assert 8 <= (parse_retry_after(email.utils.formatdate(time.time() + 10, usegmt=True)) or 0) <= 10
