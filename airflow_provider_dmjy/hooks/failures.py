"""Where a :class:`~airflow_provider_dmjy.exceptions.DmjyError` becomes Airflow's failure.

An error that no retry can fix (bad input, auth, permission, not found, daily cap, insufficient
balance, a failed render) should not burn Airflow's task retries, so it leaves the provider as a
copy that is also an ``AirflowFailException``; a retryable one leaves unchanged. The hook applies
:func:`airflow_failures` to every call it forwards (for ``@task`` code); the operators and the
sensor apply it once around their work (``DmjyTaskMixin.failures()`` in
:mod:`airflow_provider_dmjy.operators.base`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.exceptions import DmjyError

__all__ = ["airflow_failures", "as_airflow_error"]

_FAILURE_CLASSES: dict[type[DmjyError], type[DmjyError]] = {}


def as_airflow_error(error: DmjyError) -> DmjyError:
    """``error`` itself when a retry may help; else a copy that is also an ``AirflowFailException``.

    The copy keeps the original class (``except DmjyNotFoundError`` still catches it) and its
    attributes, pickles like the original, and converting it again returns it unchanged; raise it
    ``from`` the original.
    """
    if error.retryable or isinstance(error, AirflowFailException):
        return error
    failure = _restore_failure(type(error), error.args)
    failure.__dict__.update(error.__dict__)
    return failure


@contextlib.contextmanager
def airflow_failures() -> Iterator[None]:
    """Raise a :class:`DmjyError` from the block as :func:`as_airflow_error` makes it, chained to
    the original when it was converted (an error that is already Airflow's leaves untouched)."""
    try:
        yield
    except DmjyError as error:
        failure = as_airflow_error(error)
        if failure is error:
            raise
        raise failure from error


def _failure_class(cls: type[DmjyError]) -> type[DmjyError]:
    """The subclass of ``cls`` that is also an ``AirflowFailException`` (one per class, made once)."""
    failure_class = _FAILURE_CLASSES.get(cls)
    if failure_class is None:
        failure_class = type(
            cls.__name__,
            (cls, AirflowFailException),
            {"__doc__": cls.__doc__, "__module__": cls.__module__, "__reduce__": _reduce_failure},
        )
        # setdefault: two threads converting at once still share one class.
        failure_class = _FAILURE_CLASSES.setdefault(cls, failure_class)
    return failure_class


def _reduce_failure(self: DmjyError) -> tuple[Any, ...]:
    # The failure class is made at run time, so pickle cannot find it by name: pickle the original
    # class instead, and make (or find) the failure class again when unpickling.
    original = type(self).__bases__[0]
    return _restore_failure, (original, self.args), dict(self.__dict__)


def _restore_failure(cls: type[DmjyError], args: tuple[Any, ...]) -> DmjyError:
    """Unpickling a converted error: the failure copy of ``cls`` with message ``args``."""
    failure_class = _failure_class(cls)
    failure = failure_class.__new__(failure_class)
    failure.args = args
    return failure
