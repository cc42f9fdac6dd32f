-- One row per input date: the fingerprint of the purchases and CRM rows dated on it that
-- segment_history was last built from (macro segment_history_inputs). Built after
-- segment_history, in the same run, and skipped when it fails: the next night then compares
-- with the older fingerprints and recomputes at least every snapshot this one would have.
-- depends_on: {{ ref('segment_history') }}
{{ config(materialized='table', tags=['scored']) }}

{{ segment_history_inputs(ref('fct_orders'), ref('stg_crm__customers')) }}
