"""Errors as values: every public error survives pickling (Celery result backends, multiprocessing).

The classes are enumerated from :mod:`airflow_provider_dmjy.exceptions` at run time and built
from their own signatures, so a class added later is covered without touching this file.
"""

from __future__ import annotations

import copy
import inspect
import multiprocessing
import pickle
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from airflow_provider_dmjy import exceptions
from airflow_provider_dmjy._compat import AirflowFailException
from airflow_provider_dmjy.exceptions import DmjyApiError, DmjyError, DmjyNotFoundError, DmjyServerError
from airflow_provider_dmjy.hooks.dmjy import DmjyHook, as_airflow_error
from airflow_provider_dmjy.simulator.handle import SimulatorHandle

#: Sample arguments by parameter name; others are derived from the annotation (see ``_sample``).
SAMPLES: dict[str, Any] = {
    "message": "Video task task_1 not found",
    "status": 404,
    "code": "NOT_FOUND",
    "method": "GET",
    "path": "/api/v1/videos/task_1",
    "retry_after": 2.5,
    "reached_server": True,
    "payload": {"description": "展示智能保温杯", "imageUrl": "https://example.com/cup.jpg"},
    "sent_at": 1_767_225_600.0,
    "cause": DmjyServerError("Bad gateway", status=502, method="POST", path="/api/v1/videos"),
    "field": "duration",
    "value": "²",
    "reason": "must be a whole number of seconds",
    "argument": "duration",
    "video_id": "task_1",
    "error_message": "render failed: image unreachable",
    "waited_seconds": 3600.0,
}


def public_error_classes() -> list[type[DmjyError]]:
    """Every error class the module exports (a class added later is picked up here)."""
    found = [
        value
        for name, value in vars(exceptions).items()
        if not name.startswith("_") and isinstance(value, type) and issubclass(value, DmjyError)
    ]
    assert {cls.__name__ for cls in found} >= {name for name in exceptions.__all__ if name.startswith("Dmjy")}
    return sorted(found, key=lambda cls: cls.__name__)


def _sample(parameter: inspect.Parameter) -> Any:
    if parameter.name in SAMPLES:
        return SAMPLES[parameter.name]
    annotation = str(parameter.annotation)
    for marker, value in (
        ("BaseException", SAMPLES["cause"]),
        ("dict", {"key": "value"}),
        ("bool", True),
        ("float", 1.5),
        ("int", 7),
        ("str", f"sample {parameter.name}"),
    ):
        if marker in annotation:
            return value
    return f"sample {parameter.name}"


def _parameters(cls: type) -> list[inspect.Parameter]:
    """The parameters of ``cls.__init__``, with ``**kwargs`` expanded into those of its base."""
    init = cls.__init__  # type: ignore[misc]
    if not inspect.isfunction(init):  # a builtin's __init__ (Exception, ValueError): one message
        return [inspect.Parameter("message", inspect.Parameter.POSITIONAL_ONLY)]
    found: list[inspect.Parameter] = []
    for parameter in list(inspect.signature(init).parameters.values())[1:]:
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            base = next(b for b in cls.__mro__[1:] if b.__init__ is not init)  # type: ignore[misc]
            names = {p.name for p in found}
            found += [
                p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                for p in _parameters(base)
                if p.name not in names
            ]
        elif parameter.kind is not inspect.Parameter.VAR_POSITIONAL:
            found.append(parameter)
    return found


