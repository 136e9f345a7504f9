"""Choosing the store from a ``--store`` value (``MIZZEN_STORE``): a PostgreSQL URL or a SQLite file.

- nothing: the SQLite file in ``$MIZZEN_HOME`` (the default, one control plane);
- ``postgresql://user@host:port/db`` (or ``postgres://``): PostgreSQL, shareable by several replicas;
  the password comes from ``password_file``, ``PGPASSFILE``/``~/.pgpass`` or ``PGPASSWORD``, never
  from the URL;
- a file path (or ``sqlite:PATH``): a SQLite file elsewhere.

The PostgreSQL module (and so psycopg) is imported only when a PostgreSQL URL is given.
"""

from __future__ import annotations

from pathlib import Path

from .errors import StoreError
from .interface import ConfigStore
from .sqlite import SqliteStore

_PG_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(spec: str | None) -> bool:
    """True when ``spec`` names a PostgreSQL database."""
    return bool(spec) and str(spec).startswith(_PG_SCHEMES)


def check_spec(spec: str | None, default_path: Path | None = None) -> str:
    """Raise :class:`StoreError` for a value no store accepts; return how it will be shown (no secrets)."""
    if not spec:
        return f"sqlite {default_path}" if default_path else "sqlite (in $MIZZEN_HOME)"
    if is_postgres(spec):
        from .postgres import describe, parse_url

        return describe(parse_url(spec))
    path = _sqlite_path(spec)
    return f"sqlite {path}"


def open_store(spec: str | None, default_path: Path, *, password_file: Path | None = None) -> ConfigStore:
    """Open the store ``spec`` names (see the module docstring); ``default_path`` when it names none."""
    if is_postgres(spec):
        from .postgres import PostgresStore

        return PostgresStore(str(spec), password_file=password_file)
    if password_file is not None:
        raise StoreError("a store password file applies only to a PostgreSQL store (--store postgresql://...)")
    return SqliteStore(_sqlite_path(spec) if spec else default_path)


def _sqlite_path(spec: str) -> Path:
    if spec.startswith("sqlite:"):
        spec = spec.removeprefix("sqlite:").removeprefix("//")
    elif "://" in spec:
        scheme = spec.split("://", 1)[0]
        raise StoreError(
            f'unsupported store "{scheme}://...": use postgresql://user@host:port/db or a SQLite file path'
        )
    if not spec:
        raise StoreError("the SQLite store needs a file path (sqlite:PATH)")
    return Path(spec).expanduser()
