"""ISLA common library: settings, database schema, storage, VO and INTEGRAL helpers."""

__version__ = "0.1.0"
