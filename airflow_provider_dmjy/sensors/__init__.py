"""Sensors that wait for DMJY resources (cheap to import: no aiohttp at parse time)."""
