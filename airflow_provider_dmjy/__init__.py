"""Apache Airflow provider for the DMJY AI video-generation API.

Importing this package is cheap on purpose: it only describes the provider to Airflow.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's ``ProvidersManager`` (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": "airflow-provider-dmjy",
        "name": "DMJY AI Video",
        "description": "Create, wait for, archive and clean up DMJY AI product videos from Airflow.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "DMJY AI Video",
                "external-doc-url": "https://dmjyai.vip",
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": "DMJY AI Video",
                "python-modules": [
                    "airflow_provider_dmjy.operators.video",
                    "airflow_provider_dmjy.operators.template",
                    "airflow_provider_dmjy.operators.account",
                ],
            }
        ],
        "sensors": [
            {"integration-name": "DMJY AI Video", "python-modules": ["airflow_provider_dmjy.sensors.video"]}
        ],
        "hooks": [
            {"integration-name": "DMJY AI Video", "python-modules": ["airflow_provider_dmjy.hooks.dmjy"]}
        ],
        "triggers": [
            {
                "integration-name": "DMJY AI Video",
                "python-modules": [
                    "airflow_provider_dmjy.triggers.video",
                    "airflow_provider_dmjy.triggers.events",
                ],
            }
        ],
        "extra-links": ["airflow_provider_dmjy.operators.video.DmjyVideoLink"],
        # @task.dmjy_video; Airflow imports the module only when a DAG uses the decorator.
        "task-decorators": [
            {"class-name": "airflow_provider_dmjy.decorators.video.dmjy_video_task", "name": "dmjy_video"}
        ],
        # Airflow runs the handler on every Asset("dmjy://..."): a malformed URI fails the DAG's parse.
        "asset-uris": [{"schemes": ["dmjy"], "handler": "airflow_provider_dmjy.assets.sanitize_uri"}],
        "config": {
            "dmjy": {
                "description": "The DMJY webhook receiver on the api-server (off unless enabled).",
                "options": {
                    "webhooks_enabled": {
                        "description": (
                            "Mount the webhook receiver POST /dmjy/webhooks/<conn_id> on the api-server. "
                            "It is outside Airflow's login (the signature with the connection's API "
                            "secret is its only gate), so it is off unless set to True; read when the "
                            "api-server starts."
                        ),
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "True",
                        "default": "False",
                    },
                    "webhook_max_body_bytes": {
                        "description": "Largest accepted webhook body, refused before parsing.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": None,
                        "default": "65536",
                    },
                    "webhook_tolerance_seconds": {
                        "description": "How far a webhook's timestamp may be from now (replay protection).",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": None,
                        "default": "300",
                    },
                },
            }
        },
        "connection-types": [
            {
                "connection-type": "dmjy",
                "hook-class-name": "airflow_provider_dmjy.hooks.dmjy.DmjyHook",
                "hook-name": "DMJY AI Video",
                "conn-fields": {
                    "auth_mode": {
                        "label": "Auth mode",
                        "description": "signature (HMAC-SHA256, for production) or header (sends the secret)",
                        "schema": {
                            "type": ["string", "null"],
                            "enum": ["signature", "header"],
                            "default": "signature",
                        },
                    },
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "schema": {"type": ["number", "null"], "default": 30},
                    },
                    "max_retries": {
                        "label": "Retries of a failed read or delete",
                        "schema": {"type": ["integer", "null"], "default": 3},
                    },
                    "sign_query_string": {
                        "label": "Sign the query string too",
                        "description": "Only for a server that includes ?query in the signed path",
                        "schema": {"type": ["boolean", "null"], "default": False},
                    },
                    "user_id": {
                        "label": "Default template user id",
                        "description": "userId used when a template operator gives none",
                        "schema": {"type": ["string", "null"]},
                    },
                },
                # The port stays visible: Airflow 3.3's Test button refuses a connection stored
                # without one (docs/connection.md, "Testing the connection").
                "ui-field-behaviour": {
                    "hidden-fields": ["schema"],
                    "relabeling": {"login": "API Key", "password": "API Secret", "host": "Base URL"},
                    "placeholders": {
                        "login": "mk_...",
                        "password": "the API secret from the account page",
                        "host": "https://dmjyai.vip/api/v1",
                        "port": "443, or the port in the Base URL",
                    },
                },
            }
        ],
    }
