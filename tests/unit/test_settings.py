"""Settings read the ISLA_ environment, normalise URLs and keep secrets secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared import settings as cfg


def test_database_url_gets_the_psycopg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISLA_DATABASE_URL", "postgresql://u@db:5432/isla")
    assert cfg.DatabaseSettings().database_url == "postgresql+psycopg://u@db:5432/isla"


def test_unset_database_means_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ISLA_DATABASE_URL", raising=False)
    assert cfg.DatabaseSettings(_env_file=None).database_url is None


def test_storage_endpoint_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISLA_S3_ENDPOINT", "https://s3.example.org:9000/")
    s = cfg.StorageSettings()
    assert s.host == "s3.example.org:9000"
    assert s.secure
    assert "isla-local-secret" not in repr(s)


def test_missing_endpoint_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ISLA_S3_ENDPOINT", raising=False)
    with pytest.raises(ValueError, match="ISLA_S3_ENDPOINT"):
        _ = cfg.StorageSettings(_env_file=None).host


def test_peers_default_to_the_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISLA_BASE_URL", "http://archive:8000/")
    monkeypatch.setenv("ISLA_RAW_URL", "http://raw:8080")
    peers = cfg.PeerSettings()
    assert peers.peer("products") == "http://archive:8000"
    assert peers.peer("raw") == "http://raw:8080"


def test_limits_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISLA_MAXREC_HARD", "0")
    with pytest.raises(ValueError, match="maxrec_hard"):
        cfg.LimitSettings()


def test_configuration_reference_is_current() -> None:
    doc = Path(__file__).parents[2] / "docs" / "CONFIGURATION.md"
    assert doc.read_text() == cfg.settings_reference(), "run: python -m shared.settings"
    for cls in cfg.ALL_SETTINGS:
        for name, field in cls.model_fields.items():
            assert field.description, name


def test_development_secrets_are_refused_outside_development_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ISLA_S3_SECRET_KEY", "ISLA_DATABASE_URL", "ISLA_DEV_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ISLA_S3_ENDPOINT", raising=False)
    cfg.refuse_development_secrets()  # nothing configured: no secret in use
    monkeypatch.setenv("ISLA_S3_ENDPOINT", "http://s3.example.org:9000")
    with pytest.raises(cfg.InsecureSettingsError, match=r"ISLA_S3_SECRET_KEY.*ISLA_DEV_MODE"):
        cfg.refuse_development_secrets()
    monkeypatch.setenv("ISLA_S3_SECRET_KEY", "a-real-secret-of-this-site")
    cfg.refuse_development_secrets()
    monkeypatch.setenv("ISLA_DATABASE_URL", "postgresql://isla:change-me@db:5432/isla")
    with pytest.raises(cfg.InsecureSettingsError, match="ISLA_DATABASE_URL"):
        cfg.refuse_development_secrets()
    monkeypatch.setenv("ISLA_DEV_MODE", "true")
    cfg.refuse_development_secrets()
