"""The report's ``index.html``: one static, self-contained page (no script, no external style, font
or image), readable offline and from any file share.

Every value comes from the catalog, the vendor or the run, so each one goes through
:func:`html.escape` (quotes included) on its way in; file links are relative to the run's folder
and percent-encoded (:func:`~.paths.file_href`), and a vendor URL is linked only when it is an
absolute http(s) URL. A file that is not in the folder is never linked: the card says it is
missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape

from airflow_provider_dmjy.client.validation import check_http_url
from airflow_provider_dmjy.exceptions import DmjyValidationError
from airflow_provider_dmjy.reports.model import Outcome, ProductResult, RunReport, RunState, format_credits
from airflow_provider_dmjy.reports.paths import LinkedFile, file_href
from airflow_provider_dmjy.reports.style import CSS

__all__ = ["render_report"]

#: The run's state -> the header badge's words.
_STATE_WORDS = {
    RunState.SUCCESS: "Succeeded",
    RunState.FAILED: "Failed",
    RunState.AWAITING_REVIEW: "Awaiting review",
    RunState.RUNNING: "Running",
}
#: The product's outcome -> the badge's words.
_OUTCOME_WORDS = {
    Outcome.COMPLETED: Outcome.COMPLETED,  # "completed" and "failed" read as they are
    Outcome.FAILED: Outcome.FAILED,
    Outcome.WAITING: "still rendering",
    Outcome.NOT_CREATED: "not created",
}


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_http_url("preview_url", "preview_url", value)
    except DmjyValidationError:
        return None


def _badge(kind: str, words: str) -> str:
    return f'<span class="badge {escape(kind)}">{escape(words)}</span>'


def _stat(value: str, label: str, kind: str = "", sub: str = "") -> str:
    return (
        f'<li class="stat {kind}"><span class="value">{escape(value)}</span>'
        f'<span class="label">{escape(label)}</span>{sub}</li>'
    )


def _credits_stat(report: RunReport) -> str:
    spent = format_credits(report.spent_credits)
    value = spent
    label = "credits spent by this run"
    if report.estimate_credits is not None:
        value = f"{spent} / {format_credits(report.estimate_credits)}"
        label = "credits spent / estimated"
    sub = ""
    budget = report.budget_credits
    if budget is not None:
        before = report.usage_today_credits
        line = f"Daily budget {format_credits(budget)}"
        if before is not None:
            line += f" · {format_credits(before)} used earlier today"
        sub = f'<span class="sub">{escape(line)}</span>'
        if budget > 0:
            before_share = min(max((before or 0) / budget, 0.0), 1.0)
            spent_share = min(max(report.spent_credits / budget, 0.0), 1.0 - before_share)
            sub += (
                f'<span class="bar" role="img" aria-label="{escape(line)}, {escape(spent)} by this run">'
                f'<span class="before" style="width:{before_share:.1%}"></span>'
                f'<span class="spent" style="width:{spent_share:.1%}"></span></span>'
            )
    return _stat(value, label, "credits", sub)


def _when(value: str) -> str:
    """An ISO instant as ``2026-03-02 09:00:03 +08:00`` (as given when it does not parse)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    offset = moment.strftime("%z")
    return f"{text} {offset[:3]}:{offset[3:]}" if offset else text


def _header(report: RunReport) -> str:
    state = escape(_STATE_WORDS.get(report.state, report.state))
    state_class = escape(report.state.replace(" ", "-"))
    link = ""
    run_url = _http_url(report.run_url)
    if run_url:
        link = f'<a class="airflow-link" href="{escape(run_url)}">Open this run in Airflow ↗</a>'
    stats = [
        _stat(str(len(report.products)), "products"),
        _stat(str(report.completed), _OUTCOME_WORDS[Outcome.COMPLETED], "ok"),
        _stat(str(report.failed), _OUTCOME_WORDS[Outcome.FAILED], "bad" if report.failed else ""),
        _stat(str(report.reused), "reused"),
        _stat(str(len(report.skipped)), "rows skipped"),
    ]
    if report.waiting:
        stats.append(_stat(str(report.waiting), _OUTCOME_WORDS[Outcome.WAITING]))
    if report.not_created:
        stats.append(_stat(str(report.not_created), _OUTCOME_WORDS[Outcome.NOT_CREATED]))
    if any(product.published is not None for product in report.products):
        stats.append(_stat(str(report.published), "published", "ok"))
    stats.append(_credits_stat(report))
    return (
        '<header class="top"><div class="title-row">'
        f'<h1>Product videos <span class="date">· {escape(report.run_after[:10])}</span></h1>'
        f'<span class="state state-{state_class}">{state}</span>{link}</div>'
        f'<p class="run">{escape(report.dag_id)} · run <code>{escape(report.run_id)}</code> · '
        f"{escape(_when(report.run_after))}</p>"
        f'<p class="summary">{escape(report.summary_line())}</p>'
        f'<ul class="stats">{"".join(stats)}</ul></header>'
    )


def _media(product: ProductResult, video: LinkedFile | None, thumbnail: LinkedFile | None) -> str:
    outcome = product.outcome
    poster = thumbnail.href if thumbnail else None
    if video and video.href:
        poster_attribute = f' poster="{escape(poster)}"' if poster else ""
        return (
            f'<div class="media"><video controls preload="none" playsinline{poster_attribute} '
            f'src="{escape(video.href)}"></video></div>'
        )
    if poster:
        return (
            f'<div class="media"><img src="{escape(poster)}" alt="Thumbnail of {escape(product.name)}"></div>'
        )
    if outcome == Outcome.FAILED:
        return (
            '<div class="media failed"><strong>Render failed</strong>'
            f"<span>status: {escape(product.status)}</span></div>"
        )
    words = "no video file" if outcome == Outcome.COMPLETED else _OUTCOME_WORDS[outcome]
    return f'<div class="media empty">{escape(words)}</div>'


