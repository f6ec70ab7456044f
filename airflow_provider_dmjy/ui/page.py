"""The HTML of the "DMJY videos" page: one self-contained document, no script.

Everything the API returns is vendor or user data (a title is whatever the creator typed), so every
value goes through :func:`html.escape` on its way into the page, and a media URL is used only when
it is an absolute http(s) URL (:func:`media_url`); anything else is left out. :data:`HEADERS` add a
Content-Security-Policy that would stop a script even if one slipped through: none may run, styles
only from the page's own ``<style>``, images and video only over http(s).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from urllib.parse import urlencode

from airflow_provider_dmjy.client.models import Video, VideoStatus, parse_vendor_time
from airflow_provider_dmjy.client.validation import check_http_url
from airflow_provider_dmjy.exceptions import DmjyValidationError

__all__ = ["HEADERS", "PAGE_SIZES", "VideosPage", "media_url", "render"]

#: The page sizes the selector offers (any 1..100 works in the URL).
PAGE_SIZES = (12, 24, 48, 96)

_CSS = """
:root { color-scheme: light dark; --bg: #fff; --fg: #1a202c; --muted: #4a5568; --line: #e2e8f0;
  --card: #fff; --brand: #017cee; --shade: #f7fafc; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0f1115; --fg: #e2e8f0; --muted: #a0aec0; --line: #2d3748; --card: #171a21;
    --shade: #1f2430; }
}
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 20px 24px; background: var(--bg); color: var(--fg);
  font: 14px/1.45 Inter, system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 12px 24px; margin-bottom: 8px; }
h1 { font-size: 20px; font-weight: 600; margin: 0; }
form { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 12px; }
label { color: var(--muted); }
select, button { font: inherit; padding: 4px 8px; border: 1px solid var(--line); border-radius: 6px;
  background: var(--card); color: var(--fg); }
button { background: var(--brand); border-color: var(--brand); color: #fff; cursor: pointer; }
.summary { color: var(--muted); margin: 4px 0 16px; }
.notice { border: 1px solid #feb2b2; background: #fff5f5; color: #9b2c2c; border-radius: 8px;
  padding: 10px 14px; margin: 12px 0; }
ul.grid { list-style: none; margin: 0; padding: 0; display: grid; gap: 16px;
  grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); }
.card { border: 1px solid var(--line); border-radius: 8px; background: var(--card); overflow: hidden;
  display: flex; flex-direction: column; }
.media { aspect-ratio: 16 / 9; overflow: hidden; background: var(--shade); display: flex;
  align-items: center; justify-content: center; color: var(--muted); }
