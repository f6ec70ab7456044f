"""Names that moved between the supported Airflow versions (3.1 and newer), imported once here.

mypy runs against the newest and the oldest supported Airflow: an import that exists on one of them
only carries an ``attr-defined`` ignore (unused ignores are not reported).
"""

from __future__ import annotations

from importlib.metadata import version

from packaging.version import Version

try:  # Airflow >= 3.2 (Task SDK exceptions)
    from airflow.sdk.exceptions import AirflowFailException  # type: ignore[attr-defined]
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef,attr-defined]

try:  # Airflow >= 3.2
    from airflow.sdk import conf  # type: ignore[attr-defined]
except ImportError:  # Airflow 3.1
    from airflow.configuration import conf  # type: ignore[no-redef,assignment]

try:  # Airflow >= 3.2
    from airflow.sdk.exceptions import AirflowSkipException  # type: ignore[attr-defined]
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowSkipException  # type: ignore[no-redef,attr-defined]

__all__ = ["AIRFLOW_VERSION", "AirflowFailException", "AirflowSkipException", "conf", "default_deferrable"]

AIRFLOW_VERSION = Version(Version(version("apache-airflow-core")).base_version)


def default_deferrable() -> bool:
    """``[operators] default_deferrable``: the default of every ``deferrable`` argument here."""
    return bool(conf.getboolean("operators", "default_deferrable", fallback=False))
