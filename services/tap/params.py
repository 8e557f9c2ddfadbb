"""IVOA request parameters for TAP: the shared reader, with its errors as DALI documents.

The reader itself is :mod:`shared.vo.params` (case-insensitive names, GET and POST alike,
bounded multipart uploads); TAP only answers its errors as :class:`TapError`.
"""

from __future__ import annotations

from fastapi import Request

from services.tap.errors import TapError
from shared.vo import params as shared_params
from shared.vo.params import IvoaParams

__all__ = ["IvoaParams", "ivoa_params", "too_large"]


def too_large(limit: int) -> TapError:
    """The error for a body or an uploaded table above ``limit`` bytes (HTTP 413)."""
    error = shared_params.too_large(limit)
    return TapError(error.message, error.status_code)


async def ivoa_params(request: Request) -> IvoaParams:
    """The request's IVOA parameters (FastAPI dependency); unreadable bodies are DALI errors."""
    try:
        return await shared_params.ivoa_params(request)
    except shared_params.ParameterError as exc:
        raise TapError(exc.message, exc.status_code) from None
