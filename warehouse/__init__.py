"""The warehouse as Python writes it: one spec per table (``table_spec``), and the specs of the
model outputs, whose rows the Dagster model assets assemble (``model_outputs``)."""
