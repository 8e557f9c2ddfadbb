"""The refusal of a whole delivery: what the ingest routes answer as a 4xx problem document."""

from __future__ import annotations


class DeliveryRefused(Exception):  # noqa: N818 - a refusal, not a crash; maps to 4xx
    """The delivery is refused and nothing was written; ``problems`` lists every reason."""

    def __init__(self, status: int, title: str, problems: list[dict[str, str]]) -> None:
        """Refuse with an HTTP ``status``."""
        super().__init__(title)
        self.status = status
        self.title = title
        self.problems = problems
