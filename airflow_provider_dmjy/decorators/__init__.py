"""TaskFlow decorators of the provider, found by Airflow through the provider info's
``task-decorators`` (``@task.dmjy_video``: :mod:`airflow_provider_dmjy.decorators.video`).

Empty on purpose: Airflow imports a decorator's module only when a DAG uses it.
"""
