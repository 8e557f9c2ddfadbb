"""Settings for every ISLA component, read from the environment (prefix ``ISLA_``).

One class per concern, so that a service only depends on what it uses and an operator finds
every knob of one concern in one place. All classes read the same environment and an optional
``.env`` file in the working directory.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_COMMON = SettingsConfigDict(env_prefix="ISLA_", env_file=".env", extra="ignore")


class DatabaseSettings(BaseSettings):
    """Where the archive's Postgres (with pgSphere) lives."""

    model_config = _COMMON

    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the archive database, e.g. "
            "postgresql+psycopg://isla@db:5432/isla. Unset: the launcher starts a private "
            "Postgres cluster under the data folder and sets it for its children."
        ),
    )
    database_read_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of a read replica (Postgres streaming replication) for TAP's "
            "synchronous user queries and cone searches. Unset: they go to database_url. "
            "Queries with TAP_UPLOAD tables and async jobs stay on database_url (a hot standby "
            "cannot hold temporary tables; ABORT cancels a job's backend on the primary)."
        ),
    )
    database_pool_size: int = Field(default=10, ge=1, description="Connections per process.")
    database_connect_timeout: float = Field(
        default=5.0, gt=0, description="Seconds before a connection attempt is given up."
    )

    @field_validator("database_url", "database_read_url")
    @classmethod
    def _normalise_driver(cls, value: str | None) -> str | None:
        """Accept plain ``postgresql://`` URLs and pin the psycopg 3 driver."""
        if value and value.startswith(("postgresql://", "postgres://")):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value


class StorageSettings(BaseSettings):
    """The S3-compatible object store that holds raw data and products."""

    model_config = _COMMON

    s3_endpoint: str | None = Field(
        default=None,
        description=(
            "host:port or http(s)://host:port of the S3 server. Unset: the launcher starts an "
            "embedded SeaweedFS S3 server on loopback."
        ),
    )
    s3_access_key: str = Field(default="isla", description="S3 access key id.")
    s3_secret_key: SecretStr = Field(
        default=SecretStr("isla-local-secret"), description="S3 secret access key."
    )
    s3_region: str = Field(default="us-east-1", description="S3 region name sent in signatures.")
    s3_raw_bucket: str = Field(default="isla-raw", description="Bucket of raw ScW (CONS) data.")
    s3_products_bucket: str = Field(
        default="isla-products", description="Bucket of science products and job results."
    )
    s3_jobs_bucket: str = Field(
        default="isla-jobs",
        description="Bucket of TAP async job results and uploads (deleted with their jobs).",
    )
    s3_timeout: float = Field(
        default=10.0, gt=0, description="Seconds before an S3 connection or read is given up."
    )

    @property
    def secure(self) -> bool:
        """Whether the endpoint is reached over TLS."""
        return bool(self.s3_endpoint and self.s3_endpoint.startswith("https://"))

    @property
    def host(self) -> str:
        """The endpoint as ``host:port``, the form the minio client takes."""
        if not self.s3_endpoint:
            raise ValueError("ISLA_S3_ENDPOINT is not set")
        return self.s3_endpoint.split("://", 1)[-1].rstrip("/")


class PeerSettings(BaseSettings):
    """Base URLs under which the services find each other (they talk over HTTP)."""

    model_config = _COMMON

    base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Public base URL of the archive; used in links written into responses.",
    )
    tap_url: str | None = Field(default=None, description="TAP service base; default base_url.")
    products_url: str | None = Field(
        default=None, description="Products service base; default base_url."
    )
    raw_url: str | None = Field(
        default=None, description="Raw data service base; default base_url."
    )
    ingest_url: str | None = Field(
        default=None, description="Ingest service base; default base_url."
    )
    peer_timeout: float = Field(default=30.0, gt=0, description="Seconds for calls to peers.")

    def peer(self, name: str) -> str:
        """Base URL of peer ``name`` (tap, products, raw, ingest) without trailing slash."""
        value = getattr(self, f"{name}_url") or self.base_url
        return str(value).rstrip("/")


