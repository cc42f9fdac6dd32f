"""The report page: every section, in reading order, in one self-contained HTML file.

Self-contained means nothing is fetched when the page opens: the charts are inline SVG, the
style sheet is inline, there is no script and no web font, so the file can be mailed, opened
offline or archived as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
from jinja2 import Environment

from reporting import (
    churn_risk,
    clv_distribution,
    cohort_heatmap,
    kpi_trends,
    lift_forest,
    migrations,
    product_pairs,
    quality_summary,
    segment_grid,
)
from reporting.section import Section

SECTIONS: tuple[tuple[str, Callable[[duckdb.DuckDBPyConnection], Section]], ...] = tuple(
    (module.TITLE, module.section)
    for module in (
        kpi_trends,
        cohort_heatmap,
        segment_grid,
        migrations,
        churn_risk,
        clv_distribution,
        product_pairs,
        lift_forest,
        quality_summary,
    )
)
"""Each section's title and the function that builds it from a warehouse connection."""

REPORT_NAME = "weixi_report_{reference_date}.html"

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Weixi nightly report {{ reference_date }}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
       max-width: 72rem; margin: 0 auto; padding: 1rem 2rem; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.2rem; }
.meta { color: #666; margin-top: 0; }
nav ol { columns: 3; }
section { border-top: 1px solid #ddd; margin-top: 2rem; }
figure { margin: 1.5rem 0; }
figure svg { width: 100%; height: auto; }
figcaption { color: #444; font-size: 0.95rem; }
figcaption strong { display: block; color: #222; font-size: 1.05rem; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.4rem 0.8rem; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.5rem 0 1.5rem; }
caption { text-align: left; font-weight: bold; padding-bottom: 0.3rem; }
th, td { border-bottom: 1px solid #e5e5e5; padding: 0.2rem 0.6rem; text-align: left; }
th { background: #f5f5f5; }
</style>
</head>
<body>
<h1>Weixi nightly report</h1>
<p class="meta">Data as of {{ reference_date }} &middot; generated {{ generated_at }} &middot;
every chart is drawn from the warehouse marts named under it; no customer is named.</p>
<nav><ol>
{% for part in sections %}<li><a href="#s{{ loop.index }}">{{ part.title }}</a></li>
{% endfor %}</ol></nav>
{% for part in sections %}
<section id="s{{ loop.index }}">
<h2>{{ part.title }}</h2>
{% for note in part.notes %}<p class="note">{{ note }}</p>
{% endfor %}
{% for chart in part.charts %}<figure>
<figcaption><strong>{{ chart.title }}</strong>What this shows: {{ chart.caption }}</figcaption>
{{ chart.svg | safe }}
</figure>
{% endfor %}
{% for table in part.tables %}<table>
<caption>{{ table.caption }}</caption>
<thead><tr>{% for column in table.columns %}<th>{{ column }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in table.rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table>
{% endfor %}
</section>
{% endfor %}
</body>
</html>
"""


def build_sections(con: duckdb.DuckDBPyConnection) -> list[Section]:
    """Every section, built from the warehouse ``con`` opens. A section whose mart has another
    shape than it expects (a query error) becomes a note naming the error, so one broken mart
    never costs the night its whole report."""
    built = []
    for title, build in SECTIONS:
        try:
            built.append(build(con))
        except duckdb.Error as error:
            built.append(Section(title, notes=[f"This part could not be drawn: {error}"]))
    return built


def render_report(sections: list[Section], reference_date: date, generated_at: datetime) -> str:
    """The HTML page of ``sections``."""
    template = Environment(autoescape=True, keep_trailing_newline=True).from_string(TEMPLATE)
    return template.render(
        sections=sections,
        reference_date=reference_date.isoformat(),
        generated_at=generated_at.strftime("%Y-%m-%d %H:%M"),
    )


@dataclass(frozen=True)
class WrittenReport:
    """A report written: its file, its size and its sections (with their notes)."""

    path: Path
    bytes: int
    sections: list[Section]


def write_report(
    con: duckdb.DuckDBPyConnection, folder: Path, reference_date: date, generated_at: datetime
) -> WrittenReport:
    """Build the report of the warehouse ``con`` opens and write it to
    ``folder/weixi_report_<reference_date>.html``, replacing that night's earlier report whole
    (written beside it, then renamed, so a reader never opens half a page)."""
    sections = build_sections(con)
    html = render_report(sections, reference_date, generated_at)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPORT_NAME.format(reference_date=reference_date.isoformat())
    partial = path.with_suffix(".html.partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(path)
    return WrittenReport(path, path.stat().st_size, sections)
