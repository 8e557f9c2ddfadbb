"""The one IVOA parameter reader (shared.vo.params): any case, repeated, GET and POST alike."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends

from shared.service import create_service
from shared.settings import limit_settings
from shared.vo.params import IvoaParams, ivoa_params

Params = Annotated[IvoaParams, Depends(ivoa_params)]


async def second(params: Params) -> IvoaParams:
    """Another dependency on the parameters."""
    return params


def make_client() -> httpx.AsyncClient:
    router = APIRouter()

    @router.api_route("/echo", methods=["GET", "POST"])
    async def echo(params: Params, again: Annotated[IvoaParams, Depends(second)]) -> Any:
        # Two dependencies of one request share one reading of the body.
        assert again is params
        return {
            "first": dict(params),
            "lists": params.lists,
            "files": {k: v.decode() for k, v in params.files.items()},
        }

    app = create_service("params", "/params", title="t", description="d", routers=[router])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_names_any_case_values_kept_repeats_in_order() -> None:
    async with make_client() as client:
        body = (await client.get("/echo?query=SELECT+1&Lang=ADQL&ID=a&id=B")).json()
    assert body["first"] == {"QUERY": "SELECT 1", "LANG": "ADQL", "ID": "a"}
    assert body["lists"]["ID"] == ["a", "B"]


async def test_post_form_and_query_string_merge() -> None:
    async with make_client() as client:
        body = (
            await client.post("/echo?maxrec=5", data={"Query": "SELECT 2", "id": ["x", "y"]})
        ).json()
    assert body["first"] == {"MAXREC": "5", "QUERY": "SELECT 2", "ID": "x"}
    assert body["lists"]["ID"] == ["x", "y"]


async def test_multipart_parts_are_kept_as_files() -> None:
    async with make_client() as client:
        body = (
            await client.post(
                "/echo",
                data={"UPLOAD": "t,param:tab"},
                files={"tab": ("t.xml", b"<VOTABLE/>", "application/x-votable+xml")},
            )
        ).json()
    assert body["first"] == {"UPLOAD": "t,param:tab"}
    assert body["files"]["tab"] == "<VOTABLE/>"


async def test_other_bodies_are_left_to_the_service() -> None:
    async with make_client() as client:
        body = (
            await client.post(
                "/echo?scw=1", content=b"0081", headers={"Content-Type": "text/plain"}
            )
        ).json()
    assert body["first"] == {"SCW": "1"}


@pytest.mark.parametrize("declared", [True, False])
async def test_body_over_the_limit_is_413(declared: bool) -> None:
    size = limit_settings().upload_max_bytes + 2 * 1024 * 1024
    payload = b"QUERY=" + b"x" * size

    async def chunks() -> Any:
        for start in range(0, len(payload), 1 << 20):
            yield payload[start : start + (1 << 20)]

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    async with make_client() as client:
        if declared:
            response = await client.post("/echo", content=payload, headers=headers)
        else:  # chunked: no Content-Length, counted while read
            response = await client.post("/echo", content=chunks(), headers=headers)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert "limit" in response.json()["detail"]