class LimitSettings(BaseSettings):
    """Limits that protect the service and keep it fair between users."""

    model_config = _COMMON

    maxrec_default: int = Field(default=100_000, ge=1, description="MAXREC when none is given.")
    maxrec_hard: int = Field(default=10_000_000, ge=1, description="Largest MAXREC honoured.")
    upload_max_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1024, description="Largest accepted upload (bytes)."
    )
    upload_max_rows: int = Field(
        default=1_000_000, ge=1, description="Most rows in one uploaded table (TAP_UPLOAD)."
    )
    selection_max_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description=(
            "Largest request body of a raw-data selection (a form, JSON or a text/CSV list of "
            "ScW ids; 100,000 ids take about 2 MB); larger bodies are refused (413) while "
            "they arrive, before anything is parsed."
        ),
    )
    tarball_max_scws: int = Field(
        default=500, ge=1, description="Most ScWs in one synchronous tarball."
    )
    bulk_streams_per_client: int = Field(
        default=4, ge=1, description="Concurrent bulk downloads allowed per client address."
    )
    retry_after: int = Field(
        default=30,
        ge=1,
        description=(
            "Seconds a client is asked to wait (Retry-After) when the database, the object "
            "store or a peer service cannot serve a request."
        ),
    )


class TapSettings(BaseSettings):
    """How the TAP service runs ADQL queries (environment prefix ``ISLA_TAP_``)."""

    model_config = SettingsConfigDict(env_prefix="ISLA_TAP_", env_file=".env", extra="ignore")

    query_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a synchronous query may run in Postgres (statement_timeout).",
    )
    reader_role: str = Field(
        default="isla_reader",
        pattern=r"^[a-z_][a-z0-9_]*$",
        description=(
            "Read-only database role every user query runs as (SET LOCAL ROLE); created by "
            "migration 0002. Empty is not allowed: the role is defence in depth."
        ),
    )
    fetch_rows: int = Field(
        default=5000, ge=1, description="Rows fetched from the server-side cursor per batch."
    )
    adql_max_length: int = Field(
        default=100_000,
        ge=100,
        description="Longest ADQL query accepted (characters); longer ones are refused at once.",
    )
    adql_max_depth: int = Field(
        default=32,
        ge=4,
        description=(
            "Deepest nesting of parentheses in an ADQL query, measured before parsing: the "
            "parser's work grows steeply with nesting (200 levels cost seconds)."
        ),
    )
    adql_max_selects: int = Field(
        default=16, ge=1, description="Most SELECTs (sub-queries included) in one ADQL query."
    )
    adql_parse_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds parsing and translating one ADQL query may take before it is refused.",
    )
    adql_parse_threads: int = Field(
        default=1,
        ge=1,
        le=16,
        description=(
            "Worker threads per process that parse ADQL (off the event loop, so that other "
            "requests keep being answered); 1 keeps the parser's shared caches single-threaded."
        ),
    )
    sync_deadline: float = Field(
        default=300.0,
        gt=0,
        description=(
            "Seconds a whole synchronous query may take, sending its result included: a client "
            "reading slowly cannot hold a database connection longer (the result then ends "
            "with an error inside the document)."
        ),
    )
    metadata_ttl: float = Field(
        default=60.0, ge=0, description="Seconds the TAP_SCHEMA metadata is cached in memory."
    )
    upload_hosts: str = Field(
        default="",
        description=(
            "Comma-separated hosts (`host` for any port, or `host:port`) that "
            "UPLOAD=name,http(s)://... may fetch tables from, a guard against server-side "
            "request forgery. Empty: the host:port of the archive's own public URLs "
            "(ISLA_BASE_URL and the peer URLs), so loopback only when those are."
        ),
    )
    async_execution_duration: int = Field(
        default=600,
        ge=1,
        description="executionDuration (seconds) of a new async job when the client sets none.",
    )
    async_max_execution_duration: int = Field(
        default=3600,
        ge=1,
        description=(
            "Longest executionDuration (seconds) honoured; larger requests are capped. It is "
            "the async query's statement_timeout."
        ),
    )
    async_destruction: int = Field(
        default=7 * 86400,
        ge=60,
        description="Seconds from creation until an async job and its results are destroyed.",
    )
    async_max_destruction: int = Field(
        default=30 * 86400,
        ge=60,
        description="Latest destruction (seconds from creation) a client may set.",
    )
    async_max_wait: float = Field(
        default=60.0,
        ge=0,
        description="Longest blocking WAIT (seconds) on a job resource; larger values are capped.",
    )
    async_run_wait: float = Field(
        default=3.0,
        ge=0,
        description=(
            "Longest time (seconds) PHASE=RUN waits for a worker to pick the job up before "
            "answering, so that clients polling only while EXECUTING (astroquery) see it run."
        ),
    )
    async_list_max: int = Field(
        default=1000, ge=1, description="Most jobs one GET /tap/async lists (newest first)."
    )