def build(cls: type[DmjyError]) -> DmjyError:
    """An instance of ``cls`` with every argument given, so every attribute is set."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for parameter in _parameters(cls):
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = _sample(parameter)
        else:
            args.append(_sample(parameter))
    return cls(*args, **kwargs)


def same(a: Any, b: Any) -> bool:
    """Equal values; errors (which compare by identity) by class, message and attributes."""
    if isinstance(a, BaseException):
        return (
            type(a) is type(b)
            and str(a) == str(b)
            and a.args == b.args
            and a.__dict__.keys() == b.__dict__.keys()
            and all(same(a.__dict__[key], b.__dict__[key]) for key in a.__dict__)
        )
    return bool(a == b)


ROUND_TRIPS: dict[str, Callable[[Any], Any]] = {
    "pickle": lambda error: pickle.loads(pickle.dumps(error)),  # noqa: S301 - our own bytes
    "pickle protocol 2": lambda error: pickle.loads(pickle.dumps(error, protocol=2)),  # noqa: S301
    "deepcopy": copy.deepcopy,
}


@pytest.mark.reliability(
    area="Errors as values",
    case="pickle and copy.deepcopy of every public error class (enumerated at run time)",
    expected="same class, message and attributes; DmjyApiError's prefix is not doubled",
)
def test_every_public_error_survives_pickling(evidence: Any) -> None:
    classes = public_error_classes()
    assert len(classes) >= 17
    broken = []
    for cls in classes:
        error = build(cls)
        for name, round_trip in ROUND_TRIPS.items():
            try:
                back = round_trip(error)
            except Exception as problem:  # collected: the assertion lists every broken class
                broken.append(f"{cls.__name__} ({name}): {type(problem).__name__}: {problem}")
                continue
            if not same(error, back):
                broken.append(f"{cls.__name__} ({name}): {back!r} != {error!r}")
    assert broken == []
    api_error = pickle.loads(pickle.dumps(build(DmjyApiError)))  # noqa: S301 - our own bytes
    assert str(api_error).count("DMJY API error") == 1
    evidence.message(api_error)


@pytest.mark.reliability(
    area="Errors as values",
    case="pickle and copy.deepcopy of the Airflow-failure copies made by as_airflow_error",
    expected="same class, message and attributes; still the Dmjy class and an AirflowFailException",
)
def test_converted_errors_survive_pickling(evidence: Any) -> None:
    broken = []
    for cls in public_error_classes():
        converted = as_airflow_error(build(cls))
        for name, round_trip in ROUND_TRIPS.items():
            try:
                back = round_trip(converted)
            except Exception as problem:  # collected: the assertion lists every broken class
                broken.append(f"{cls.__name__} ({name}): {type(problem).__name__}: {problem}")
                continue
            ok = (
                same(converted, back)
                and isinstance(back, cls)
                and isinstance(back, AirflowFailException) is (not cls.retryable)
                and as_airflow_error(back) is back
            )
            if not ok:
                broken.append(f"{cls.__name__} ({name}): {back!r}")
    assert broken == []
    back = pickle.loads(pickle.dumps(as_airflow_error(build(DmjyNotFoundError))))  # noqa: S301
    with pytest.raises(DmjyNotFoundError) as caught:  # the copy is still caught by its own class
        raise back
    assert isinstance(caught.value, AirflowFailException)
    evidence.message(back)


def _missing_video_in_a_child_process() -> None:
    DmjyHook().get_video("task_missing")


@pytest.mark.reliability(
    area="Errors as values",
    case="a hook error raised in a child process (multiprocessing, spawn) and re-raised in the parent",
    expected="the parent catches DmjyNotFoundError, also an AirflowFailException, with the exact message",
)
def test_a_converted_error_crosses_a_process_boundary(dmjy_conn: SimulatorHandle, evidence: Any) -> None:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        future = pool.submit(_missing_video_in_a_child_process)
        with pytest.raises(DmjyNotFoundError) as info:
            future.result(timeout=120)
    error = info.value
    assert isinstance(error, AirflowFailException)
    assert (
        str(error)
        == "DMJY API error 404 NOT_FOUND: Video task task_missing not found (GET /api/v1/videos/task_missing)"
    )
    assert (error.status, error.code, error.path) == (404, "NOT_FOUND", "/api/v1/videos/task_missing")
    assert dmjy_conn.state()["requests"]["GET /api/v1/videos/{id}"] == 1
    evidence.message(error)
