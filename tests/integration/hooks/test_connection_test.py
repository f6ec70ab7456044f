"""The connection list's "Test" button, through a real api-server app (in-process).

Both UIs (Airflow 3.1.8 and 3.3.2) test a connection from its row in the connection list, posting to
``POST /api/v2/connections/test`` the row as listed: ``""`` for a missing text, the masked password
``***`` and ``Number(port)``, which is ``0`` for a connection stored without a port. Airflow 3.3.1+
takes that 0 for another destination than the stored one and answers 400 (apache/airflow#73298);
the provider's form therefore shows the port field, and a connection with a port passes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any
from urllib.parse import urlsplit

import pytest
from packaging.version import Version

from airflow_provider_dmjy import get_provider_info
from airflow_provider_dmjy.hooks.connection import PORT_PLACEHOLDER, DmjyHookBase
from airflow_provider_dmjy.simulator.handle import SimulatorHandle

CONN_ID = "dmjy_list_test"
AIRFLOW = Version(version("apache-airflow"))
#: Versions whose test endpoint refuses the UI's port 0 (the check came with 3.3.1; fixed upstream by
#: apache/airflow#73298, in no release installed here). Raise the bound when a release fixes it.
PORT_ZERO_REFUSED = Version("3.3.1") <= AIRFLOW


@pytest.fixture(scope="module")
def api(airflow_db: None) -> Iterator[Any]:
    """A client of Airflow's own api-server app, logged in as an admin."""
    from fastapi.testclient import TestClient

    with pytest.MonkeyPatch.context() as patch:
        # The simple auth manager hands out an admin token from GET /auth/token.
        patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
        # Airflow 3.1 collects the plugins' apps once per process: collect them as the webhook
        # tests (tests/webhooks/conftest.py) need them, whichever module runs first.
        patch.setenv("AIRFLOW__DMJY__WEBHOOKS_ENABLED", "True")
        from airflow.api_fastapi.app import create_app

        with TestClient(create_app()) as client:
            token = client.get("/auth/token").json()["access_token"]
            client.headers["Authorization"] = f"Bearer {token}"
            yield client


@pytest.fixture(autouse=True)
def test_connection_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    """``[core] test_connection = Enabled``, read by the endpoint on each request."""
    monkeypatch.setenv("AIRFLOW__CORE__TEST_CONNECTION", "Enabled")


def store_connection(
    sim: SimulatorHandle, *, port: int | None, password: str | None = None, host: str | None = None
) -> None:
    """The ``dmjy`` connection as the UI's form saves it (a row of the metadata database)."""
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        session.execute(delete(Connection).where(Connection.conn_id == CONN_ID))
        session.add(
            Connection(
                conn_id=CONN_ID,
                conn_type="dmjy",
                host=host or sim.base_url,
                port=port,
                login=sim.api_key,
                password=password or sim.api_secret,
            )
        )


def list_row_test_body(api: Any) -> dict[str, Any]:
    """What the row's Test button posts, built from the row the connection list shows."""
    listed = api.get("/api/v2/connections", params={"connection_id_pattern": CONN_ID})
    assert listed.status_code == 200, listed.text
    (row,) = (c for c in listed.json()["connections"] if c["connection_id"] == CONN_ID)
    assert row["password"] == "***"  # the list never shows the secret: the button sends the mask
    return {
        "conn_type": row["conn_type"],
        "connection_id": row["connection_id"],
        "description": row["description"] or "",
        "extra": row["extra"] or "{}",
        "host": row["host"] or "",
        "login": row["login"] or "",
        "password": row["password"] or "",
        "port": row["port"] or 0,  # JavaScript's Number(null) is 0
        "schema": row["schema"] or "",
    }


def balance_message(sim: SimulatorHandle) -> str:
    return (
        f"Connected to {urlsplit(sim.base_url).netloc} as sim@example.com: balance 100000 credits (plan pro)"
    )


