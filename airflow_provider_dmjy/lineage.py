"""OpenLineage for the DMJY operators, with ``apache-airflow-providers-openlineage`` installed.

Only the operators' ``get_openlineage_facets_on_complete`` import this module, and only the
OpenLineage listener calls them: it imports the OpenLineage client, which a DAG file's parse must
not pay for, and which is absent without the OpenLineage provider. See docs/lineage.md.

Dataset names follow OpenLineage's naming conventions (namespace = ``scheme://authority``, name =
path):

- an http(s) URL (a product image, a media URL): namespace ``https://<host>[:<port>]``, name its
  path. User info, query and fragment are left out: a signed CDN URL carries its token there.
- a DMJY video: namespace ``dmjy://<conn_id>``, name ``videos/<video id>``. An OpenLineage dataset,
  not an Airflow Asset: the ``dmjy://`` Assets (:mod:`airflow_provider_dmjy.assets`) name a
  connection's whole stream of video events, never one video.
- an ``ObjectStoragePath``: a local file is namespace ``file``, name its absolute path; any other
  store is the path's ``namespace`` (``s3://<bucket>``) and ``key``, as Airflow's own file transfer
  reports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs
from airflow.providers.openlineage.extractors import OperatorLineage
from openlineage.client.event_v2 import Dataset
from openlineage.client.facet_v2 import RunFacet

from airflow_provider_dmjy import __version__
from airflow_provider_dmjy.operators.destination import _LOCAL_PROTOCOLS

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_dmjy.client.models import Video

__all__ = [
    "PRODUCER",
    "RUN_FACET_NAME",
    "DmjyVideoRunFacet",
    "create_video_lineage",
    "download_lineage",
    "path_dataset",
    "url_dataset",
    "video_dataset",
]

#: The ``_producer`` of this provider's facets: the package, at its version, on its registry.
PRODUCER = f"https://pypi.org/project/airflow-provider-dmjy/{__version__}/"
#: The key of :class:`DmjyVideoRunFacet` in a run's facets.
RUN_FACET_NAME = "dmjyVideo"


@attrs.define
class DmjyVideoRunFacet(RunFacet):
    """The video a create task made or reused (run facet ``dmjyVideo``).

    :param videoId: the DMJY video task id.
    :param status: the video's last known status (``completed`` after a successful wait).
    :param duration: the video's length in seconds, as the API answered it.
    :param aspectRatio: ``9:16`` or ``16:9``, as the API answered it.
    :param reused: True when this try did not pay for the video: an earlier try of the same task
        instance created it, or (``reuse="completed"``) another run's completed video of the same
        content was returned; False when this try created it.
    :param creditsPerSecond: the price assumed for the estimate (the operator's
        ``credits_per_second``): the API reports no price and no cost.
    :param estimatedCredits: ``duration x creditsPerSecond``; absent when either is unknown.
    """

    videoId: str
    status: str | None = None
    duration: int | None = None
    aspectRatio: str | None = None
    reused: bool = False
    creditsPerSecond: float | None = None
    estimatedCredits: float | None = None

    def __attrs_post_init__(self) -> None:
        # The base class stamps the OpenLineage client's (or Airflow's) producer: this facet is ours.
        if not self._producer:
            self._producer = PRODUCER
        super().__attrs_post_init__()


def url_dataset(url: object) -> Dataset | None:
    """The dataset of an http(s) URL; None for anything else (nothing to name)."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url.strip())
    host = parts.hostname
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: not a URL anything was fetched from
        return None
    if ":" in host:  # an IPv6 address keeps its brackets, or its colons would read as a port
        host = f"[{host}]"
    authority = host if port is None else f"{host}:{port}"
    return Dataset(namespace=f"{parts.scheme.lower()}://{authority}", name=parts.path or "/")


def video_dataset(dmjy_conn_id: str, video_id: str) -> Dataset:
    """The dataset of DMJY video ``video_id`` reached through connection ``dmjy_conn_id``."""
    return Dataset(namespace=f"dmjy://{dmjy_conn_id}", name=f"videos/{video_id}")


def path_dataset(path: ObjectStoragePath) -> Dataset:
    """The dataset of a file written through ``ObjectStoragePath``."""
    if path.protocol in _LOCAL_PROTOCOLS:
        return Dataset(namespace="file", name=path.path)
    return Dataset(namespace=path.namespace, name=path.key)


def create_video_lineage(
    *,
    dmjy_conn_id: str,
    image_url: Any,
    image_urls: Any,
    video: Video | None,
    reused: bool,
    credits_per_second: float | None,
) -> OperatorLineage[Dataset, RunFacet]:
    """The product images in, the video out, and its :class:`DmjyVideoRunFacet`.

    ``image_url``/``image_urls`` are the operator's rendered arguments; ``video`` the last state
    the operator knew (None when no video was made or found: no output, no facet).
    """
    urls: Iterable[Any] = [image_url] if image_url else _as_list(image_urls)
    inputs = [dataset for dataset in map(url_dataset, urls) if dataset is not None]
    if video is None:
        return OperatorLineage(inputs=inputs)
    estimate = None
    if video.duration is not None and credits_per_second is not None:
        estimate = video.duration * credits_per_second
    facet = DmjyVideoRunFacet(
        videoId=video.id,
        status=None if video.status is None else video.status.value,
        duration=video.duration,
        aspectRatio=video.aspect_ratio,
        reused=reused,
        creditsPerSecond=credits_per_second,
        estimatedCredits=estimate,
    )
    return OperatorLineage(
        inputs=inputs,
        outputs=[video_dataset(dmjy_conn_id, video.id)],
        run_facets={RUN_FACET_NAME: facet},
    )


def download_lineage(
    *,
    dmjy_conn_id: str,
    video_id: str | None,
    video_url: str | None,
    written: Sequence[ObjectStoragePath],
) -> OperatorLineage[Dataset, RunFacet]:
    """The video (by id, or its media URL when only that was given) in, the written files out."""
    source = video_dataset(dmjy_conn_id, video_id) if video_id is not None else url_dataset(video_url)
    return OperatorLineage(
        inputs=[] if source is None else [source],
        outputs=[path_dataset(path) for path in written],
    )


def _as_list(value: Any) -> list[Any]:
    if value is None or isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return []
    return list(value)
