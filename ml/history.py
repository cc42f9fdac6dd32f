"""The one way a model says that the data cannot support it yet."""

from __future__ import annotations


class NotEnoughHistory(ValueError):
    """The data is too short or too small to fit or validate a model honestly.

    Assets turn it into an empty mart and a warning instead of a failed night, so a young shop's
    pipeline still runs; the message says what is missing."""

    def __init__(self, model: str, needed: str, found: str) -> None:
        super().__init__(f"{model}: needs {needed}, found {found}")
        self.model, self.needed, self.found = model, needed, found