def test_a_connection_with_a_port_tests_green_with_the_balance(api: Any, dmjy_conn: SimulatorHandle) -> None:
    store_connection(dmjy_conn, port=urlsplit(dmjy_conn.base_url).port)
    answer = api.post("/api/v2/connections/test", json=list_row_test_body(api))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": True, "message": balance_message(dmjy_conn)}


def test_the_port_completes_a_base_url_without_one(api: Any, dmjy_conn: SimulatorHandle) -> None:
    # The simulator's URL with its port moved to the Port field: the provider puts it back.
    url = urlsplit(dmjy_conn.base_url)
    store_connection(dmjy_conn, port=url.port, host=f"{url.scheme}://{url.hostname}{url.path}")
    answer = api.post("/api/v2/connections/test", json=list_row_test_body(api))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": True, "message": balance_message(dmjy_conn)}


@pytest.mark.xfail(
    PORT_ZERO_REFUSED,
    reason="Airflow 3.3.1+ answers 400 'The host or port to test differs from the stored connection' "
    "to the UI's port 0 (apache/airflow#73298); a fixed release XPASSes: update docs/connection.md",
    raises=AssertionError,
    strict=True,
)
def test_a_connection_without_a_port_tests_green(api: Any, dmjy_conn: SimulatorHandle) -> None:
    store_connection(dmjy_conn, port=None)
    body = list_row_test_body(api)
    assert body["port"] == 0
    answer = api.post("/api/v2/connections/test", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"status": True, "message": balance_message(dmjy_conn)}


def test_a_refused_secret_is_reported_without_being_shown(api: Any, dmjy_conn: SimulatorHandle) -> None:
    store_connection(dmjy_conn, port=urlsplit(dmjy_conn.base_url).port, password="nope_nope_secret")
    answer = api.post("/api/v2/connections/test", json=list_row_test_body(api))
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] is False
    assert "401" in answer.json()["message"] and "nope_nope_secret" not in answer.text


def test_testing_is_refused_unless_enabled(
    api: Any, dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AIRFLOW__CORE__TEST_CONNECTION")  # the default: Disabled
    store_connection(dmjy_conn, port=urlsplit(dmjy_conn.base_url).port)
    answer = api.post("/api/v2/connections/test", json=list_row_test_body(api))
    assert answer.status_code == 403 and "disabled" in answer.json()["detail"]


def test_the_form_shows_the_port_field(api: Any) -> None:
    meta = api.get("/ui/connections/hook_meta")
    assert meta.status_code == 200, meta.text
    (dmjy,) = (hook for hook in meta.json() if hook["connection_type"] == "dmjy")
    fields = dmjy["standard_fields"]
    if fields is None and AIRFLOW.release < (3, 2):
        # Its providers manager logs "not fully initialized ... flask_appbuilder is not installed".
        pytest.skip("Airflow < 3.2 reads a hook's form only with flask_appbuilder: the generic form shows")
    assert fields["port"]["hidden"] is False
    assert fields["port"]["placeholder"] == PORT_PLACEHOLDER
    assert fields["url_schema"]["hidden"] is True
    assert fields["host"]["title"] == "Base URL"


def test_the_declared_form_matches_the_hooks() -> None:
    # Airflow >= 3.2 reads the provider info, older ones the hook's method: one form on both.
    declared = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    legacy = DmjyHookBase.get_ui_field_behaviour()
    assert declared["hidden-fields"] == legacy["hidden_fields"] == ["schema"]
    assert declared["relabeling"] == legacy["relabeling"]
    assert declared["placeholders"] == {k: v for k, v in legacy["placeholders"].items() if k != "extra"}


def test_the_cli_prints_the_balance_when_verbose(dmjy_conn: SimulatorHandle, tmp_path: Any) -> None:
    # The documented fallback: `airflow connections test <id>` prints only "Connection success!";
    # with -v it also shows the hook's log line, the message the UI would show.
    env = {
        **os.environ,
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW_CONN_DMJY_DEFAULT": dmjy_conn.conn_uri,
    }
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "connections", "test", "dmjy_default", "-v"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Connection success!" in output and balance_message(dmjy_conn) in output
    assert dmjy_conn.api_secret not in output
