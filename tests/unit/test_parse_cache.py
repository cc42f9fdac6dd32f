"""dbt's partial-parse file is kept per set of vars and per profile output, and handed back to
the next invocation with the same ones."""

from __future__ import annotations

from pathlib import Path

from orchestration.defs.dbt import parse_cache


def test_the_key_follows_the_vars_and_the_target():
    key = parse_cache.cache_key('{"warehouse": "a.duckdb"}', "dev")
    assert key == parse_cache.cache_key('{"warehouse": "a.duckdb"}', "dev")
    assert key != parse_cache.cache_key('{"warehouse": "b.duckdb"}', "dev")
    assert key != parse_cache.cache_key('{"warehouse": "a.duckdb"}', "spark")


def test_a_kept_file_starts_the_next_invocation_with_the_same_key(tmp_path: Path):
    cache, first, second = tmp_path / "cache", tmp_path / "first", tmp_path / "second"
    first.mkdir()
    (first / parse_cache.PARTIAL_PARSE_FILE).write_bytes(b"parsed")
    key = parse_cache.cache_key("{}", "dev")
    parse_cache.keep(cache, key, first)
    parse_cache.restore(cache, parse_cache.cache_key("{}", "spark"), second)
    assert not (second / parse_cache.PARTIAL_PARSE_FILE).exists()
    parse_cache.restore(cache, key, second)
    assert (second / parse_cache.PARTIAL_PARSE_FILE).read_bytes() == b"parsed"