class WorkerSettings(BaseSettings):
    """The job queue worker (``isla worker``; environment prefix ``ISLA_WORKER_``)."""

    model_config = SettingsConfigDict(env_prefix="ISLA_WORKER_", env_file=".env", extra="ignore")

    concurrency: int = Field(default=2, ge=1, description="Jobs one worker process runs at once.")
    heartbeat: float = Field(
        default=5.0, gt=0, description="Seconds between a worker's heartbeats in the database."
    )
    stalled_after: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Seconds without heartbeat after which a worker counts as dead and its running "
            "jobs are retried by another (or the restarted) worker."
        ),
    )
    poll_interval: float = Field(
        default=5.0, gt=0, description="Seconds between polls for new jobs (besides LISTEN)."
    )
    shutdown_grace: float = Field(
        default=10.0,
        ge=0,
        description=(
            "Seconds a worker asked to stop (SIGTERM) lets running jobs finish; the others are "
            "cancelled and retried later."
        ),
    )


class IngestSettings(BaseSettings):
    """The ingest service (environment prefix ``ISLA_INGEST_``)."""

    model_config = SettingsConfigDict(env_prefix="ISLA_INGEST_", env_file=".env", extra="ignore")

    max_bytes: int = Field(
        default=2 * 1024**3, ge=1024, description="Largest accepted catalogue upload (bytes)."
    )
    sync_max_bytes: int = Field(
        default=4 * 1024**2,
        ge=0,
        description=(
            "Uploads up to this size are ingested inside the request; larger ones run as "
            "queued jobs (mode=auto)."
        ),
    )
    sync_max_merge: int = Field(
        default=200_000,
        ge=0,
        description="Merges of up to this many current catalogue entries run inside the request.",
    )
    spool_dir: Path | None = Field(
        default=None, description="Folder for uploads being received; unset: the system's."
    )


class MapsSettings(BaseSettings):
    """All-sky maps and their HiPS (environment prefix ``ISLA_MAPS_``)."""

    model_config = SettingsConfigDict(env_prefix="ISLA_MAPS_", env_file=".env", extra="ignore")

    cache_dir: Path | None = Field(
        default=None,
        description=(
            "Folder where the products service keeps the HiPS it serves (one tar per map, "
            "fetched once from the object store and reused after a restart); unset: "
            "`isla-hips` in the system's temporary folder."
        ),
    )


class SecuritySettings(BaseSettings):
    """Accounts, sessions and the refusal of development secrets."""

    model_config = _COMMON

    dev_mode: bool = Field(
        default=False,
        description=(
            "Development mode: accept the built-in development secrets (the default S3 key, "
            "the compose and Kubernetes example database passwords). Off: a service, worker "
            "or launcher configured with one of them refuses to start. `isla up` turns it on "
            "for the local demo on loopback, and says so."
        ),
    )
    session_lifetime: int = Field(
        default=7 * 86400,
        ge=60,
        description="Seconds a login session (the cookie set by POST /login) stays valid.",
    )
    password_min_length: int = Field(
        default=10, ge=8, description="Fewest characters of a user's password."
    )
    user_token_days: float = Field(
        default=90, gt=0, description="Days a bearer token from `isla user token` stays valid."
    )


class ObservabilitySettings(BaseSettings):
    """Logs, metrics and the login throttle (docs/OPERATIONS.md, Observability)."""

    model_config = _COMMON

    log_format: Literal["json", "text"] = Field(
        default="json",
        description=(
            "Log lines as JSON objects (one per line: time, level, logger, message, "
            "request_id, service, ...) for a log collector, or as text for a terminal."
        ),
    )
    log_level: str = Field(default="INFO", description="Lowest level logged (DEBUG, INFO, ...).")
    access_log: bool = Field(
        default=True,
        description=(
            "One log line per request (method, route, status, duration, request id), in place "
            "of uvicorn's access log."
        ),
    )
    metrics_enabled: bool = Field(
        default=True, description="Serve Prometheus metrics at /metrics and /<prefix>/metrics."
    )
    metrics_networks: str = Field(
        default="127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7",
        description=(
            "Client networks (comma-separated CIDR) that may read /metrics without a token: "
            "loopback and the private ranges of a cluster's pod network. Empty: the token only."
        ),
    )

    @field_validator("metrics_networks")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        """Refuse a network list that does not parse, at start-up rather than at a scrape."""
        for network in filter(None, (n.strip() for n in value.split(","))):
            ipaddress.ip_network(network, strict=False)
        return value

    metrics_token: SecretStr | None = Field(
        default=None,
        description=(
            "A bearer token that also opens /metrics from any address (Prometheus' "
            "`authorization` setting). Unset: only the networks above may read it."
        ),
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description=(
            "Failed logins per user name, and 4x as many per client address, before /login "
            "answers 429 with Retry-After."
        ),
    )
    login_backoff: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Seconds /login refuses after the limit is reached; doubled at each further "
            "failure, up to an hour. A successful login clears the user name's count."
        ),
    )


