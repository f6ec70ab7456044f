"""Triggers: async waits that run in the Airflow triggerer (never a blocking call)."""
