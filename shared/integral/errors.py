"""Errors raised by the INTEGRAL identifier parsers."""

from __future__ import annotations

# User input is echoed into the message (and so into HTTP error bodies): keep it bounded.
_MAX_ECHO = 60


# The name is part of ISLA's agreed API, hence no "Error" suffix.
class InvalidIdentifier(ValueError):  # noqa: N818
    """An INTEGRAL identifier (ScW id, observation id, epoch, source id, ...) that is malformed.

    A ``ValueError`` so that callers (and FastAPI/pydantic validators) that only know about
    ``ValueError`` still handle it; the attributes let an API build a precise error response.
    """

    def __init__(self, kind: str, value: object, expected: str, reason: str | None = None) -> None:
        self.kind = kind
        self.value = value
        self.expected = expected
        self.reason = reason
        super().__init__(self._message())

    def _message(self) -> str:
        shown = repr(self.value)
        if len(shown) > _MAX_ECHO:
            shown = shown[: _MAX_ECHO - 3] + "..."
        detail = f"{self.reason}; " if self.reason else ""
        return f"Invalid {self.kind} {shown}: {detail}expected {self.expected}"

    def __reduce__(self) -> tuple[type[InvalidIdentifier], tuple[object, ...]]:
        # The default pickling replays self.args (the message) into __init__, which takes
        # four arguments; spell them out so the error survives multiprocessing/job queues.
        return (type(self), (self.kind, self.value, self.expected, self.reason))
