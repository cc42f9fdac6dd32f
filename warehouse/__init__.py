"""The warehouse as Python writes it: one spec per table (``table_spec``) and the catalogue of
every such table (``python_tables``)."""
