"""Names and links of a report: the run's folder name, the run's page in the Airflow UI, and the
files a report links to (relative to the run's folder, URL-encoded).

Airflow is imported only by :func:`airflow_run_url`, and only when it has to read ``[api]
base_url``: the rest works on plain strings, ``pathlib.Path`` and ``ObjectStoragePath`` alike.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

__all__ = ["LinkedFile", "airflow_run_url", "file_href", "folder_path", "relative_file", "safe_folder_name"]

#: What stays as it is in a folder name; every run of other characters becomes one ``-``.
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
#: Decision: long enough for any run id Airflow makes (``manual__<timestamp>_<8 random>``), short
#: enough to leave room for the files' own names under the usual 255-byte limit.
MAX_FOLDER_NAME = 100
#: Characters that may stay unencoded in a URL's path segment (RFC 3986 ``pchar``): Airflow's run
#: ids keep their ``:`` and ``+`` in the UI's links.
_PATH_SAFE = ":@!$&'()*+,;="


def safe_folder_name(run_id: str) -> str:
    """``run_id`` as one safe path segment, the same every time for the same id.

    A run id of letters, digits, ``.``, ``_`` and ``-`` that does not start with ``.`` is kept as
    it is (``scheduled__2026-01-05``). Otherwise each run of other characters (``:``, ``+``, ``/``,
    spaces, anything non-ASCII) becomes ``-``, a leading ``.`` becomes ``_``, and ``_`` plus the
    first 8 hex digits of the id's SHA-256 are appended, so that two ids that differ only in what
    was replaced (``+01:00`` and ``-01:00``) still get two folders:
    ``manual__2026-01-05T09:00:00+00:00`` -> ``manual__2026-01-05T09-00-00-00-00_<8 hex>``.
    A name longer than :data:`MAX_FOLDER_NAME` characters is cut and gets the hash too.
    """
    if not isinstance(run_id, str) or not run_id:
        raise ValueError(f"a run id must be a non-empty string, not {run_id!r}")
    name = _UNSAFE_RUN.sub("-", run_id)
    if name.startswith("."):  # never ".", ".." or a hidden folder
        name = "_" + name[1:]
    if name == run_id and len(name) <= MAX_FOLDER_NAME:
        return name
    digest = hashlib.sha256(run_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{name[: MAX_FOLDER_NAME - 9]}_{digest}"


def airflow_run_url(dag_id: str, run_id: str, base_url: str | None = None) -> str | None:
    """The run's page in the Airflow UI: ``<base_url>/dags/<dag_id>/runs/<run_id>``.

    ``base_url`` defaults to ``[api] base_url`` (``AIRFLOW__API__BASE_URL``), read only when it is
    not given; None when neither gives one, because a report opened from a file cannot resolve a
    link without a host. The dag and run ids are percent-encoded as path segments (``:`` and ``+``
    kept, as Airflow's own links keep them).
    """
    if base_url is None:
        from airflow.configuration import conf

        base_url = conf.get("api", "base_url", fallback=None)
    if not base_url or not base_url.strip():
        return None
    root = base_url.strip().rstrip("/")
    return f"{root}/dags/{quote(dag_id, safe=_PATH_SAFE)}/runs/{quote(run_id, safe=_PATH_SAFE)}"


def folder_path(folder: Any) -> str:
    """The folder's path without a scheme: ``ObjectStoragePath.path``, else ``os.fspath``."""
    path = getattr(folder, "path", None)
    return path if isinstance(path, str) else os.fspath(folder)


def relative_file(folder: Any, value: str) -> str | None:
    """``value`` as a name relative to ``folder`` (``"a.mp4"``, ``"clips/a.mp4"``), or None when it
    is not inside it.

    ``value`` may already be relative, or be what a download returned: the file's
    ``ObjectStoragePath`` as a string (``s3://bucket/2026-03-02/run/a.mp4``,
    ``file:///archive/2026-03-02/run/a.mp4``), an absolute path or a ``file://`` URL under the
    folder. A name that climbs out (``..``) or a path elsewhere is None: a report links only to
    files of its own folder.
    """
    text = value.strip()
    root = str(folder).rstrip("/") + "/"
    if text.startswith(root):
        text = text[len(root) :]
    else:
        if "://" in text:
            parts = urlsplit(text)
            if parts.scheme not in ("file", "local") or parts.netloc not in ("", "localhost"):
                return None  # another store's URL, or a host: not this folder's file
            text = unquote(parts.path)
        if text.startswith("/"):
            base = posixpath.normpath(folder_path(folder)).rstrip("/") + "/"
            normal = posixpath.normpath(text)
            if not normal.startswith(base):
                return None
            text = normal[len(base) :]
    name = posixpath.normpath(text) if text else ""
    if not name or name == "." or name == ".." or name.startswith(("../", "/")):
        return None
    return name


def file_href(name: str) -> str:
    """A relative name as a link from ``index.html`` in the same folder: each segment
    percent-encoded (``秋季 外套.mp4`` -> ``%E7%A7%8B%E5%AD%A3%20%E5%A4%96%E5%A5%97.mp4``), and
    ``./`` first so that a name with a ``:`` is never read as a URL scheme."""
    return "./" + "/".join(quote(segment, safe="") for segment in name.split("/"))


@dataclass(frozen=True)
class LinkedFile:
    """A file a product names, as :func:`~airflow_provider_dmjy.reports.write_run_report` found it.

    ``given`` is the product's value, ``name`` the name relative to the run's folder (None when
    the value points outside it), ``present`` whether the folder has it. Only a present file is
    ever linked.
    """

    role: str
    given: str
    name: str | None
    present: bool

    @property
    def problem(self) -> str | None:
        """None when present; else ``"missing"`` or ``"outside the run folder"``."""
        if self.present:
            return None
        return "outside the run folder" if self.name is None else "missing"

    @property
    def href(self) -> str | None:
        """The link from ``index.html`` (None unless present)."""
        return file_href(self.name) if self.present and self.name is not None else None
