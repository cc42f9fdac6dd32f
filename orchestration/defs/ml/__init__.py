"""Model assets: thin Dagster wrappers around the models in ``ml/``. Each reads the marts,
fits or scores, writes its own mart tables and reports its validation figures as metadata and
in ``marts.model_validation``."""
