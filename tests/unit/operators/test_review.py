"""The review operators (auto answers, the questions' markdown, validation) and what a review decides."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.standard.operators import hitl

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.operators.review import (
    DmjyReviewVideosOperator,
    DmjySpendApprovalOperator,
    markdown_text,
    markdown_url,
)
from airflow_provider_dmjy.operators.review_results import (
    ReviewDecision,
    product_results,
    publish_videos,
)

try:  # Airflow >= 3.3: a question parks the task in awaiting_input
    from airflow.sdk.exceptions import TaskAwaitingInput as Waiting  # type: ignore[attr-defined]
except ImportError:  # Airflow 3.1 and 3.2: it defers to HITLTrigger
    from airflow.exceptions import TaskDeferred as Waiting  # type: ignore[assignment,attr-defined]

PRODUCTS = [{"sku": "CUP-001", "name": "智能保温杯"}, {"sku": "LAMP-002", "name": "护眼台灯"}]
HOSTILE = "*[sale](javascript:alert(1))* <img src=x onerror=alert(1)> | `x` #1\nnext"


def _live_markup(body: str) -> list[str]:
    """Unescaped markup a hostile name could have made: a link to anything but the media server,
    an HTML tag."""
    return re.findall(r"(?<!\\)\]\((?!http://media\.example/)|(?<!\\)<\w", body)


def _video(index: int, status: str = "completed", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"task_{index}",
        "status": status,
        "videoUrl": f"http://media.example/v/{index}.mp4" if status == "completed" else None,
        "thumbnailUrl": f"http://media.example/t/{index}.jpg" if status == "completed" else None,
        "duration": 10,
        "aspectRatio": "9:16",
        "errorMessage": None if status == "completed" else "Rendering failed: bad image",
        "map_index": index,
        **extra,
    }


@pytest.fixture
def questions(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every question written for a person (none is, unless a test expects it)."""
    asked: list[dict[str, Any]] = []
    monkeypatch.setattr(hitl, "upsert_hitl_detail", lambda **detail: asked.append(detail))
    return asked


def _context() -> dict[str, Any]:
    ti = SimpleNamespace(id=uuid.uuid4(), map_index=-1)
    return {"task_instance": ti, "ti": ti}


def _spend(**kwargs: Any) -> DmjySpendApprovalOperator:
    arguments: dict[str, Any] = {"estimate_credits": 800, "products": PRODUCTS, **kwargs}
    return DmjySpendApprovalOperator(task_id="approve_spend", **arguments)


def _review(videos: Any, **kwargs: Any) -> DmjyReviewVideosOperator:
    return DmjyReviewVideosOperator(task_id="review_videos", products=PRODUCTS, videos=videos, **kwargs)


