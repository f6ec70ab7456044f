"""DmjyCreateTemplateOperator and DmjyDeleteTemplateOperator against the simulator over loopback HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.exceptions import DmjyNotFoundError, DmjyValidationError
from airflow_provider_dmjy.hooks.dmjy import DmjyHook
from airflow_provider_dmjy.operators.template import DmjyCreateTemplateOperator, DmjyDeleteTemplateOperator
from airflow_provider_dmjy.simulator.handle import SimulatorHandle
from tests.hostile_server import HostileServer, Reply, envelope

USER = "user_sim"


def create(**kwargs: Any) -> DmjyCreateTemplateOperator:
    kwargs.setdefault("task_id", "create_template")
    kwargs.setdefault("name", "保温杯模板")
    return DmjyCreateTemplateOperator(**kwargs)


def templates(sim: SimulatorHandle) -> dict[str, str]:
    return dict(sim.state()["templates"])


def test_create_returns_the_template_with_the_sent_fields(dmjy_conn: SimulatorHandle) -> None:
    result = create(
        user_id=USER, image_url="https://example.com/cup.jpg", product_name="杯", price=99, description="d"
    ).execute(context={})
    assert templates(dmjy_conn) == {result["id"]: "保温杯模板"}
    assert result["userId"] == USER and result["price"] == "99.00" and result["productName"] == "杯"
    assert result["createdAt"]


def test_reuse_returns_the_same_template_without_creating_another(dmjy_conn: SimulatorHandle) -> None:
    first = create(user_id=USER).execute(context={})
    second = create(user_id=USER).execute(context={})
    assert second["id"] == first["id"]
    assert second["userId"] == USER  # the listed template, not a bare create answer
    assert len(templates(dmjy_conn)) == 1
    assert dmjy_conn.state()["requests"]["POST /api/v1/templates"] == 1


def test_reuse_is_per_user(dmjy_conn: SimulatorHandle) -> None:
    mine = create(user_id=USER).execute(context={})
    theirs = create(user_id="someone_else").execute(context={})
    assert mine["id"] != theirs["id"] and len(templates(dmjy_conn)) == 2


def test_create_mode_always_creates(dmjy_conn: SimulatorHandle) -> None:
    first = create(user_id=USER, if_exists="create").execute(context={})
    second = create(user_id=USER, if_exists="create").execute(context={})
    assert first["id"] != second["id"] and len(templates(dmjy_conn)) == 2


def test_fail_mode_names_the_existing_template(dmjy_conn: SimulatorHandle) -> None:
    existing = create(user_id=USER).execute(context={})
    with pytest.raises(AirflowFailException, match=existing["id"]):
        create(user_id=USER, if_exists="fail").execute(context={})
    assert len(templates(dmjy_conn)) == 1
    # With no namesake, fail mode creates.
    assert create(user_id=USER, name="other", if_exists="fail").execute(context={})["name"] == "other"


def test_if_exists_is_checked_at_parse_time() -> None:
    with pytest.raises(ValueError, match="if_exists"):
        create(user_id=USER, if_exists="overwrite")


def test_user_id_defaults_to_the_connection_extra(
    dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", dmjy_conn.conn_uri + "?user_id=team_a")
    result = create().execute(context={})
    assert result["userId"] == "team_a"
    assert create().execute(context={})["id"] == result["id"]


def test_user_id_defaults_to_the_accounts_user_id(dmjy_conn: SimulatorHandle, hook: DmjyHook) -> None:
    result = create().execute(context={})
    account_user = hook.get_account()["userId"]
    assert result["userId"] == account_user and templates(dmjy_conn) == {result["id"]: "保温杯模板"}


def test_the_connection_extra_is_used_without_reading_the_account(
    dmjy_conn: SimulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", dmjy_conn.conn_uri + "?user_id=team_a")
    create().execute(context={})
    assert "GET /api/v1/account" not in dmjy_conn.state()["requests"]


def test_one_hook_reads_the_account_once_for_many_templates(dmjy_conn: SimulatorHandle) -> None:
    hook = DmjyHook()
    try:
        for n in range(5):
            op = create(task_id=f"t{n}", name=f"模板{n}")
            op.hook = hook  # type: ignore[misc]  # one hook for all: as a task reusing its hook
            op.execute(context={})
    finally:
        hook.close()
    state = dmjy_conn.state()
    assert state["requests"]["GET /api/v1/account"] == 1 and state["requests"]["POST /api/v1/templates"] == 5
    assert len(set(templates(dmjy_conn))) == 5


def test_an_account_without_a_user_id_fails_before_any_template_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with HostileServer() as server:
        conn = {"conn_type": "dmjy", "login": "mk_k", "password": "s", "host": server.base_url}
        monkeypatch.setenv("AIRFLOW_CONN_DMJY_DEFAULT", json.dumps(conn))
        server.route("GET", "/api/v1/account", Reply(200, envelope({"balance": 5, "userId": ""})))
        with pytest.raises(DmjyValidationError, match="user_id") as info:
            create().execute(context={})
        assert isinstance(info.value, AirflowFailException) and "usable userId" in str(info.value)
        assert [seen.path for seen in server.seen()] == ["/api/v1/account"]


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"name": "  "}, "name"),
        ({"image_url": "ftp://example.com/a.jpg"}, "image_url"),
        ({"price": float("nan")}, "price"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    dmjy_conn: SimulatorHandle, kwargs: dict[str, Any], argument: str
) -> None:
    with pytest.raises(DmjyValidationError, match=argument) as info:
        create(user_id=USER, **kwargs).execute(context={})
    assert isinstance(info.value, AirflowFailException) and info.value.argument == argument
    assert dmjy_conn.state()["requests"] == {}


@pytest.mark.parametrize("if_exists", ["reuse", "create"])
def test_ambiguous_create_is_reconciled_to_one_template(dmjy_conn: SimulatorHandle, if_exists: str) -> None:
    dmjy_conn.inject_fault(method="POST", path="/api/v1/templates", after_commit=True, drop_connection=True)
    result = create(user_id=USER, if_exists=if_exists).execute(context={})
    assert templates(dmjy_conn) == {result["id"]: "保温杯模板"}
    assert dmjy_conn.state()["requests"]["POST /api/v1/templates"] == 1


def test_ambiguous_create_that_did_not_apply_is_sent_again(dmjy_conn: SimulatorHandle) -> None:
    # Dropped before the server acted: the lookup finds nothing, so the operator creates once more.
    dmjy_conn.inject_fault(method="POST", path="/api/v1/templates", drop_connection=True)
    result = create(user_id=USER).execute(context={})
    assert templates(dmjy_conn) == {result["id"]: "保温杯模板"}
    assert dmjy_conn.state()["requests"]["POST /api/v1/templates"] == 2


def test_ambiguous_create_in_create_mode_ignores_an_older_namesake(dmjy_conn: SimulatorHandle) -> None:
    older = create(user_id=USER).execute(context={})
    dmjy_conn.inject_fault(method="POST", path="/api/v1/templates", drop_connection=True)
    result = create(user_id=USER, if_exists="create").execute(context={})
    assert result["id"] != older["id"] and len(templates(dmjy_conn)) == 2


def test_delete(dmjy_conn: SimulatorHandle) -> None:
    created = create(user_id=USER).execute(context={})
    op = DmjyDeleteTemplateOperator(task_id="delete", template_id=created["id"])
    assert op.execute(context={}) == created["id"]
    assert templates(dmjy_conn) == {}


def test_delete_missing_ok_succeeds(dmjy_conn: SimulatorHandle) -> None:
    assert DmjyDeleteTemplateOperator(task_id="d", template_id="tpl_nope").execute(context={}) == "tpl_nope"


def test_delete_missing_fails_when_not_ok(dmjy_conn: SimulatorHandle) -> None:
    op = DmjyDeleteTemplateOperator(task_id="d", template_id="tpl_nope", missing_ok=False)
    with pytest.raises(DmjyNotFoundError) as info:
        op.execute(context={})
    assert isinstance(info.value, AirflowFailException)


def test_template_fields() -> None:
    assert set(DmjyCreateTemplateOperator.template_fields) == {
        "name",
        "user_id",
        "image_url",
        "description",
        "product_name",
        "price",
        "dmjy_conn_id",
    }
    assert tuple(DmjyDeleteTemplateOperator.template_fields) == ("template_id", "dmjy_conn_id")


def test_dag_run_reuses_the_template(dmjy_conn: SimulatorHandle, load_dag: Callable[[str, str], Any]) -> None:
    dag = load_dag(
        "dmjy_template_reuse",
        """
        import pendulum
        from airflow.sdk import DAG
        from airflow_provider_dmjy.operators.template import DmjyCreateTemplateOperator

        with DAG("dmjy_template_reuse", schedule=None, start_date=pendulum.datetime(2025, 1, 1)) as dag:
            first = DmjyCreateTemplateOperator(
                task_id="first", name="{{ dag.dag_id }}-tpl", user_id="user_sim", price="19.90"
            )
            second = DmjyCreateTemplateOperator(
                task_id="second", name="{{ dag.dag_id }}-tpl", user_id="user_sim", if_exists="reuse"
            )
            first >> second
        """,
    )
    run = dag.test()
    assert str(run.state) == "success"
    assert list(templates(dmjy_conn).values()) == ["dmjy_template_reuse-tpl"]
    assert dmjy_conn.state()["requests"]["POST /api/v1/templates"] == 1


# -- the documented examples run as written -----------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[3]


def _snippet(document: str, heading: str) -> str:
    """The first ```python block after ``heading`` in ``document`` (a path from the repository root)."""
    text = (REPO_ROOT / document).read_text(encoding="utf-8").split(heading, 1)[1]
    return text.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize(
    ("document", "heading"),
    [
        ("README.md", "### Product templates"),
        ("docs/operators.md", "## `DmjyCreateTemplateOperator` / `DmjyDeleteTemplateOperator`"),
    ],
)
def test_the_documented_template_example_runs_as_written(
    dmjy_conn: SimulatorHandle, document: str, heading: str
) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(_snippet(document, heading), document, "exec"), namespace)  # noqa: S102 - our own docs
    result = namespace["template"].execute(context={})
    assert result["id"] in templates(dmjy_conn) and result["userId"] and result["price"] == "99.00"
    assert {"id", "userId", "name", "imageUrl", "productName", "price", "createdAt"} <= set(result)
