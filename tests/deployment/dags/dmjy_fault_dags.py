"""DAGs that tests/deployment/test_real_faults.py runs in real Airflow components while it kills them.

Renders are slow in these tests (the simulator runs with long render times) and the test completes
each video through the simulator's control endpoint once the fault is over: the waits poll every
second or two, so a completion is seen at once.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_dmjy.operators.video import DmjyCreateVideoOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
#: Deferrable creates waiting in the triggerer at once, in the triggerer failover test.
FAILOVER_VIDEOS = 3

with DAG(dag_id="dmjy_fault_worker_killed", schedule=None, start_date=START, catchup=False):
    # Waits in the worker; the test SIGKILLs the task process during that wait.
    DmjyCreateVideoOperator(
        task_id="create_video",
        description="A ceramic cup turning slowly on a wooden table",
        image_url="https://example.com/products/cup.jpg",
        duration=5,
        deferrable=False,
        retries=1,
        retry_delay=timedelta(seconds=1),
        poll_interval=1,
        max_poll_interval=2,
        timeout=900,
    )

with DAG(dag_id="dmjy_fault_triggerer_killed", schedule=None, start_date=START, catchup=False):
    # No retries: the waits must survive the triggerer's death in place, not through a new try.
    for index in range(FAILOVER_VIDEOS):
        DmjyCreateVideoOperator(
            task_id=f"create_video_{index}",
            description=f"Product {index} on a plain background, slow pan",
            image_url=f"https://example.com/products/{index}.jpg",
            duration=5,
            deferrable=True,
            retries=0,
            poll_interval=1,
            max_poll_interval=2,
            timeout=900,
        )
