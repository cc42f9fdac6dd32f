"""Weixi's models as plain, typed functions over pandas frames and numpy arrays. Nothing here
knows about Dagster or the warehouse; ``orchestration/defs/ml/`` wires them in."""
