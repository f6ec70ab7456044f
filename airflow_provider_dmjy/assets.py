"""The ``dmjy://`` asset URIs: ``dmjy://<conn_id>/videos`` and ``dmjy://<conn_id>/account``.

The provider registers :func:`sanitize_uri` for the ``dmjy`` scheme (``asset-uris`` in
:func:`airflow_provider_dmjy.get_provider_info`), so Airflow runs it on every
``Asset("dmjy://...")``. A URI it refuses raises ``ValueError`` from the ``Asset`` constructor, which
makes a DAG file that declares it an import error: a typo such as ``dmjy://dmjy_default/video`` is
caught when the DAG is parsed instead of leaving a DAG that no webhook or watcher event ever reaches.

Standard library only: Airflow imports this module whenever it looks up any scheme's normaliser,
including while parsing DAG files.
"""

from __future__ import annotations

import re
from typing import Final, Literal, get_args
from urllib.parse import SplitResult, urlunsplit

__all__ = ["ASSET_KINDS", "CONN_ID_PATTERN", "SCHEME", "AssetKind", "asset_uri", "sanitize_uri"]

#: The URI scheme of DMJY assets.
SCHEME: Final = "dmjy"

#: ``videos``: updated when a video task completes or fails; ``account``: balance events.
AssetKind = Literal["videos", "account"]
ASSET_KINDS: Final[frozenset[str]] = frozenset(get_args(AssetKind))

#: The connection ids a DMJY asset URI may name: ASCII letters, digits, ``_``, ``.`` and ``-``, the
#: set the webhook receiver accepts too. Airflow's own rule also allows ``#/\:!()`` and non-ASCII
#: letters, but the first three cannot appear in a URI's host part and ``:`` would read as a port.
CONN_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_.\-]{1,250}")

_PATHS: Final = frozenset(f"/{kind}" for kind in ASSET_KINDS)
_FORM = "dmjy://<conn_id>/videos or dmjy://<conn_id>/account"


def asset_uri(dmjy_conn_id: str, kind: AssetKind) -> str:
    """The normalised URI of the ``kind`` asset of connection ``dmjy_conn_id``.

    :raises ValueError: if ``dmjy_conn_id`` cannot be named in an asset URI (see
        :data:`CONN_ID_PATTERN`).
    """
    return urlunsplit(sanitize_uri(SplitResult(SCHEME, dmjy_conn_id, f"/{kind}", "", "")))


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """Validate and normalise a ``dmjy://`` asset URI (Airflow's ``asset-uris`` handler).

    Accepts exactly ``dmjy://<conn_id>/videos`` and ``dmjy://<conn_id>/account``, with or without a
    trailing slash (removed), and returns the canonical form.

    :raises ValueError: for anything else: another path, no or an implausible connection id,
        credentials or a port, a query string or a fragment.
    """
    given = _display(uri)
    if uri.scheme.lower() != SCHEME:
        raise ValueError(f"Not a DMJY asset URI: {given!r}; expected {_FORM}")
    if not uri.netloc:
        raise ValueError(f"DMJY asset URI {given!r} names no connection; expected {_FORM}")
    if not CONN_ID_PATTERN.fullmatch(uri.netloc):
        raise ValueError(
            f"DMJY asset URI {given!r}: {uri.netloc!r} is not a usable connection id (1 to 250 "
            f"letters, digits, '_', '.' or '-'; no credentials or port); expected {_FORM}"
        )
    path = uri.path.rstrip("/")
    if path not in _PATHS:
        raise ValueError(f"DMJY asset URI {given!r} has an unknown path; expected {_FORM}")
    if uri.query or uri.fragment:
        raise ValueError(f"DMJY asset URI {given!r} may have no query string or fragment; expected {_FORM}")
    return SplitResult(SCHEME, uri.netloc, path, "", "")


def _display(uri: SplitResult) -> str:
    """``uri`` as written, for error messages (``urlunsplit`` drops the ``//`` of an empty host)."""
    authority = f"//{uri.netloc}" if uri.netloc or uri.path.startswith("/") else ""
    query = f"?{uri.query}" if uri.query else ""
    fragment = f"#{uri.fragment}" if uri.fragment else ""
    return f"{uri.scheme}:{authority}{uri.path}{query}{fragment}"
