"""``python -m airflow_provider_dmjy.simulator``."""

from airflow_provider_dmjy.simulator.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
