"""The provider's metadata: valid for Airflow's schema, and found by a plain install."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources

import jsonschema

from airflow_provider_dmjy import get_provider_info


def test_matches_airflows_provider_info_schema() -> None:
    schema = json.loads(resources.files("airflow").joinpath("provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    connection = info["connection-types"][0]
    assert connection["connection-type"] == "dmjy"
    assert connection["hook-class-name"] == "airflow_provider_dmjy.hooks.dmjy.DmjyHook"
    assert set(connection["conn-fields"]) == {
        "auth_mode",
        "timeout",
        "max_retries",
        "sign_query_string",
        "user_id",
    }
    assert connection["ui-field-behaviour"]["relabeling"]["password"] == "API Secret"
    assert info["asset-uris"] == [
        {"schemes": ["dmjy"], "handler": "airflow_provider_dmjy.assets.sanitize_uri"}
    ]
    # The keys Airflow's ProvidersManager reads ("name", "class-name"): @task.dmjy_video.
    assert info["task-decorators"] == [
        {"class-name": "airflow_provider_dmjy.decorators.video.dmjy_video_task", "name": "dmjy_video"}
    ]


def test_airflow_discovers_the_provider_and_the_connection_type() -> None:
    from airflow.providers_manager import ProvidersManager

    assert "airflow-provider-dmjy" in ProvidersManager().providers
    try:  # Airflow >= 3.2: hooks are the Task SDK runtime's business
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime as Manager
    except ImportError:  # Airflow 3.1
        Manager = ProvidersManager  # type: ignore[assignment,misc]
    hook = Manager().hooks["dmjy"]
    assert hook is not None and hook.hook_class_name == "airflow_provider_dmjy.hooks.dmjy.DmjyHook"


def test_importing_operators_stays_cheap() -> None:
    # The dag-processor parses DAG files every few seconds: no HTTP server or async stack there,
    # no OpenLineage client (the lineage methods import it when the listener calls them), and no
    # HTTP client at all: the hook (the sync client, ``requests``) and the media download are
    # imported when a task runs.
    code = (
        "import sys\n"
        "import airflow_provider_dmjy.operators.video, airflow_provider_dmjy.operators.account\n"
        "import airflow_provider_dmjy.operators.template, airflow_provider_dmjy.operators.delete\n"
        "import airflow_provider_dmjy.operators.download, airflow_provider_dmjy.sensors.video\n"
        "heavy = ('aiohttp', 'fastapi', 'uvicorn', 'airflow_provider_dmjy.simulator', 'openlineage',\n"
        "         'airflow.providers.openlineage.extractors', 'airflow_provider_dmjy.lineage',\n"
        "         'requests', 'urllib3', 'airflow_provider_dmjy.hooks.dmjy',\n"
        "         'airflow_provider_dmjy.client.sync_client', 'airflow_provider_dmjy.client.media')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    assert _last_line(code) == "HEAVY="


def test_the_create_operator_searches_as_deep_as_the_hook_by_default() -> None:
    # The operator takes its default from ``client/calls.py`` so that parsing never loads the hook.
    from airflow_provider_dmjy.hooks.dmjy import MARKER_SEARCH_MAX_PAGES
    from airflow_provider_dmjy.operators.video import DmjyCreateVideoOperator

    assert DmjyCreateVideoOperator.reconcile_max_pages == MARKER_SEARCH_MAX_PAGES


def test_client_layer_has_no_airflow_import() -> None:
    code = (
        "import sys\n"
        "import airflow_provider_dmjy.client, airflow_provider_dmjy.client.async_client\n"
        "import airflow_provider_dmjy.exceptions\n"
        "print('AIRFLOW=' + ','.join(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))\n"
    )
    assert _last_line(code) == "AIRFLOW="


def test_simulator_imports_nothing_from_the_provider() -> None:
    code = (
        "import sys\n"
        "import airflow_provider_dmjy.simulator.app, airflow_provider_dmjy.simulator.server\n"
        "print('PROVIDER=' + ','.join(m for m in sys.modules if m.startswith('airflow_provider_dmjy.')"
        " and not m.startswith('airflow_provider_dmjy.simulator')))\n"
    )
    assert _last_line(code) == "PROVIDER="


def test_the_triggerer_does_not_load_requests() -> None:
    # The triggerer imports the triggers, the async hook and the async client: never the sync
    # client (requests), not even through ``airflow_provider_dmjy.client``'s own imports.
    code = (
        "import sys\n"
        "import airflow_provider_dmjy.triggers.video, airflow_provider_dmjy.triggers.events\n"
        "from airflow_provider_dmjy.hooks.async_hook import DmjyAsyncHook\n"
        "print('REQUESTS=' + str('requests' in sys.modules))\n"
    )
    assert _last_line(code) == "REQUESTS=False"


def test_the_sync_client_is_still_exported_by_the_client_package() -> None:
    code = (
        "from airflow_provider_dmjy.client import DmjyAuth, DmjyClient\n"
        "from airflow_provider_dmjy.client.sync_client import DmjyClient as Original\n"
        "print('SAME=' + str(DmjyClient is Original))\n"
    )
    assert _last_line(code) == "SAME=True"


def _last_line(code: str) -> str:
    """Run ``code`` in a fresh interpreter (nothing imported yet) and return its last stdout line."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout  # noqa: S603
    return out.strip().splitlines()[-1]


def test_package_declares_its_types() -> None:
    # PEP 561: without py.typed, users' type checkers ignore the package's annotations.
    assert resources.files("airflow_provider_dmjy").joinpath("py.typed").is_file()
