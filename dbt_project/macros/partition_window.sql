{#- The filter of an incremental model on the partition window Dagster runs: the inclusive
    delivery days in WEIXI_DBT_MIN_DATE / WEIXI_DBT_MAX_DATE (everything when unset). The window
    is read from the environment, not `--vars`, because dbt re-parses the whole project whenever
    a var changes; `is_incremental()` is false while dbt parses, so parsing never reads it (see
    orchestration/defs/dbt/parse_cache.py). Only incremental runs filter: a first build or a full
    refresh takes everything. Never use it in a `table` model. -#}
{% macro in_partition_window(column) -%}
    {% if is_incremental() -%}
    where {{ column }} between {{ partition_window_start() }} and {{ partition_window_end() }}
    {%- endif %}
{%- endmacro %}

{#- The first day of the partition window (1900-01-01 when unset), for an incremental model. -#}
{% macro partition_window_start() -%}
    cast('{{ env_var("WEIXI_DBT_MIN_DATE", "1900-01-01") }}' as date)
{%- endmacro %}

{#- The last day of the partition window (9999-12-31 when unset), for an incremental model. -#}
{% macro partition_window_end() -%}
    cast('{{ env_var("WEIXI_DBT_MAX_DATE", "9999-12-31") }}' as date)
{%- endmacro %}

{#- The partition window as a condition on `column` for a data test whose rule is per row or
    per key: a night's test reads the rows its window delivered (those it can have broken),
    not all history. Empty without a window (`dbt test` by hand) or with one of more than
    92 days (a backfill): the test reads everything, which there costs less than probing the
    table with the window's keys (at 1M customers, `unique_in_window` of
    `fct_orders`: a day 0.3 CPU-s, a month 0.4, six months 1.0, two years 2.4 against 1.2 for
    every row without the window). Read only while the test runs (`execute`), never while dbt
    parses, so a new window leaves the partial parse valid. -#}
{% macro test_window(column) -%}
    {%- if execute and env_var("WEIXI_DBT_MIN_DATE", "") -%}
    {%- set start = env_var("WEIXI_DBT_MIN_DATE") -%}
    {%- set end = env_var("WEIXI_DBT_MAX_DATE", "9999-12-31") -%}
    {%- set day = modules.datetime.date.fromisoformat -%}
    {%- if (day(end) - day(start)).days < 92 -%}
    {{ column }} between cast('{{ start }}' as date) and cast('{{ end }}' as date)
    {%- endif %}
    {%- endif %}
{%- endmacro %}

{#- The rows of fct_orders a partition run changed: those delivered in its window and the guest
    orders it matched to a customer who arrived later (`rematched_for`). A condition for the
    where clause of an incremental model that reads fct_orders. -#}
{% macro changed_orders_in_window() -%}
    (
        delivered_on between {{ partition_window_start() }} and {{ partition_window_end() }}
        or rematched_for between {{ partition_window_start() }} and {{ partition_window_end() }}
    )
{%- endmacro %}
