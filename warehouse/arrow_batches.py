"""Arrow results re-cut into batches of a bounded size, whatever sizes they arrive in (Spark
Connect streams its own, about 10,000 rows or 4 MB each). No pyspark here: ``make test``
checks it on its own."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa


def rebatched(
    chunks: Iterable[pa.Table | pa.RecordBatch], batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """The rows of ``chunks``, in order, as record batches of exactly ``batch_rows`` rows but
    the last (fewer); only the rows of one batch and one chunk are held at a time."""
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, not {batch_rows}")
    pending: list[pa.Table] = []
    held = 0
    for chunk in chunks:
        if isinstance(chunk, pa.RecordBatch):
            chunk = pa.Table.from_batches([chunk])
        pending.append(chunk)
        held += chunk.num_rows
        while held >= batch_rows:
            rows = pa.concat_tables(pending)
            yield _one_batch(rows.slice(0, batch_rows))
            pending, held = [rows.slice(batch_rows)], held - batch_rows
    if held:
        yield _one_batch(pa.concat_tables(pending))


def _one_batch(rows: pa.Table) -> pa.RecordBatch:
    return rows.combine_chunks().to_batches()[0]
