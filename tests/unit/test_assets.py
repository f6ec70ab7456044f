"""The ``dmjy://`` asset URIs: the normaliser's rules, and that Airflow itself applies them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_dmjy.assets import CONN_ID_PATTERN, AssetKind, asset_uri, sanitize_uri
from airflow_provider_dmjy.webhooks import account_asset_uri, asset_uri_for_event, videos_asset_uri

EXPECTED_FORM = "dmjy://<conn_id>/videos or dmjy://<conn_id>/account"


def normalise(uri: str) -> str:
    return urlunsplit(sanitize_uri(urlsplit(uri)))


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("dmjy://dmjy_default/videos", "dmjy://dmjy_default/videos"),
        ("dmjy://dmjy_default/account", "dmjy://dmjy_default/account"),
        ("dmjy://dmjy_default/videos/", "dmjy://dmjy_default/videos"),
        ("dmjy://dmjy_default/account//", "dmjy://dmjy_default/account"),
        ("DMJY://Shop-EU.prod/videos", "dmjy://Shop-EU.prod/videos"),  # the conn id keeps its case
        (f"dmjy://{'c' * 250}/videos", f"dmjy://{'c' * 250}/videos"),
    ],
)
def test_accepts_the_two_assets_of_a_connection(uri: str, expected: str) -> None:
    assert normalise(uri) == expected
    assert normalise(expected) == expected


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("dmjy://dmjy_default/other", "unknown path"),
        ("dmjy://dmjy_default/video", "unknown path"),
        ("dmjy://dmjy_default/Videos", "unknown path"),
        ("dmjy://dmjy_default/videos/123", "unknown path"),
        ("dmjy://dmjy_default//videos", "unknown path"),
        ("dmjy://dmjy_default", "unknown path"),
        ("dmjy://dmjy_default/", "unknown path"),
        ("dmjy:///videos", "names no connection"),
        ("dmjy:videos", "names no connection"),
        ("dmjy://key@dmjy_default/videos", "not a usable connection id"),
        ("dmjy://dmjy_default:443/videos", "not a usable connection id"),
        ("dmjy://my%20conn/videos", "not a usable connection id"),
        ("dmjy://caf\u00e9/videos", "not a usable connection id"),
        (f"dmjy://{'c' * 251}/videos", "not a usable connection id"),
        ("dmjy://dmjy_default/videos?status=completed", "no query string or fragment"),
        ("dmjy://dmjy_default/account#balance", "no query string or fragment"),
        ("https://dmjy_default/videos", "Not a DMJY asset URI"),
    ],
)
def test_refuses_anything_else_with_a_clear_error(uri: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as caught:
        normalise(uri)
    assert uri in str(caught.value) and EXPECTED_FORM in str(caught.value)


def test_helpers_build_uris_the_normaliser_accepts() -> None:
    assert (
        videos_asset_uri("dmjy_default")
        == asset_uri("dmjy_default", "videos")
        == "dmjy://dmjy_default/videos"
    )
    assert account_asset_uri("dmjy_default") == "dmjy://dmjy_default/account"
    assert asset_uri_for_event("shop.eu", "task.completed") == "dmjy://shop.eu/videos"
    assert asset_uri_for_event("shop.eu", "account.low_balance") == "dmjy://shop.eu/account"
    # One rule: a connection id the normaliser would refuse is refused when the URI is built.
    for build in (videos_asset_uri, account_asset_uri):
        with pytest.raises(ValueError, match="not a usable connection id"):
            build("key:secret@dmjy_default")
        with pytest.raises(ValueError, match="names no connection"):
            build("")


@settings(max_examples=200, deadline=None)
@given(conn_id=st.from_regex(CONN_ID_PATTERN, fullmatch=True), kind=st.sampled_from(["videos", "account"]))
def test_every_usable_connection_id_round_trips(conn_id: str, kind: AssetKind) -> None:
    uri = asset_uri(conn_id, kind)
    assert uri == f"dmjy://{conn_id}/{kind}" and normalise(uri) == uri


def test_airflow_registers_the_normaliser_for_the_scheme() -> None:
    try:  # Airflow >= 3.2: assets are the Task SDK runtime's business
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime as Manager
    except ImportError:  # Airflow 3.1
        from airflow.providers_manager import ProvidersManager as Manager  # type: ignore[assignment]
    assert Manager().asset_uri_handlers["dmjy"] is sanitize_uri


def test_airflow_applies_it_to_every_asset() -> None:
    from airflow.sdk import Asset

    assert Asset("dmjy://dmjy_default/videos").uri == "dmjy://dmjy_default/videos"
    assert Asset("dmjy://dmjy_default/account/").uri == "dmjy://dmjy_default/account"
    with pytest.raises(ValueError, match="unknown path"):
        Asset("dmjy://x/other")
    with pytest.raises(ValueError, match="no query string"):
        Asset("dmjy://x/videos?b=2&a=1")
    # Airflow drops a fragment, and credentials with a warning, before the normaliser sees the URI.
    assert Asset("dmjy://x/videos#top").uri == "dmjy://x/videos"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert Asset("dmjy://key:secret@x/videos").uri == "dmjy://x/videos"


def test_a_wrong_uri_is_a_dag_import_error(tmp_path: Path) -> None:
    try:  # Airflow >= 3.2
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    dag_file = tmp_path / "typo_dag.py"
    dag_file.write_text(
        textwrap.dedent(
            """
            from airflow.sdk import DAG, Asset

            with DAG("dmjy_asset_typo", schedule=[Asset("dmjy://dmjy_default/video")]):
                pass
            """
        )
    )
    bag = DagBag(dag_folder=str(dag_file))
    assert bag.dags == {}
    [error] = bag.import_errors.values()
    assert "ValueError: DMJY asset URI 'dmjy://dmjy_default/video' has an unknown path" in error


def test_the_normaliser_imports_nothing_from_airflow() -> None:
    # Airflow imports every provider's handler when it looks up any scheme, DAG parsing included.
    code = (
        "import sys\n"
        "import airflow_provider_dmjy.assets\n"
        "print('LOADED=' + ','.join(m for m in sys.modules"
        " if m.split('.')[0] == 'airflow' or m in ('airflow_provider_dmjy.client', 'aiohttp', 'requests')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout  # noqa: S603
    assert out.strip().splitlines()[-1] == "LOADED="
