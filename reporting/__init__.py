"""The nightly report: one self-contained HTML page of charts drawn from the marts.

A plain library (no Dagster): each chart group is a module with pure drawing functions (a frame
in, an inline SVG out) and a ``section(con)`` that reads its marts from a DuckDB connection;
``page.render_report`` assembles the sections. The Dagster asset and `weixi report` in
``orchestration/`` only open the warehouse and write the file.
"""