def _facts(product: ProductResult) -> str:
    facts = []
    if product.price:
        facts.append(f'<span class="price">{escape(product.price)}</span>')
    if product.duration is not None:
        facts.append(f"<span>{escape(str(product.duration))} s</span>")
    if product.aspect_ratio:
        facts.append(f"<span>{escape(product.aspect_ratio)}</span>")
    if product.reused:
        facts.append("<span>0 credits (reused)</span>")
    elif product.outcome != Outcome.NOT_CREATED:
        facts.append(f"<span>{escape(format_credits(product.credits))} credits</span>")
    return f'<p class="facts">{"".join(facts)}</p>' if facts else ""


def _badges(product: ProductResult) -> str:
    """The outcome (a completed video shows its review instead: published or not), then reused."""
    outcome = product.outcome
    if outcome == Outcome.COMPLETED and product.published is True:
        badges = [_badge("published", "published")]
    elif outcome == Outcome.COMPLETED and product.published is False:
        badges = [_badge("not-published", "not published")]
    else:
        badges = [_badge(outcome.replace(" ", "-"), _OUTCOME_WORDS[outcome])]
    if product.reused:
        badges.append(_badge("reused", "reused"))
    return "".join(badges)


def _card(product: ProductResult, files: Mapping[str, LinkedFile]) -> str:
    video, thumbnail = files.get("video"), files.get("thumbnail")
    parts = [
        f'<li class="card {escape(product.outcome.replace(" ", "-"))}" data-sku="{escape(product.sku)}" '
        f'data-outcome="{escape(product.outcome)}">',
        _media(product, video, thumbnail),
        '<div class="body">',
        f'<div class="head"><span class="sku">{escape(product.sku)}</span>{_badges(product)}</div>',
        f"<h3>{escape(product.name)}</h3>",
        _facts(product),
    ]
    if product.error and product.outcome != Outcome.COMPLETED:
        parts.append(f'<p class="error"><b>Vendor\'s message</b>{escape(product.error)}</p>')
    if product.description:
        parts.append(f'<p class="script" title="Script">{escape(product.description)}</p>')
    for linked in (video, thumbnail):
        if linked is not None and linked.problem:
            parts.append(
                f'<p class="missing">{escape(linked.role.capitalize())} file {escape(linked.problem)}: '
                f"{escape(linked.name or linked.given)}</p>"
            )
    if product.review_note:
        parts.append(f'<p class="note">Review: {escape(product.review_note)}</p>')
    actions = []
    if video and video.href:
        actions.append(
            f'<a class="download" href="{escape(video.href)}" download title="Download the video file">'
            "Download</a>"
        )
    if thumbnail and thumbnail.href:
        actions.append(f'<a class="thumbnail" href="{escape(thumbnail.href)}">Thumbnail</a>')
    preview = _http_url(product.preview_url)
    if preview:
        actions.append(f'<a class="preview" href="{escape(preview)}" rel="noreferrer">Preview ↗</a>')
    if actions:
        parts.append(f'<div class="actions">{"".join(actions)}</div>')
    if product.video_id:
        parts.append(f'<p class="id">video <code>{escape(product.video_id)}</code></p>')
    parts.append("</div></li>")
    return "".join(parts)


def _skipped(report: RunReport) -> str:
    if not report.skipped:
        return '<p class="none">No catalog row was skipped.</p>'
    rows = "".join(
        f"<tr><td>{row.row}</td><td>{escape(row.sku or '-')}</td><td>{escape(row.problem)}</td></tr>"
        for row in report.skipped
    )
    return (
        '<table class="skipped"><thead><tr><th>Row</th><th>SKU</th><th>Why it was skipped</th></tr>'
        f"</thead><tbody>{rows}</tbody></table>"
    )


def _other_files(names: Sequence[str]) -> str:
    if not names:
        return ""
    items = "".join(f'<li><a href="{escape(file_href(name))}">{escape(name)}</a></li>' for name in names)
    return f'<h2>Other files in this folder</h2><ul class="other">{items}</ul>'


def render_report(
    report: RunReport,
    files: Sequence[Mapping[str, LinkedFile]],
    other_files: Sequence[str] = (),
    generated_at: str = "",
) -> str:
    """The whole ``index.html``: ``files[i]`` are the checked files of ``report.products[i]`` (by
    role, ``"video"`` and ``"thumbnail"``), ``other_files`` what else the folder holds."""
    cards = "".join(_card(product, linked) for product, linked in zip(report.products, files, strict=True))
    videos = f'<ul class="grid">{cards}</ul>' if cards else '<p class="none">No products in this run.</p>'
    written = f"Written {escape(generated_at)} by airflow-provider-dmjy · " if generated_at else ""
    title = f"Product videos · {report.dag_id} · {report.run_after[:10]}"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"{_header(report)}<main><h2>Videos</h2>{videos}"
        f"<h2>Skipped catalog rows</h2>{_skipped(report)}{_other_files(other_files)}</main>"
        f'<footer>{written}<a href="manifest.json">manifest.json</a> · '
        '<a href="manifest.csv">manifest.csv</a></footer></body></html>\n'
    )