DEVELOPMENT_SECRETS = ("isla-local-secret", "isla-local-db", "change-me")
"""Secrets the project ships as examples (settings default, compose, Kubernetes): known to all."""


class InsecureSettingsError(RuntimeError):
    """A development secret is configured outside development mode."""


def development_secrets_in_use() -> list[str]:
    """The settings that hold one of :data:`DEVELOPMENT_SECRETS` and are in use.

    A secret counts only where it is used: the S3 key once an S3 endpoint is configured, the
    database password once a database URL is.
    """
    found = []
    storage = StorageSettings()
    if storage.s3_endpoint and storage.s3_secret_key.get_secret_value() in DEVELOPMENT_SECRETS:
        found.append("ISLA_S3_SECRET_KEY")
    url = DatabaseSettings().database_url or ""
    userinfo = url.split("://", 1)[-1].rsplit("@", 1)[0] if "@" in url else ""
    if ":" in userinfo and userinfo.split(":", 1)[1] in DEVELOPMENT_SECRETS:
        found.append("ISLA_DATABASE_URL (its password)")
    return found


def refuse_development_secrets() -> None:
    """Raise :class:`InsecureSettingsError` when a development secret is in use outside
    development mode (``ISLA_DEV_MODE``)."""
    if SecuritySettings().dev_mode:
        return
    if found := development_secrets_in_use():
        raise InsecureSettingsError(
            f"{' and '.join(found)} hold a development secret published with ISLA: set real "
            "secrets (see docs/OPERATIONS.md, Secrets), or set ISLA_DEV_MODE=true for a "
            "local trial"
        )


class RuntimeSettings(BaseSettings):
    """How the local launcher (``isla up``) runs the embedded stack."""

    model_config = _COMMON

    home: Path = Field(
        default=Path(".isla"),
        description="Data folder of the embedded runtime (Postgres cluster, S3 data, state).",
    )
    host: str = Field(default="127.0.0.1", description="Address the web server binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port of the one base URL.")
    web_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description=(
            "Web server processes `isla up` serves the archive with (one per core is a good "
            "start: a query's Python work then runs beside another's)."
        ),
    )
    demo_scale: str = Field(default="demo", description="Scale of the demo archive to load.")
    pg_bindir: Path | None = Field(
        default=None,
        description="Folder with initdb/pg_ctl; default: the Debian postgresql-15 binaries.",
    )
    startup_timeout: float = Field(
        default=60.0, gt=0, description="Seconds to wait for Postgres or S3 to answer."
    )


TEST_DOI_PREFIX = "10.5072"
"""DataCite's test prefix: DOIs under it are never registered and resolve nowhere."""


