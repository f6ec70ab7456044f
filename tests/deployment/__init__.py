"""Deployment tests: the provider inside real Airflow components, not only ``dag.test()``."""
