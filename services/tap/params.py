"""IVOA request parameters: names are case-insensitive (TAP 1.1 §2.3, DALI §3.1).

Handled once, here: :func:`ivoa_params` merges the query string and a form body
(url-encoded or multipart) into one mapping keyed by upper-case name, which every TAP
endpoint takes as a FastAPI dependency. Values keep their case.
"""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import UploadFile

from services.tap.errors import TapError

MAX_FORM_FIELDS = 100
"""Form fields accepted in one request (TAP requests carry a handful)."""


class IvoaParams(dict[str, str]):
    """Request parameters by upper-case name (the first value of a repeated name wins)."""

    def get_upper(self, name: str) -> str | None:
        """The value of ``name`` (any case), stripped; None when absent or blank."""
        value = self.get(name.upper())
        if value is None:
            return None
        value = value.strip()
        return value or None


async def ivoa_params(request: Request) -> IvoaParams:
    """Collect query-string and form parameters with case-insensitive names."""
    params = IvoaParams()
    for key, value in request.query_params.multi_items():
        params.setdefault(key.upper(), value)
    if request.method == "POST":
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            try:
                form = await request.form(max_fields=MAX_FORM_FIELDS, max_files=0)
            except Exception as exc:  # malformed bodies are the client's error
                raise TapError(f"cannot read the form body: {exc}") from None
            for key, item in form.multi_items():
                if isinstance(item, UploadFile):
                    continue
                params.setdefault(key.upper(), item)
    return params