class DoiSettings(BaseSettings):
    """DOIs of the archive's data (DataCite): prefix, publisher and the minting client.

    Minting is off by default: the client is a dry run that writes the JSON:API request it
    would send to DataCite into a folder, one file per DOI. Simulated (demo) data always keep
    the test prefix and are never sent, whatever the mode.
    """

    model_config = _COMMON

    doi_prefix: str = Field(
        default=TEST_DOI_PREFIX,
        pattern=r"^10\.\d{4,9}$",
        description=(
            "DOI prefix of the archive's records. The default 10.5072 is DataCite's test "
            "prefix (never registered); set the prefix DataCite assigned to the data centre."
        ),
    )
    doi_publisher: str = Field(
        default="ESA - INTEGRAL Science Legacy Archive",
        description="Publisher named in every DataCite record and citation.",
    )
    doi_creator: str = Field(
        default="INTEGRAL Science Data Centre",
        description="Creator (an organisation) named in the DataCite records of ISLA's data.",
    )
    doi_mint_mode: str = Field(
        default="dry-run",
        pattern="^(dry-run|draft|publish)$",
        description=(
            "What minting does: dry-run (write the requests to ISLA_DOI_DRY_RUN_DIR, send "
            "nothing), draft (create draft DOIs at DataCite) or publish (register and make "
            "them findable)."
        ),
    )
    doi_dry_run_dir: Path = Field(
        default=Path(".isla/datacite-dry-run"),
        description="Folder the dry run writes one JSON request per DOI into.",
    )
    datacite_api_url: str = Field(
        default="https://api.test.datacite.org",
        description="DataCite REST API base (the test system by default; production: "
        "https://api.datacite.org).",
    )
    datacite_username: str | None = Field(
        default=None, description="DataCite repository id (e.g. ESA.ISLA) for the REST API."
    )
    datacite_password: SecretStr | None = Field(
        default=None, description="Password of the DataCite repository account."
    )
    datacite_timeout: float = Field(
        default=30.0, gt=0, description="Seconds for one call to DataCite."
    )

    @model_validator(mode="after")
    def _credentials_to_send(self) -> DoiSettings:
        """Sending to DataCite needs the repository account; the dry run does not."""
        if self.doi_mint_mode != "dry-run" and not (
            self.datacite_username and self.datacite_password
        ):
            raise ValueError(
                f"ISLA_DOI_MINT_MODE={self.doi_mint_mode} needs ISLA_DATACITE_USERNAME and "
                "ISLA_DATACITE_PASSWORD"
            )
        return self


@lru_cache
def doi_settings() -> DoiSettings:
    """The process-wide DOI settings."""
    return DoiSettings()


@lru_cache
def database_settings() -> DatabaseSettings:
    """The process-wide database settings (cached; tests clear the cache)."""
    return DatabaseSettings()


@lru_cache
def storage_settings() -> StorageSettings:
    """The process-wide object-store settings."""
    return StorageSettings()


@lru_cache
def peer_settings() -> PeerSettings:
    """The process-wide peer URLs."""
    return PeerSettings()


@lru_cache
def limit_settings() -> LimitSettings:
    """The process-wide limits."""
    return LimitSettings()


@lru_cache
def tap_settings() -> TapSettings:
    """The process-wide TAP settings."""
    return TapSettings()


@lru_cache
def maps_settings() -> MapsSettings:
    """The process-wide all-sky map settings."""
    return MapsSettings()


@lru_cache
def observability_settings() -> ObservabilitySettings:
    """The process-wide logging, metrics and login-throttle settings."""
    return ObservabilitySettings()


@lru_cache
def account_settings() -> SecuritySettings:
    """The process-wide account and secret settings."""
    return SecuritySettings()


def clear_caches() -> None:
    """Forget cached settings, e.g. after the launcher exported new environment values."""
    for fn in (
        database_settings,
        storage_settings,
        peer_settings,
        limit_settings,
        tap_settings,
        maps_settings,
        account_settings,
        doi_settings,
        observability_settings,
    ):
        fn.cache_clear()


ALL_SETTINGS = (
    DatabaseSettings,
    StorageSettings,
    PeerSettings,
    LimitSettings,
    TapSettings,
    WorkerSettings,
    IngestSettings,
    MapsSettings,
    SecuritySettings,
    DoiSettings,
    ObservabilitySettings,
    RuntimeSettings,
)
"""Every settings class, in the order the configuration reference lists them."""


def settings_reference() -> str:
    """The configuration reference (docs/CONFIGURATION.md) as Markdown, from the classes."""
    lines = [
        "# Configuration",
        "",
        "Every component reads its settings from the environment (prefix `ISLA_`) or from a",
        "`.env` file in the working directory. Each concern has its own settings class in",
        "`shared/settings.py`. This page is generated from them:",
        "`python -m shared.settings > docs/CONFIGURATION.md` (a test checks it is current).",
    ]
    for cls in ALL_SETTINGS:
        lines += ["", f"## {cls.__name__}", "", (cls.__doc__ or "").strip(), ""]
        lines += ["| variable | default | meaning |", "| --- | --- | --- |"]
        for name, field in cls.model_fields.items():
            default = field.default
            if isinstance(default, SecretStr):
                shown = "a development value: set your own"
            else:
                shown = "unset" if default is None else f"`{default}`"
            prefix = str(cls.model_config.get("env_prefix", "ISLA_")).upper()
            lines.append(f"| `{prefix}{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(settings_reference(), end="")
