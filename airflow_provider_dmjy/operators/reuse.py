"""Never paying twice for the same video across runs: ``reuse="completed"`` of
:class:`~airflow_provider_dmjy.operators.video.DmjyCreateVideoOperator`.

Every video the operator creates carries the fingerprint of what it renders
(:meth:`CreateVideoRequest.fingerprint`) in its title. With ``reuse="completed"``, a task that has
no video of its own (no earlier try made one: that reconciliation comes first) asks
:meth:`DmjyHook.find_reusable_video` for a completed video with the same fingerprint created within
``reuse_within``, checks it, and returns it instead of paying for a new render.

The fingerprint in a title is a claim: anyone holding the account's API key can create a video
whose title carries any fingerprint. So a video found is only taken when what the API shows of it
agrees with the request: its duration and aspect ratio (on the list item, free), its description
(one ``GET /videos/{id}``, which also proves the video is still there and completed; an answer
without one is not reused) and, when the answer shows them, its image(s). A vendor that rehosted
images would make the image check refuse every video: that costs a render, never a wrong video.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_dmjy.client.models import CreateVideoRequest, Video, VideoStatus
from airflow_provider_dmjy.exceptions import DmjyNotFoundError, DmjyValidationError
from airflow_provider_dmjy.operators.reconcile import TaskLog

if TYPE_CHECKING:
    from airflow_provider_dmjy.hooks.dmjy import DmjyHook

__all__ = [
    "CREATE_ARGUMENTS",
    "REUSE_CHOICES",
    "REUSE_COMPLETED",
    "REUSE_NEVER",
    "check_reuse",
    "planned_request",
    "planned_reuse",
    "reusable_video",
    "reuse_cutoff",
    "reuse_since",
]

#: ``reuse="never"``: always render.
REUSE_NEVER = "never"
#: ``reuse="completed"``: return a completed video of the same fingerprint created within
#: ``reuse_within`` instead of rendering (the mode is named after the only status reused).
REUSE_COMPLETED = VideoStatus.COMPLETED.value
#: Every ``reuse`` value.
REUSE_CHOICES = (REUSE_NEVER, REUSE_COMPLETED)
_RULE = "must be a timedelta, a non-negative number of seconds, or an ISO 8601 instant with a zone"


def check_reuse(value: Any) -> str:
    """``reuse`` as one of :data:`REUSE_CHOICES`; raises :class:`DmjyValidationError` otherwise."""
    if value not in REUSE_CHOICES:
        raise DmjyValidationError("reuse", value, f"must be one of {', '.join(REUSE_CHOICES)}")
    return str(value)


def reuse_cutoff(value: Any, now: float | None = None) -> float:
    """``reuse_within`` as the earliest creation time (epoch seconds) a reused video may have.

    Accepts a ``timedelta`` or a number of seconds (a window back from ``now``, default this
    moment; a rendered template's digits such as ``"86400"`` count as seconds), or an instant "at or
    after": an aware ``datetime`` or an ISO 8601 string with a zone (``2026-11-30T00:00:00+08:00``,
    ``...Z``). A negative window, a number that is not finite, or an instant without a zone (whose
    meaning depends on a machine's time zone) raises :class:`DmjyValidationError`.
    """
    now = time.time() if now is None else now
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            try:
                value = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise DmjyValidationError("reuse_within", text, _RULE) from None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise DmjyValidationError("reuse_within", value, "an instant needs a time zone (+08:00, Z)")
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf:
        return now - float(value)
    raise DmjyValidationError("reuse_within", value, _RULE)


def reuse_since(reuse: Any, reuse_within: Any, now: float | None = None) -> float | None:
    """Both arguments checked (:func:`check_reuse`, :func:`reuse_cutoff`): the cut-off of
    ``reuse="completed"``, or None for ``"never"`` (no search at all)."""
    since = reuse_cutoff(reuse_within, now)
    return since if check_reuse(reuse) == REUSE_COMPLETED else None


def reusable_video(
    hook: DmjyHook,
    request: CreateVideoRequest,
    since: float,
    *,
    max_pages: int,
    log: TaskLog,
) -> Video | None:
    """A completed video rendering what ``request`` (without markers) asks for, created at or after
    ``since``; None when there is none or the one found does not agree with the request."""
    fingerprint = request.fingerprint()
    found = hook.find_reusable_video(fingerprint, since, max_pages=max_pages)
    if found is None:
        return None
    video = Video.from_api(found)
    mismatch = _mismatch(video, request)
    if mismatch is None:
        try:
            video = Video.from_api(hook.get_video(video.id))
        except DmjyNotFoundError:
            mismatch = "it was deleted meanwhile"
        else:
            mismatch = _mismatch(video, request, detail=True)
    if mismatch is not None:
        log.warning("Not reusing DMJY video %s (fingerprint %s): %s", video.id, fingerprint, mismatch)
        return None
    log.info("Reusing DMJY video %s: same fingerprint %s, completed; nothing is paid", video.id, fingerprint)
    return video


#: The create operator's arguments that make up its request (the others shape the wait).
CREATE_ARGUMENTS = (
    "description",
    "image_url",
    "image_urls",
    "duration",
    "aspect_ratio",
    "title",
    "callback_url",
)


def planned_request(arguments: Mapping[str, Any]) -> CreateVideoRequest:
    """The request, without markers, of a ``DmjyCreateVideoOperator`` given ``arguments`` (its
    keyword arguments: ``description``, ``image_url``/``image_urls``, ``duration``,
    ``aspect_ratio``, ``title``, ``callback_url``; others are ignored), validated as the operator
    validates it: its :meth:`~CreateVideoRequest.fingerprint` is the one the operator puts in the
    title. An empty title counts as none (the operator's rule: the description's start)."""
    description: Any = arguments.get("description")  # None is refused, naming the argument
    return CreateVideoRequest(
        description=description,
        image_url=arguments.get("image_url"),
        image_urls=arguments.get("image_urls"),
        duration=arguments.get("duration"),
        aspect_ratio=arguments.get("aspect_ratio"),
        title=arguments.get("title") or None,
        callback_url=arguments.get("callback_url"),
    )


def planned_reuse(
    hook: DmjyHook,
    requests: Sequence[CreateVideoRequest],
    since: float,
    *,
    max_pages: int,
) -> dict[str, dict[str, Any]]:
    """``{fingerprint: list item}`` for the ``requests`` (without markers) that a create with
    ``reuse="completed"`` would find a video for now: ONE :meth:`DmjyHook.find_reusable_videos`
    walk, then the free part of :func:`reusable_video`'s checks (the list item's duration and
    aspect ratio). The description is only checked by the create itself (one read per video), and
    the video may go between now and then: a plan, not a lock. A search that cannot conclude
    finds nothing (every video counts as paid)."""
    by_fingerprint = {request.fingerprint(): request for request in requests}
    found = hook.find_reusable_videos(list(by_fingerprint), since, max_pages=max_pages)
    return {
        fingerprint: item
        for fingerprint, item in found.items()
        if _mismatch(Video.from_api(item), by_fingerprint[fingerprint]) is None
    }


def _mismatch(video: Video, request: CreateVideoRequest, *, detail: bool = False) -> str | None:
    """Why ``video`` is not the render ``request`` asks for, or None when what is visible agrees."""
    if request.duration is not None and video.duration != request.duration:
        return f"its duration is {video.duration!r}, not {request.duration}"
    if request.aspect_ratio is not None and video.aspect_ratio != request.aspect_ratio:
        return f"its aspect ratio is {video.aspect_ratio!r}, not {request.aspect_ratio}"
    images = _image_mismatch(video.raw, request)
    if images is not None:
        return images
    if not detail:
        return None
    if video.status is not VideoStatus.COMPLETED or not video.video_url:
        return f"it is no longer completed with a video URL (status {video.status})"
    description = video.raw.get("description")
    if not isinstance(description, str):
        return "its answer shows no description to compare"
    if description.split() != request.description.split():
        return "its description differs (a title edited by hand?)"
    return None


def _image_mismatch(answer: Mapping[str, Any], request: CreateVideoRequest) -> str | None:
    """Why the image(s) the answer shows are not the request's; None when they agree or the answer
    shows none. ``imageUrls`` must be the request's list; ``imageUrl`` one of the request's images
    (the vendor shows the first of a merged set)."""
    asked = [request.image_url] if request.image_url is not None else list(request.image_urls or ())
    shown_list, shown_one = answer.get("imageUrls"), answer.get("imageUrl")
    if shown_list is not None and shown_list != asked:
        return f"its images are {shown_list!r}, not {asked!r}"
    if shown_one is not None and shown_one not in asked:
        return f"its image is {shown_one!r}, not {asked[0] if len(asked) == 1 else asked!r}"
    return None
