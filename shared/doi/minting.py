"""Minting: sending DOI records to DataCite, through a pluggable client.

The default client is a dry run (:class:`DryRunClient`): it writes, per DOI, the JSON:API
request it would send (``PUT /dois/<doi>`` with the record's ``attributes``) into a folder and
sends nothing. :class:`DataCiteClient` sends the same request to DataCite's REST API with
httpx (``ISLA_DOI_MINT_MODE=draft`` or ``publish``, with the repository account). Records of
simulated data are never sent to DataCite, whatever the client: their DOIs keep the test
prefix. Every record is validated against the DataCite 4.5 schema before it goes anywhere.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from sqlalchemy import Engine, text

from shared.doi import metadata
from shared.settings import DoiSettings

log = logging.getLogger("isla.doi")


def request_body(attrs: dict[str, Any], event: str | None) -> dict[str, Any]:
    """The JSON:API document DataCite's REST API takes for one DOI."""
    body_attrs = dict(attrs)
    if event:
        body_attrs["event"] = event
    return {"data": {"id": attrs["doi"], "type": "dois", "attributes": body_attrs}}


class MintClient(Protocol):
    """Where DOI records go."""

    name: str
    sends_simulated: bool
    """Whether records of simulated data may go to this client (only the dry run's)."""

    def send(self, attrs: dict[str, Any]) -> str:
        """Send one record; returns the DOI's new registration state."""
        ...


class DryRunClient:
    """Writes the request of every DOI into a folder (``<suffix>.json``, ``/`` as ``_``)."""

    name = "dry-run"
    sends_simulated = True

    def __init__(self, folder: Path, event: str | None = None) -> None:
        """Write into ``folder`` (created when missing)."""
        self.folder = folder
        self.event = event

    def send(self, attrs: dict[str, Any]) -> str:
        """Write the request; nothing leaves the machine."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / (attrs["suffix"].replace("/", "_") + ".json")
        body = request_body(attrs, self.event)
        path.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        return "dry-run"


class DataCiteClient:
    """DataCite's REST API (``PUT {api}/dois/{doi}``, basic auth of the repository)."""

    name = "datacite"
    sends_simulated = False

    def __init__(self, settings: DoiSettings, client: httpx.Client | None = None) -> None:
        """A client for ``settings``' endpoint and account (an httpx client may be given)."""
        if not (settings.datacite_username and settings.datacite_password):
            raise ValueError("DataCite needs ISLA_DATACITE_USERNAME and ISLA_DATACITE_PASSWORD")
        self.event = "publish" if settings.doi_mint_mode == "publish" else None
        self.client = client or httpx.Client(
            base_url=settings.datacite_api_url.rstrip("/"),
            auth=(settings.datacite_username, settings.datacite_password.get_secret_value()),
            timeout=settings.datacite_timeout,
            headers={"Content-Type": "application/vnd.api+json"},
        )

    def send(self, attrs: dict[str, Any]) -> str:
        """Create or update the DOI at DataCite; raises on an error answer."""
        response = self.client.put(
            f"/dois/{attrs['doi']}", content=json.dumps(request_body(attrs, self.event))
        )
        response.raise_for_status()
        state = response.json().get("data", {}).get("attributes", {}).get("state")
        return str(state or ("findable" if self.event else "draft"))


def client_from_settings(settings: DoiSettings) -> MintClient:
    """The client the settings choose (the dry run unless a mode that sends is set)."""
    if settings.doi_mint_mode == "dry-run":
        return DryRunClient(settings.doi_dry_run_dir)
    return DataCiteClient(settings)


@dataclass
class MintReport:
    """What one minting run did."""

    client: str
    sent: list[str] = field(default_factory=list)
    skipped_simulated: list[str] = field(default_factory=list)
    invalid: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON form (lists of suffixes)."""
        return {
            "client": self.client,
            "sent": len(self.sent),
            "skipped_simulated": len(self.skipped_simulated),
            "invalid": self.invalid,
            "failed": self.failed,
            "suffixes": self.sent[:100],
        }


def mint(
    engine: Engine,
    client: MintClient,
    settings: DoiSettings,
    base_url: str,
    suffixes: Iterable[str] | None = None,
) -> MintReport:
    """Build, validate and send the records of ``suffixes`` (all DOIs when None)."""
    report = MintReport(client.name)
    with engine.connect() as conn:
        if suffixes is None:
            wanted = list(
                conn.execute(text("SELECT suffix FROM isla.dois ORDER BY suffix")).scalars()
            )
        else:
            wanted = list(suffixes)
        for suffix in wanted:
            rec = metadata.load(conn, suffix, base_url)
            if rec is None:
                report.failed[suffix] = "no such DOI"
                continue
            if rec.row.simulated and not client.sends_simulated:
                report.skipped_simulated.append(suffix)
                continue
            attrs = metadata.datacite_attributes(rec, settings, base_url)
            errors = metadata.validation_errors(attrs)
            if errors:
                report.invalid[suffix] = errors
                continue
            try:
                state = client.send(attrs)
            except (httpx.HTTPError, OSError) as exc:
                report.failed[suffix] = str(exc)
                log.warning("DOI %s not sent: %s", suffix, exc)
                continue
            report.sent.append(suffix)
            with engine.begin() as write:
                write.execute(
                    text(
                        "UPDATE isla.dois SET state = :state, "
                        "minted_at = timezone('UTC', now()) WHERE suffix = :s"
                    ),
                    {"state": state, "s": suffix},
                )
    return report
