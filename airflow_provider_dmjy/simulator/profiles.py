"""Render profiles: how long a video waits and renders, and how its ``progress`` reports it.

The straight line of ``linear`` makes any estimate of the finish exact; the other profiles are
there so a polling schedule can be measured against renders that behave like real ones.

Decisions:

- A video draws its profile (for ``mixed``) and its timings once, at create, into a
  :class:`RenderPlan` that the task keeps (and ``--state-file`` with it); its status is then a pure
  function of the clock.
- The draws come from a random stream of their own, seeded from ``--seed``: the same seed and the
  same sequence of creates (with the same profiles) give the same timings, and switching profile
  does not change which renders fail.
- ``lognormal``, ``steps`` and ``stall`` share the same long-tailed timings: queue time and render
  time (the configured render time less the queue) are each the configured value times
  ``exp(N(0, sigma))``, so the configured value is their median. ``linear`` draws nothing.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

#: Every value of ``--render-profile``.
PROFILES = ("linear", "lognormal", "steps", "stall", "mixed")
#: What ``mixed`` draws from, each with the same chance.
MIXED_DRAWS = ("linear", "lognormal", "steps", "stall")
#: Sigma of the log of the queue time: queues have the longer tail (p95 about 5x the median).
QUEUE_SIGMA = 1.0
#: Sigma of the log of the render time (p95 about 2.3x the median, mean 1.13x).
RENDER_SIGMA = 0.5
#: The levels ``steps`` reports: it jumps from one to the next at drawn moments of the render.
STEP_LEVELS = (0, 10, 30, 60, 90, 99)
#: ``stall`` holds 99 for this many times the video's own render time (uniform draw) before it ends.
STALL_FACTOR = (0.5, 3.0)


@dataclass(frozen=True)
class RenderPlan:
    """One video's timings, in seconds after its create.

    ``render_seconds`` is when it ends (completed or failed), the queue and any stall included;
    progress climbs from ``queue_seconds`` to 99 at ``render_seconds - stall_seconds``, along a
    straight line or, when ``step_times`` is set, in jumps to ``STEP_LEVELS[1:]`` at those times.
    """

    profile: str
    queue_seconds: float
    render_seconds: float
    stall_seconds: float = 0.0
    step_times: tuple[float, ...] = ()


def draw_plan(profile: str, queue_seconds: float, render_seconds: float, rng: random.Random) -> RenderPlan:
    """Draw the plan of one new video under ``profile`` around the configured timings."""
    if profile == "mixed":
        profile = rng.choice(MIXED_DRAWS)
    if profile == "linear":
        return RenderPlan(profile, queue_seconds, render_seconds)
    if profile not in PROFILES:
        raise ValueError(f"render_profile must be one of {', '.join(PROFILES)} (got {profile!r})")
    queue = queue_seconds * rng.lognormvariate(0.0, QUEUE_SIGMA)
    work = max(0.0, render_seconds - queue_seconds) * rng.lognormvariate(0.0, RENDER_SIGMA)
    if profile == "steps":
        # Five cut points uniform over the render: the six plateaus split it at random.
        cuts = sorted(rng.random() for _ in STEP_LEVELS[1:])
        return RenderPlan(profile, queue, queue + work, step_times=tuple(queue + work * c for c in cuts))
    if profile == "stall":
        stall = work * rng.uniform(*STALL_FACTOR)
        return RenderPlan(profile, queue, queue + work + stall, stall_seconds=stall)
    return RenderPlan(profile, queue, queue + work)


def processing_progress(
    elapsed: float, queue_seconds: float, ramp_end: float, step_times: Sequence[float]
) -> int:
    """The progress, 0 to 99, ``elapsed`` seconds after the create of a video that is processing."""
    if step_times:
        return STEP_LEVELS[bisect_right(step_times, elapsed)]
    span = ramp_end - queue_seconds
    if span <= 0:
        return 99
    return min(99, int(99 * (elapsed - queue_seconds) / span))
