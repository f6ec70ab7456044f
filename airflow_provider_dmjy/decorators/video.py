"""``@task.dmjy_video``: a TaskFlow function returns the create arguments of one video, and the task
creates it and waits exactly like :class:`~airflow_provider_dmjy.operators.video.DmjyCreateVideoOperator`
(the same validation before any request, deferral, marker, state store and ``CreateOnce``: never
charged twice), returning the same task dict (XCom).

One task instance makes one video: for several, map the function with ``.expand()``; each mapped
instance returns the arguments of its own video (and has its own marker)::

    from airflow.sdk import task


    @task.dmjy_video(deferrable=True, retries=2, poll_interval=15)
    def product_video(product: dict[str, Any]) -> dict[str, Any]:
        return {
            "description": f"为「{product['name']}」制作一支商品短视频",
            "image_url": product["image_url"],
            "duration": 10,
        }


    videos = product_video.expand(product=[{"name": "保温杯", "image_url": "https://..."}, ...])

Airflow imports this module only when a DAG uses ``task.dmjy_video`` (the provider info names it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from airflow.sdk.bases.decorator import DecoratedOperator, TaskDecorator, task_decorator_factory
from airflow.sdk.definitions._internal.types import SET_DURING_EXECUTION
from airflow.sdk.definitions.context import context_merge

from airflow_provider_dmjy.exceptions import DmjyValidationError

# The keys the decorated function may return: the create operator's request arguments.
from airflow_provider_dmjy.operators.reuse import CREATE_ARGUMENTS
from airflow_provider_dmjy.operators.video import DmjyCreateVideoOperator

# Here rather than in _compat: only DAGs using the decorator need it (and its module's imports).
try:  # Airflow >= 3.2
    from airflow.sdk.bases.decorator import determine_kwargs  # type: ignore[attr-defined]
except ImportError:  # Airflow 3.1
    from airflow.utils.operator_helpers import determine_kwargs  # type: ignore[no-redef,attr-defined]

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["CREATE_ARGUMENTS", "XCOM_ARGUMENTS_KEY", "DmjyVideoDecoratedOperator", "dmjy_video_task"]

#: XCom key of the create arguments the function returned (validated): shows what the task asked
#: for, and gives them back to a task that resumes after a deferral (it does not run the function).
XCOM_ARGUMENTS_KEY = "dmjy_create_arguments"


class DmjyVideoDecoratedOperator(DecoratedOperator, DmjyCreateVideoOperator):
    """Run the TaskFlow function, then create and wait for the video its returned dict describes.

    The decorator's arguments are :class:`DmjyCreateVideoOperator`'s other arguments
    (``dmjy_conn_id``, ``wait_for_completion``, ``deferrable``, ``poll_interval``,
    ``max_poll_interval``, ``timeout``, ``cancel_on_kill``, ``reuse``, ``reuse_within``: the last
    two templated) and ``BaseOperator``'s (``retries``,
    ``pool``, ...). The returned values are used as they are (not rendered as Jinja: the function
    builds them in Python, with the task context as its arguments if it asks for them).

    :param python_callable: the decorated function; returns a dict whose keys are among
        :data:`CREATE_ARGUMENTS` (``description`` and one of ``image_url``/``image_urls`` required).
    :param op_args: its positional arguments (templated).
    :param op_kwargs: its keyword arguments (templated).
    """

    # Not the create arguments: they do not exist before the function runs.
    template_fields: Sequence[str] = (
        *DecoratedOperator.template_fields,
        "reuse",
        "reuse_within",
        "dmjy_conn_id",
    )
    custom_operator_name = "@task.dmjy_video"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        _refuse_create_arguments(kwargs)
        super().__init__(
            python_callable=python_callable,
            op_args=op_args,
            op_kwargs=op_kwargs,
            # Airflow's placeholder for a value the callable gives at run time (as @task.bash does).
            description=cast("str", SET_DURING_EXECUTION),
            **kwargs,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        """Call the function, check what it returned, then the create operator's ``execute``."""
        context_merge(context, self.op_kwargs)
        returned = self.python_callable(
            *self.op_args, **determine_kwargs(self.python_callable, self.op_args, context)
        )
        # A bad return value is a DmjyValidationError (no task retry for it), raised before the
        # XCom and any request: the shape here, the values by the create operator's own check.
        with self.failures():
            arguments = _create_arguments(returned)
            self._use(arguments)
            self._request(self._marker(context))
        self.log.info("The function returned the create arguments %s", arguments)
        context["ti"].xcom_push(key=XCOM_ARGUMENTS_KEY, value=arguments)
        # DecoratedOperator.execute, then (next in the MRO) DmjyCreateVideoOperator.execute.
        result: dict[str, Any] = super().execute(context)
        return result

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger with the arguments of the deferred try, as the create operator."""
        ti = context["ti"]
        stored = ti.xcom_pull(task_ids=ti.task_id, key=XCOM_ARGUMENTS_KEY, map_indexes=ti.map_index)
        if isinstance(stored, Mapping):
            self._use(stored)
        return super().execute_complete(context, event)

    def _use(self, arguments: Mapping[str, Any]) -> None:
        for name in CREATE_ARGUMENTS:
            setattr(self, name, arguments.get(name))


def _create_arguments(returned: object) -> dict[str, Any]:
    """The dict of create arguments the decorated function returned (a copy); raises
    :class:`DmjyValidationError` for anything else (the values are the operator's to check)."""
    if not isinstance(returned, Mapping):
        hint = (
            ": one task makes one video; map the task with .expand() for several"
            if isinstance(returned, (list, tuple))
            else ""
        )
        raise DmjyValidationError(
            "return_value",
            returned,
            f"@task.dmjy_video's function must return a dict of create arguments "
            f"({', '.join(CREATE_ARGUMENTS)}){hint}",
        )
    for key, value in returned.items():
        if key not in CREATE_ARGUMENTS:
            raise DmjyValidationError(
                str(key),
                value,
                f"not a create argument (those are {', '.join(CREATE_ARGUMENTS)}); the operator's "
                f"other arguments go to the decorator: @task.dmjy_video({key}=...)",
            )
    return dict(returned)


def _refuse_create_arguments(kwargs: Mapping[str, Any]) -> None:
    given = [name for name in CREATE_ARGUMENTS if name in kwargs]
    if given:
        raise TypeError(
            f"@task.dmjy_video takes {', '.join(given)} from the function's return value, not as a "
            f"decorator argument"
        )


def dmjy_video_task(
    python_callable: Callable[..., Any] | None = None,
    multiple_outputs: bool = False,
    **kwargs: Any,
) -> TaskDecorator:
    """``@task.dmjy_video``: wrap a function returning the create arguments into a
    :class:`DmjyVideoDecoratedOperator` (see the module).

    :param python_callable: the function (given when the decorator is used without parentheses).
    :param multiple_outputs: push each field of the task dict as its own XCom too (default False,
        whatever the function's return annotation says: the task returns the video, not the dict
        the function returned).
    :param kwargs: the operator's arguments (``deferrable``, ``retries``, ...).
    """
    _refuse_create_arguments(kwargs)
    return task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=DmjyVideoDecoratedOperator,
        **kwargs,
    )
