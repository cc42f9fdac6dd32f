"""CSV formula injection: every CSV export is safe to open in a spreadsheet, ad hashes exact."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from activation.destinations.delivery import NightInput, night_changes, run_syncs
from activation.destinations.erasure import rewrite_without
from activation.destinations.formats import (
    AD_FORMATS,
    ad_hashes,
    payload_columns,
    spreadsheet_cell,
    spreadsheet_safe,
    write_csv,
)
from activation.destinations.members import MARKETING, ExportMembers
from activation.destinations.sync import SYNC_STATE

HOSTILE = {
    '=HYPERLINK("http://x","click")': '\'=HYPERLINK("http://x","click")',
    "@SUM(A1)": "'@SUM(A1)",
    "+x@example.com": "'+x@example.com",
    "-2+3+cmd|' /C calc'!A0": "'-2+3+cmd|' /C calc'!A0",
    "\t=1+1": "'\t=1+1",
    "\r=1+1": "'\r=1+1",
    "+86 138-0000-0000": "'+86 138-0000-0000",
}
HARMLESS = ["张伟", "a=b", "x@example.com", "+8613800000000", "-12.5", "0", "", "'=already"]


@pytest.mark.parametrize(("value", "safe"), HOSTILE.items())
def test_formula_cells_get_a_leading_quote(value, safe):
    assert spreadsheet_cell(value) == safe
    assert spreadsheet_cell(safe) == safe  # twice is once


@pytest.mark.parametrize("value", HARMLESS)
def test_other_text_and_plain_numbers_stay_as_they_are(value):
    assert spreadsheet_cell(value) == value


def test_a_frame_keeps_its_non_text_columns_and_values():
    frame = pd.DataFrame(
        {"name": ["=1+1", None, "Li"], "n": [-1, 2, 3], "new": [True, False, True]}
    )
    safe = spreadsheet_safe(frame)
    assert safe["name"][0] == "'=1+1" and pd.isna(safe["name"][1]) and safe["name"][2] == "Li"
    assert (safe.dtypes == frame.dtypes).all()
    assert safe["n"].tolist() == [-1, 2, 3] and safe["new"].tolist() == [True, False, True]
    assert frame["name"][0] == "=1+1", "the input frame is not changed"


def _cells(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def test_written_csv_is_safe(tmp_path):
    path = tmp_path / "out.csv"
    write_csv(pd.DataFrame({"name": list(HOSTILE), "phone": "+8613800000000"}), path)
    cells = _cells(path)
    assert set(HOSTILE.values()) <= set(cells)
    assert "+8613800000000" in cells


def _night(tmp_path: Path) -> NightInput:
    hostile = list(HOSTILE)
    rows = []
    for i, name in enumerate(hostile):
        for channel, address in (("email", f"+x{i}@example.com"), ("sms", "+8613800000000")):
            rows.append(
                {
                    "customer_id": f"C{i:04d}",
                    "audience": "win_back" if channel == "sms" else "welcome",
                    "kind": MARKETING,
                    "channel": channel,
                    "address": address,
                    "name": name,
                    "template_key": "v1",
                    "is_new_entry": True,
                    "payload": json.dumps({"top_product": "@SUM(A1)", "discount": "-10"}),
                    "ad_email": f"x{i}@example.com",
                    "ad_phone": "+8613800000000",
                }
            )
    blocked = pd.DataFrame(columns=["audience", "kind", "customer_id", "channel", "rule"])
    export = ExportMembers(rows=pd.DataFrame(rows), blocked=blocked)
    with duckdb.connect() as con:
        SYNC_STATE.create(con)  # a first sync: the destinations hold nobody yet
        changes = night_changes(con, export, webhook=False)
    return NightInput(
        export=export,
        audience_date=date(2025, 12, 30),
        changes=changes,
        rejected_keys=frozenset(),
        exports_dir=tmp_path,
    )


def test_every_export_csv_is_safe_and_ad_hashes_stay_exact(tmp_path):
    night = _night(tmp_path)
    outcome = run_syncs(night, webhook=None)
    files = [p for p in outcome.files if p.suffix == ".csv"]
    assert {p.parent.name for p in files} >= {"email", "sms", "google_ads", "meta_ads"}
    for path in files:
        for cell in _cells(path):
            formula = cell[:1] in {"=", "+", "-", "@", "\t", "\r"}
            assert not formula or cell in {"+8613800000000", "-10"}, (path, cell)
    email = pd.read_csv(tmp_path / "2025-12-30" / "email" / "welcome.csv", dtype=str)
    assert set(email["Name"]) == set(HOSTILE.values())
    assert email["Email Address"].str.startswith("'+x").all()
    assert set(email["top_product"]) == {"'@SUM(A1)"} and set(email["discount"]) == {"-10"}
    sms = pd.read_csv(tmp_path / "2025-12-30" / "sms" / "win_back.csv", dtype=str)
    assert set(sms["phone"]) == {"+8613800000000"}, "E.164 stays usable by the SMS tool"

    members = night.export.rows.drop_duplicates("customer_id")
    for fmt in AD_FORMATS:
        expected = ad_hashes(fmt, members).sort_values("customer_id")
        written = pd.read_csv(tmp_path / "2025-12-30" / fmt.destination / "win_back.csv", dtype=str)
        columns = [fmt.email_column, fmt.phone_column]
        assert written[columns].equals(expected[columns].reset_index(drop=True)), fmt.destination


def test_erasure_finds_an_id_written_spreadsheet_safe(tmp_path):
    path = tmp_path / "list.csv"
    write_csv(pd.DataFrame({"customer_id": ["=C1", "C2"], "name": ["a", "b"]}), path)
    assert rewrite_without(tmp_path, ["=C1"]) == [path]
    assert _cells(path) == ["customer_id", "name", "C2", "b"]


def test_payload_columns_spread_each_distinct_payload_to_every_row_holding_it():
    shared = json.dumps({"tier": "gold", "orders": 3})
    payloads = pd.Series(
        [shared, None, json.dumps({"tier": "=1+1", "items": ["茶", 2]}), "", shared, "{}"],
        index=[10, 11, 12, 13, 14, 15],
    )
    columns = payload_columns(payloads)
    assert list(columns.columns) == ["items", "orders", "tier"]
    assert list(columns.index) == [10, 11, 12, 13, 14, 15]
    expected = [
        {"items": None, "orders": "3", "tier": "gold"},
        {"items": None, "orders": None, "tier": None},
        {"items": '["茶", 2]', "orders": None, "tier": "=1+1"},
        {"items": None, "orders": None, "tier": None},
        {"items": None, "orders": "3", "tier": "gold"},
        {"items": None, "orders": None, "tier": None},
    ]
    assert columns.to_dict("records") == expected
    assert payload_columns(pd.Series([], dtype=object)).shape == (0, 0)


def test_a_mixed_text_column_is_made_safe_cell_by_cell():
    frame = pd.DataFrame({"cell": ["=1+1", 7, None, "-12.5", True, "ok"]}, dtype=object)
    safe = spreadsheet_safe(frame)
    assert safe["cell"].tolist() == ["'=1+1", 7, None, "-12.5", True, "ok"]
    assert frame["cell"][0] == "=1+1", "the input frame is not changed"


def test_payload_values_are_written_as_json_writes_them():
    values = [0.0, 901.0, 439.41, 1e-05, 1e16, -0.0, 12345678901234567890, True, None, "x", [1.5]]
    payloads = pd.Series([json.dumps({"v": v}) for v in values] + ['{"v": NaN}', "{}", None, ""])
    expected = [v if isinstance(v, str) or v is None else json.dumps(v) for v in values]
    assert payload_columns(payloads)["v"].tolist() == [*expected, "NaN", None, None, None]
    # A payload that is not one JSON value fails as it always did, not by shifting its neighbours.
    with pytest.raises(json.JSONDecodeError):
        payload_columns(pd.Series(['{"v": 1}, {"v": 2}', '{"v": 3}']))
