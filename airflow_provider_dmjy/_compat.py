"""Names that moved between the supported Airflow versions (3.1 and newer), imported once here."""

from __future__ import annotations

from importlib.metadata import version

from packaging.version import Version

try:  # Airflow >= 3.2 (Task SDK exceptions)
    from airflow.sdk.exceptions import AirflowFailException
except ImportError:  # Airflow 3.1
    from airflow.exceptions import AirflowFailException  # type: ignore[no-redef,attr-defined]

__all__ = ["AIRFLOW_VERSION", "AirflowFailException"]

AIRFLOW_VERSION = Version(Version(version("apache-airflow-core")).base_version)
