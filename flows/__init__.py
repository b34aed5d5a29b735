"""Prefect flows: thin shells that parse params, call `irl`, log to MLflow and write DVC outputs.

With no PREFECT_API_URL, flows run against Prefect's temporary local server; its first start
(database migrations) can take over a minute, hence the generous start-up timeout.
"""

import os

if not os.environ.get("PREFECT_API_URL"):
    os.environ.setdefault("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