.media.done { background: #1a202c; }
.media img { width: 100%; height: 100%; object-fit: contain; display: block; }
.body { padding: 10px 12px 12px; display: flex; flex-direction: column; gap: 6px; }
.title { font-size: 15px; font-weight: 600; margin: 0; overflow-wrap: anywhere; }
.state { display: flex; align-items: center; gap: 8px; }
.badge { border-radius: 9999px; padding: 0 8px; font-size: 12px; font-weight: 600; color: #fff;
  background: #718096; }
.badge.completed { background: #38a169; } .badge.failed { background: #e53e3e; }
.badge.processing { background: #0bc5ea; color: #1a202c; } .badge.pending { background: #a0aec0; }
progress { flex: 1; height: 8px; accent-color: var(--brand); }
.meta, .id { color: var(--muted); font-size: 12px; margin: 0; overflow-wrap: anywhere; }
.error { color: #e53e3e; margin: 0; overflow-wrap: anywhere; }
details summary { cursor: pointer; color: var(--brand); font-weight: 600; }
video { width: 100%; aspect-ratio: 16 / 9; margin-top: 6px; border-radius: 6px; background: #000; }
nav.pager { display: flex; align-items: center; justify-content: center; gap: 16px; margin-top: 20px; }
nav.pager a { color: var(--brand); text-decoration: none; font-weight: 600; }
nav.pager .off { color: var(--muted); }
"""
_CSS_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()

#: Response headers of every page: no script at all, nothing cached, no Referer sent to the media
#: host, and only Airflow's own UI may frame it.
HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src http: https:; "
        "media-src http: https:; form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
    ),
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True)
class VideosPage:
    """What one rendering shows: the query, the connections to choose from, and the videos or why
    there are none."""

    conn_id: str
    page: int
    limit: int
    #: The ``dmjy`` connections the user may read (the selector's options).
    connections: Sequence[str] = ()
    videos: Sequence[Video] = ()
    total_pages: int | None = None
    #: ``pagination.total`` of the answer, when it has one.
    total: int | None = None
    #: Why no videos are shown (connection unknown or forbidden, the API failed).
    error: str | None = None
    #: Extra text next to the counts (the connection's base URL).
    source: str | None = field(default=None)


def media_url(value: object) -> str | None:
    """``value`` when it is an absolute http(s) URL, else None (``javascript:``, ``data:``, relative)."""
    try:
        return check_http_url("media", "media", value)
    except DmjyValidationError:
        return None


def _query(page: VideosPage, number: int) -> str:
    return "videos?" + urlencode({"conn_id": page.conn_id, "page": number, "limit": page.limit})


def _when(value: str | None) -> str | None:
    seconds = parse_vendor_time(value)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except (ValueError, OverflowError, OSError):
        # A date that parses with its offset but lands outside years 1-9999 in UTC: one odd
        # value loses its date, not the whole page.
        return None


def _status(video: Video) -> str:
    if video.status is not None:
        return str(video.status)  # its value: "completed"
    raw = video.raw.get("status")
    if isinstance(raw, str) and raw:
        return raw
    return "unknown"


def _card(video: Video) -> str:
    status = _status(video)
    done = video.status is VideoStatus.COMPLETED
    title = video.title or "(untitled)"
    thumbnail = media_url(video.thumbnail_url) if done else None
    player = media_url(video.video_url) if done else None
    if thumbnail:
        media = (
            f'<img src="{escape(thumbnail)}" alt="Thumbnail of {escape(title)}" loading="lazy" '
            'referrerpolicy="no-referrer">'
        )
    else:
        media = f"<span>{escape('no thumbnail' if done else status)}</span>"
    progress = min(max(video.progress or (100.0 if done else 0.0), 0.0), 100.0)
    meta = [
        f"{video.duration} s" if video.duration is not None else None,
        video.aspect_ratio,
        f"created {_when(video.created_at)}" if _when(video.created_at) else None,
    ]
    parts = [
        f'<li class="card" data-video-id="{escape(video.id)}" data-status="{escape(status)}">',
        f'<div class="media{" done" if thumbnail else ""}">{media}</div><div class="body">',
        f'<h2 class="title" title="{escape(title)}">{escape(title)}</h2>',
        f'<div class="state"><span class="badge {escape(status)}">{escape(status)}</span>'
        f'<progress max="100" value="{progress:.0f}">{progress:.0f}%</progress>'
        f"<span>{progress:.0f}%</span></div>",
        f'<p class="meta">{escape(" · ".join(item for item in meta if item))}</p>',
        f'<p class="id"><code>{escape(video.id)}</code></p>',
    ]
    if video.status is VideoStatus.FAILED and video.error_message:
        parts.append(f'<p class="error">{escape(video.error_message)}</p>')
    if player:
        poster = f' poster="{escape(thumbnail)}"' if thumbnail else ""
        parts.append(
            '<details class="player"><summary>Play</summary>'
            f'<video controls preload="none" src="{escape(player)}"{poster}></video></details>'
        )
    parts.append("</div></li>")
    return "".join(parts)


def _form(page: VideosPage) -> str:
    names = list(page.connections)
    if page.conn_id not in names:
        names.insert(0, page.conn_id)
    options = "".join(
        f'<option value="{escape(name)}"{" selected" if name == page.conn_id else ""}>{escape(name)}</option>'
        for name in names
    )
    sizes = sorted({*PAGE_SIZES, page.limit})
    limits = "".join(
        f'<option value="{size}"{" selected" if size == page.limit else ""}>{size}</option>' for size in sizes
    )
    return (
        '<form method="get" action="videos">'
        f'<label>Connection <select name="conn_id">{options}</select></label>'
        f'<label>Per page <select name="limit">{limits}</select></label>'
        '<button type="submit">Show</button></form>'
    )


def _pager(page: VideosPage) -> str:
    last = page.total_pages
    newer = (
        f'<a rel="prev" href="{escape(_query(page, page.page - 1))}">‹ Newer</a>'
        if page.page > 1
        else '<span class="off">‹ Newer</span>'
    )
    has_older = last > page.page if last is not None else len(page.videos) >= page.limit
    older = (
        f'<a rel="next" href="{escape(_query(page, page.page + 1))}">Older ›</a>'
        if has_older
        else '<span class="off">Older ›</span>'
    )
    where = f"Page {page.page}" + (f" of {max(last, 1)}" if last is not None else "")
    return f'<nav class="pager">{newer}<span>{where}</span>{older}</nav>'


def render(page: VideosPage) -> str:
    """The whole HTML document for ``page``."""
    if page.error is not None:
        content = f'<p class="notice" role="alert">{escape(page.error)}</p>'
    else:
        counts = [f"{page.total} videos" if page.total is not None else None, page.source]
        summary = " · ".join(item for item in counts if item)
        cards = "".join(_card(video) for video in page.videos)
        content = (
            (f'<p class="summary">{escape(summary)}</p>' if summary else "")
            + (
                f'<ul class="grid">{cards}</ul>'
                if cards
                else '<p class="summary">No videos on this page.</p>'
            )
            + _pager(page)
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>DMJY videos · {escape(page.conn_id)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>DMJY videos</h1>{_form(page)}</header>{content}</body></html>"
    )
