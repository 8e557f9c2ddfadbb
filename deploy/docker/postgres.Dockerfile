# syntax=docker/dockerfile:1
#
# Postgres 15 with pgSphere, for compose and the in-cluster Kubernetes component.
#
#   docker build -f deploy/docker/postgres.Dockerfile -t isla-postgres:latest .   # from the repo root
#
# Same configuration as the entrypoint of the official image (POSTGRES_USER, POSTGRES_PASSWORD,
# POSTGRES_DB, PGDATA). The archive's migrations run CREATE EXTENSION pg_sphere themselves, so
# the role in ISLA_DATABASE_URL must be allowed to (POSTGRES_USER is a superuser).

ARG POSTGRES_IMAGE=postgres:15-bookworm

# --- pgSphere from Debian 12 ------------------------------------------------------------------
FROM ${POSTGRES_IMAGE} AS pgsphere

# `/bookworm` takes Debian's package (pgSphere 1.2.0, the version the embedded runtime and the
# tests use) even where the image's PostgreSQL (PGDG) repository offers another one. PGDG's
# postgresql-15 satisfies the package's dependencies (postgresql-15, postgresql-15-jit-llvm).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        postgresql-15-pgsphere/bookworm \
 && rm -rf /var/lib/apt/lists/*

# --- fix pgSphere 1.2.0's install script ------------------------------------------------------
# Current PostgreSQL 15 releases reject two operator clauses of that script, so CREATE EXTENSION
# fails (see deploy/pgsphere_fix.py). The fix runs in a Python image rather than in this one:
# python3-minimal is not enough (pathlib needs ntpath, which is in libpython3.11-stdlib), and
# the database image stays free of Python. COPY --from fails the build if another pgSphere
# version was installed and this file does not exist, instead of shipping an unfixed image.
FROM python:3.11-slim-bookworm AS fix
COPY --from=pgsphere /usr/share/postgresql/15/extension/pg_sphere--1.2.0.sql /fix/
COPY deploy/pgsphere_fix.py /fix/
RUN python3 /fix/pgsphere_fix.py /fix/pg_sphere--1.2.0.sql

# --- the image ---------------------------------------------------------------------------------
FROM pgsphere
COPY --from=fix /fix/pg_sphere--1.2.0.sql /usr/share/postgresql/15/extension/pg_sphere--1.2.0.sql
