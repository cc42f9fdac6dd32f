"""Deterministic demo data for Weixi: a shop's CRM, orders, service and social deliveries in
the landing layout of `ingest.contract`, with planted behaviour for the models to find
(see docs/demo_data.md) and its ground truth under ``<out>/_truth/``."""

from .generator import GenerationSummary, GeneratorConfig, generate
from .writer import NotDemoData

__all__ = ["GenerationSummary", "GeneratorConfig", "NotDemoData", "generate"]
