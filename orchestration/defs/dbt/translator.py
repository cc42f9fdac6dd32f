"""How dbt nodes become Dagster assets: sources point at the ingestion assets, models are keyed
and grouped by the schema (layer) they build in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings


class WeixiDbtTranslator(DagsterDbtTranslator):
    def __init__(self) -> None:
        # Every entity of a source (crm.customers, crm.contacts) is loaded by one ingestion
        # asset, so several dbt sources share one asset key.
        super().__init__(DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        # A node may name its asset in `meta: {dagster: {asset_key: [...]}}` (tables that
        # Python assets write, read by dbt as sources).
        if dbt_resource_props.get("meta", {}).get("dagster", {}).get("asset_key"):
            return super().get_asset_key(dbt_resource_props)
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey(["raw", dbt_resource_props["source_name"]])
        schema = dbt_resource_props.get("config", {}).get("schema")
        return dg.AssetKey(
            [schema, dbt_resource_props["name"]] if schema else [dbt_resource_props["name"]]
        )

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "ingest"
        return dbt_resource_props.get("config", {}).get("schema") or "dbt"
