"""Activation: audiences, safety rules and destinations, as plain Python (no Dagster).

The Dagster assets that run it nightly live in ``orchestration/defs/activation/``.
"""
