"""Products bought together (``marts.product_associations``): the strongest pairs, for
cross-selling."""

from __future__ import annotations

import duckdb
import pandas as pd

from reporting.figures import BLUE, drawing
from reporting.reads import read
from reporting.section import Chart, Section, Table

TITLE = "Top product associations"
PRODUCT_ASSOCIATIONS = "marts.product_associations"
TOP = 15

# Product pairs when there are any, else subcategory pairs; A -> B and B -> A share their lift,
# so each pair is shown once, in the direction with the higher confidence.
SQL = f"""
    with level as (
        select case when bool_or(association_level = 'product') then 'product'
            else 'subcategory' end as association_level
        from {PRODUCT_ASSOCIATIONS}
    )
    select association_level, coalesce(antecedent_name, antecedent) as antecedent_name,
        coalesce(consequent_name, consequent) as consequent_name, pair_baskets, support,
        confidence, lift
    from {PRODUCT_ASSOCIATIONS}
    inner join level using (association_level)
    qualify row_number() over (
        partition by least(antecedent, consequent), greatest(antecedent, consequent)
        order by confidence desc, antecedent
    ) = 1
    order by lift desc, pair_baskets desc, antecedent_name, consequent_name
    limit {TOP}
"""


def draw_pairs(pairs: pd.DataFrame) -> Chart:
    """The pairs as horizontal bars of lift, strongest on top, each labelled with how often the
    second product follows the first (confidence) and in how many baskets."""
    shown = pairs.iloc[::-1].reset_index(drop=True)
    labels = [
        f"{a} → {c}"
        for a, c in zip(shown["antecedent_name"], shown["consequent_name"], strict=True)
    ]
    with drawing(height=1.0 + 0.3 * len(shown)) as d:
        (ax,) = d.axes
        ax.barh(range(len(shown)), shown["lift"], color=BLUE)
        for i, row in shown.iterrows():
            ax.text(
                row["lift"],
                i,
                f"  {row['confidence']:.0%} also buy, {row['pair_baskets']:,.0f} baskets",
                va="center",
                fontsize=7,
            )
        ax.axvline(1, color="black", linewidth=0.6)
        ax.set_yticks(range(len(shown)), labels, fontsize=7)
        ax.set_xlabel("lift (1 = bought together no more often than by chance)")
        ax.set_xlim(0, shown["lift"].max() * 1.45)
    return Chart(
        "Strongest product pairs",
        "Pairs bought together far more often than chance would have it (lift): candidates for "
        "bundles and 'customers also bought' offers.",
        d.svg,
    )


def pairs_table(pairs: pd.DataFrame) -> Table:
    """The pairs' figures as a table under the chart."""
    return Table(
        "The pairs above, with their support (share of all baskets)",
        ("if bought", "then also", "baskets", "support", "confidence", "lift"),
        [
            (
                r.antecedent_name,
                r.consequent_name,
                f"{r.pair_baskets:,.0f}",
                f"{r.support:.2%}",
                f"{r.confidence:.0%}",
                f"{r.lift:.1f}",
            )
            for r in pairs.itertuples()
        ],
    )


def section(con: duckdb.DuckDBPyConnection) -> Section:
    """The product associations section."""
    part = Section(TITLE)
    pairs = read(con, PRODUCT_ASSOCIATIONS, SQL, part.notes, "too few baskets with two products")
    if pairs is not None:
        part.charts.append(draw_pairs(pairs))
        part.tables.append(pairs_table(pairs))
    return part
