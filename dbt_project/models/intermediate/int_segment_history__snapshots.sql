-- One row per snapshot date of segment_history: the fingerprint of its rows that
-- segment_migrations last counted the pairs of (macro segment_snapshot_fingerprints). Built
-- after segment_migrations, in the same run, and skipped when it fails: the next night then
-- compares with the older fingerprints and recounts at least every pair this one would have.
-- depends_on: {{ ref('segment_migrations') }}
{{ config(materialized='table', tags=['scored']) }}

{{ segment_snapshot_fingerprints(ref('segment_history')) }}