# -- the spend approval --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        {"review": "auto", "approval_above_credits": 0},
        {"review": "human", "approval_above_credits": 800},
        {"review": "human", "approval_above_credits": "1000"},
        {"review": "human", "estimate_credits": 0, "products": []},
    ],
    ids=["auto", "at-the-threshold", "below-a-rendered-threshold", "nothing-to-spend"],
)
def test_spend_is_approved_without_asking(
    arguments: dict[str, Any], questions: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    answer = _spend(**arguments).execute(_context())
    assert questions == []
    assert answer["chosen_options"] == ["Approve"] and answer["params_input"] == {}
    assert answer["responded_by_user"] is None and answer["responded_at"].tzinfo is not None
    assert "without asking" in capsys.readouterr().out


@pytest.mark.parametrize("threshold", [799, None])
def test_spend_above_the_threshold_asks_a_person(
    threshold: float | None, questions: list[dict[str, Any]]
) -> None:
    products = [*PRODUCTS, {"sku": "X|1", "name": HOSTILE}]
    with pytest.raises(Waiting):
        _spend(approval_above_credits=threshold, products=products).execute(_context())
    [question] = questions
    assert question["subject"] == "Spend 800 credits on 3 videos?"
    assert question["options"] == ["Approve", "Reject"] and question["params"] == {}
    body = question["body"]
    assert "**800 credits**" in body and "**3 videos**" in body
    assert "| CUP\\-001 | 智能保温杯 |" in body
    assert body.splitlines()[-1].startswith("| X\\|1 | \\*\\[sale\\]") and not _live_markup(body)
    assert body.count("\n| ") == 5  # the header, the separator, three products: nothing split a row


def test_spend_validation() -> None:
    with pytest.raises(ValueError, match="review must be one of"):
        _spend(review="manual")
    templated = _spend(review="{{ params.review }}")  # checked once rendered
    templated.review = "manual"
    with pytest.raises(AirflowFailException, match="review must be one of"):
        templated.execute(_context())
    with pytest.raises(AirflowFailException, match="estimate_credits"):
        _spend(estimate_credits="lots").execute(_context())
    with pytest.raises(AirflowFailException, match="approval_above_credits"):
        _spend(approval_above_credits=-1).execute(_context())
    with pytest.raises(AirflowFailException, match="products must be a list"):
        _spend(products="CUP-001", review="auto").execute(_context())
    with pytest.raises(AirflowFailException, match='"sku"'):
        _spend(products=[{"name": "no sku"}], review="auto").execute(_context())


# -- the video review ----------------------------------------------------------------------------


def test_review_auto_approves_with_empty_lists_without_asking(questions: list[dict[str, Any]]) -> None:
    answer = _review([_video(0), _video(1)], review="auto").execute(_context())
    assert questions == []
    assert answer["chosen_options"] == ["Approve"]
    assert answer["params_input"] == {"render_again": [], "drop": []}
    assert answer["responded_by_user"] is None


def test_review_with_no_video_at_all_does_not_ask(questions: list[dict[str, Any]]) -> None:
    answer = _review(None).execute(_context())  # the spend was rejected: no create ran
    assert questions == [] and answer["chosen_options"] == ["Approve"]


def test_review_body_shows_every_finished_video_and_lists_the_failed(
    questions: list[dict[str, Any]],
) -> None:
    products = [*PRODUCTS, {"sku": "EVIL-3", "name": HOSTILE}]
    videos = [_video(0, reused=True), _video(1, "failed"), _video(2)]
    with pytest.raises(Waiting):
        DmjyReviewVideosOperator(task_id="r", products=products, videos=videos).execute(_context())
    [question] = questions
    assert question["subject"] == "Review 2 product videos (1 without a video)"
    body = question["body"]
    assert "### CUP\\-001 智能保温杯" in body
    assert "[![CUP\\-001 智能保温杯](http://media.example/t/0.jpg)](http://media.example/v/0.mp4)" in body
    assert "[Preview the video](http://media.example/v/0.mp4) · 10 s · 9\\:16 · reused" in body
    assert "- **LAMP\\-002** 护眼台灯: Rendering failed\\: bad image" in body
    assert "http://media.example/v/1.mp4" not in body  # a failed render has no card
    # The hostile name is literal text: no link, no HTML, no heading, no second line.
    assert f"### EVIL\\-3 {markdown_text(HOSTILE)}" in body
    assert not _live_markup(body) and "\nnext" not in body
    # The form: the SKU lists, offered as multi-selects of this run's SKUs.
    params = question["params"]
    assert set(params) == {"render_again", "drop"}
    assert params["render_again"]["schema"]["examples"] == ["CUP-001", "LAMP-002", "EVIL-3"]
    assert params["drop"]["schema"]["examples"] == ["CUP-001", "EVIL-3"]


def _answer(options: list[str], **params_input: Any) -> dict[str, Any]:
    from datetime import datetime, timezone

    user = {"id": "7", "name": "reviewer"}
    return {
        "chosen_options": options,
        "params_input": params_input,
        "responded_at": datetime.now(timezone.utc),
        "responded_by_user": user,
    }


def test_a_persons_answer_is_checked_and_returned() -> None:
    operator = _review([_video(0), _video(1)])
    answer = operator.execute_complete(_context(), _answer(["Approve"], render_again=["LAMP-002"], drop=None))
    decision = ReviewDecision.from_answer(answer)
    assert decision == ReviewDecision(approved=True, render_again=("LAMP-002",), reviewer="reviewer")
    with pytest.raises(AirflowFailException, match="not in this run: LAMP-02"):
        _review([_video(0)]).execute_complete(
            _context(), _answer(["Approve"], render_again=[], drop=["LAMP-02"])
        )


def test_an_answer_with_both_options_fails_the_task() -> None:
    # Airflow 3.1's REST API does not hold an answer to multiple=False: "Reject" must not publish.
    for options in (["Reject", "Approve"], ["Approve", "Approve"]):
        with pytest.raises(AirflowFailException, match="choose exactly one of Approve or Reject"):
            _review([_video(0)]).execute_complete(_context(), _answer(options, render_again=[], drop=[]))


def test_review_validation() -> None:
    with pytest.raises(ValueError, match="options"):
        _review([], options=["Yes"])
    with pytest.raises(ValueError, match="review must be one of"):
        _review([], review="robot")
    with pytest.raises(AirflowFailException, match="products must be a list"):
        DmjyReviewVideosOperator(task_id="r", products="CUP-001", videos=[], review="auto").execute(
            _context()
        )


# -- markdown ------------------------------------------------------------------------------------


def test_markdown_url_keeps_only_http_links_and_encodes_what_would_end_them() -> None:
    assert markdown_url("https://cdn.example/a b(1).mp4?x=1") == "https://cdn.example/a%20b%281%29.mp4?x=1"
    for bad in ("javascript:alert(1)", "file:///etc/passwd", "/relative.mp4", "http://", None, 5):
        assert markdown_url(bad) is None


# -- what a review decides -----------------------------------------------------------------------


def test_a_decision_publishes_what_was_approved_and_not_held_back() -> None:
    decision = ReviewDecision(approved=True, render_again=("B",), drop=("C",), reviewer="ann")
    assert [decision.publishes(sku) for sku in "ABC"] == [True, False, False]
    assert decision.note("A") == "approved by ann" and decision.note("C") == "dropped by ann"
    assert not ReviewDecision(approved=False).publishes("A")
    assert ReviewDecision(approved=True).note("A") == "approved automatically (review=auto)"
    assert decision.render_again_conf({"variation": 2, "skus": [], "duration": 10}) == {
        "variation": 3,
        "skus": ["B"],
        "duration": 10,
    }
    assert ReviewDecision(approved=True).render_again_conf({"variation": 0}) is None
    assert ReviewDecision.from_answer(None) is None


def test_product_results_join_products_videos_files_and_review(tmp_path: Path) -> None:
    products = [{**PRODUCTS[0], "price": "99.00"}, PRODUCTS[1], {"sku": "TEA-4", "name": "茶"}]
    videos = [_video(0), _video(1, reused=True)]
    downloads = {"video_id": "task_0", "path": (tmp_path / "task_0.mp4").as_uri(), "thumbnail_path": None}
    decision = ReviewDecision(approved=True, drop=("LAMP-002",))
    results = product_results(
        products,
        videos,
        downloads,
        folder=tmp_path,
        credits_per_second=10,
        published=["task_0"],
        decision=decision,
    )
    cup, lamp, tea = results
    assert (cup.video_file, cup.credits, cup.published, cup.price) == ("task_0.mp4", 100.0, True, "99.00")
    assert (lamp.reused, lamp.credits, lamp.published, lamp.review_note) == (
        True,
        0.0,
        False,
        "dropped automatically (review=auto)",
    )
    assert (tea.status, tea.credits, tea.published, tea.video_id) == ("not created", 0.0, None, None)
    unarchived = product_results(products[:2], videos, (), decision=ReviewDecision(approved=True))
    assert unarchived[0].review_note.endswith("not published: the video was not archived")


def test_publishing_is_idempotent(tmp_path: Path) -> None:
    run, published = tmp_path / "run", tmp_path / "published"
    run.mkdir()
    (run / "task_0.mp4").write_bytes(b"\0\0\0\x18ftypmp42" * 100)
    (run / "task_0.jpg").write_bytes(b"jpeg")
    downloads = [
        {"video_id": "task_0", "path": str(run / "task_0.mp4"), "thumbnail_path": str(run / "task_0.jpg")}
    ]
    results = product_results(PRODUCTS, [_video(0), _video(1)], downloads, folder=run)
    decision = ReviewDecision(approved=True)
    records = publish_videos(results, decision, run, published, dag_id="d", run_id="r1")
    assert [record["sku"] for record in records] == ["CUP-001"]  # LAMP-002 was not archived
    assert sorted(path.name for path in published.iterdir()) == ["task_0.jpg", "task_0.json", "task_0.mp4"]
    assert (published / "task_0.mp4").read_bytes() == (run / "task_0.mp4").read_bytes()
    first = (published / "task_0.json").read_text(encoding="utf-8")
    assert json.loads(first)["run_id"] == "r1" and json.loads(first)["video_file"] == "task_0.mp4"
    again = publish_videos(results, decision, run, published, dag_id="d", run_id="r2")
    assert again == records and (published / "task_0.json").read_text(encoding="utf-8") == first
    assert (
        publish_videos(
            results, ReviewDecision(approved=False), run, tmp_path / "none", dag_id="d", run_id="r"
        )
        == []
    )
    assert publish_videos(results, None, run, published, dag_id="d", run_id="r") == []


def test_a_copy_cut_short_is_made_again(tmp_path: Path) -> None:
    run, published = tmp_path / "run", tmp_path / "published"
    run.mkdir(), published.mkdir()
    (run / "task_0.mp4").write_bytes(b"x" * 1000)
    (published / "task_0.mp4").write_bytes(b"x" * 10)  # a try that died mid-copy, before its record
    downloads = [{"video_id": "task_0", "path": str(run / "task_0.mp4"), "thumbnail_path": None}]
    results = product_results(PRODUCTS[:1], [_video(0)], downloads, folder=run)
    publish_videos(results, ReviewDecision(approved=True), run, published, dag_id="d", run_id="r")
    assert (published / "task_0.mp4").stat().st_size == 1000


# -- import cost ---------------------------------------------------------------------------------


def test_only_the_dags_that_use_review_import_it() -> None:
    # Operator modules are imported by every DAG file the dag-processor parses: the HITL machinery
    # loads only for a DAG that uses a review operator; the review module itself stays light.
    code = (
        "import sys\n"
        "import airflow_provider_dmjy.operators.video, airflow_provider_dmjy.operators.account\n"
        "import airflow_provider_dmjy.operators.template, airflow_provider_dmjy.sensors.video\n"
        "import airflow_provider_dmjy.catalog, airflow_provider_dmjy.reports\n"
        "loaded = [m for m in ('airflow_provider_dmjy.operators.review', "
        "'airflow.providers.standard.operators.hitl') if m in sys.modules]\n"
        "import airflow_provider_dmjy.operators.review\n"
        "heavy = ('aiohttp', 'fastapi', 'uvicorn', 'airflow_provider_dmjy.simulator')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print('LOADED=' + ','.join(loaded) + ' HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout  # noqa: S603
    assert out.strip().splitlines()[-1] == "LOADED= HEAVY="
