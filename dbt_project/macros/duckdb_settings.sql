{# Logs the DuckDB settings of dbt's connection (memory limit, threads, spill folder) as one
   JSON line, so a test can check that the run's settings reach dbt:
   `dbt run-operation log_duckdb_settings`. #}
{% macro log_duckdb_settings() %}
    {% set row = run_query(
        "select json_object('memory_limit', current_setting('memory_limit'),"
        " 'threads', current_setting('threads'),"
        " 'temp_directory', current_setting('temp_directory'))"
    ).rows[0] %}
    {{ log('duckdb_settings ' ~ row[0], info=true) }}
{% endmacro %}
