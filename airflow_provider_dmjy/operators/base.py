"""What every DMJY operator shares: the connection id and a lazily built hook."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator

from airflow_provider_dmjy.hooks.dmjy import DmjyHook


class DmjyBaseOperator(BaseOperator):
    """Base class of the DMJY operators.

    :param dmjy_conn_id: the ``dmjy`` connection to use (default ``dmjy_default``).
    """

    def __init__(self, *, dmjy_conn_id: str = DmjyHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dmjy_conn_id = dmjy_conn_id

    @cached_property
    def hook(self) -> DmjyHook:
        """The hook for ``dmjy_conn_id`` (built on first use, at run time, never at parse time)."""
        return DmjyHook(dmjy_conn_id=self.dmjy_conn_id)
