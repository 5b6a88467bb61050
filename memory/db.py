"""Engine creation, schema migration and write transactions for any SQLAlchemy URL.

SQLite gets WAL journaling (readers never block the writer, and a killed writer leaves
a consistent file) and a busy timeout so parallel processes wait instead of failing.
Migrations run on every open; when the schema is already at head this costs one query.

Writes that read before they write (merges, dedup) must not interleave with another
process doing the same, or updates are lost. :meth:`Database.write` therefore opens
SQLite transactions with ``BEGIN IMMEDIATE`` (the write lock is taken before the first
read) and callers lock the rows they merge into with ``SELECT ... FOR UPDATE``, which
PostgreSQL honours and SQLite's compiler leaves out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from memory.models import MetaRow

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_WRITE = "mnemos_write"
#: PostgreSQL SQLSTATEs after which the whole transaction may simply be run again.
_RETRYABLE_SQLSTATES = {"40001", "40P01"}


class StoreUnavailable(RuntimeError):
    """The database cannot be used as a memory store (bad URL, unreachable, unreadable, not a database)."""


class StoreMissing(StoreUnavailable):
    """The database file is gone or empty although the store existed (its index files are still there)."""


def _sqlite_connect(dbapi_conn, _record) -> None:
    # SQLAlchemy, not the driver, starts transactions (see _sqlite_begin), so writes can BEGIN IMMEDIATE.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")


def parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise ValueError(f"not a valid SQLAlchemy database URL: {url!r} ({exc})") from exc


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL, or None (another backend, or an in-memory database)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:") or parsed.query.get("mode") == "memory":
        return None
    return Path(database.removeprefix("file:")).expanduser()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; creates the parent directory of a SQLite file."""
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    try:
        if backend == "sqlite":
            path = sqlite_file(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            kwargs: dict[str, Any] = {"connect_args": {"timeout": 30, "check_same_thread": False}}
            if path is None:
                kwargs["poolclass"] = StaticPool
            engine = create_engine(parsed, **kwargs)
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        return create_engine(parsed, pool_pre_ping=True)
    except ArgumentError as exc:  # includes NoSuchModuleError: no dialect of that name
        raise ValueError(f"unsupported database URL {_safe(url)}: {exc}") from exc
    except ImportError as exc:
        raise ValueError(f"the driver for {backend!r} databases is not installed ({exc.name or exc})") from exc


def _safe(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> None:
    """Bring the schema to head; tolerate another process doing the same concurrently."""
    cfg = alembic_config()
    scripts = ScriptDirectory.from_config(cfg)
    head = scripts.get_current_head()
    current = _current_revision(engine)
    if current == head:
        return
    if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
        raise StoreUnavailable(f"this database has schema {current}, written by a newer mnemos than this one "
                               f"(which knows up to {head}); upgrade mnemos, or use another --home / --database-url")
    try:
        # Under the write lock on SQLite: a second process waits, then finds the schema at head.
        with engine.execution_options(**{_WRITE: True}).begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        log.info("database schema migrated to %s", head)
    except DBAPIError:
        if _current_revision(engine) != head:
            raise
        log.info("database schema was migrated concurrently by another process")


def describe_db_error(exc: DBAPIError) -> str:
    """The driver's own message, first line only (the SQL and parameters are not the user's business)."""
    text = str(exc.orig) if exc.orig is not None else str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def is_retryable(exc: DBAPIError) -> bool:
    """A deadlock or serialization failure: the transaction was rolled back and can run again."""
    return getattr(exc.orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


class Database:
    """An engine plus session factories plus the store's identity.

    ``must_exist`` refuses a SQLite file that is missing or empty instead of creating
    a new store in its place (the caller knows the store existed, e.g. from its index files).
    """

    def __init__(self, url: str, *, must_exist: bool = False):
        self.url = url
        path = sqlite_file(url)
        if must_exist and path is not None and (not path.is_file() or path.stat().st_size == 0):
            raise StoreMissing(f"database file {path} is {'empty' if path.is_file() else 'missing'}")
        if path is not None and path.is_dir():
            raise StoreUnavailable(f"database path {path} is a directory, not a SQLite file")
        self.engine = make_engine(url)
        try:
            migrate(self.engine)
            self.sessions = sessionmaker(self.engine, expire_on_commit=False)
            self._writers = sessionmaker(self.engine.execution_options(**{_WRITE: True}), expire_on_commit=False)
            with self.sessions() as session:
                self.store_id: str = session.scalar(select(MetaRow.value).where(MetaRow.key == "store_id")) or ""
        except DBAPIError as exc:
            self.engine.dispose()
            raise StoreUnavailable(f"cannot open database {_safe(url)}: {describe_db_error(exc)}") from exc
        except BaseException:
            self.engine.dispose()
            raise

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        """A session for reads (and single-statement writes that need no lock)."""
        return self.sessions()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction; on SQLite it holds the database write lock from its first statement."""
        with self._writers() as session, session.begin():
            yield session

    @contextmanager
    def write_in(self, session: Session | None) -> Iterator[Session]:
        """The caller's write transaction when given one, else a new :meth:`write`.

        Store updates take an optional session so that several of them (an episode's
        counts) commit or roll back together.
        """
        if session is not None:
            yield session
        else:
            with self.write() as s:
                yield s

    def dispose(self) -> None:
        self.engine.dispose()


def insert_ignore(session: Session, row_cls: type, values: dict[str, Any], key: tuple[str, ...]) -> Any | None:
    """Insert a row unless one with the same ``key`` exists; returns its primary key, or None on conflict.

    On PostgreSQL the statement waits for a concurrent transaction inserting the same
    key and then does nothing, so the caller can lock and merge into the winner's row.
    """
    dialect = session.get_bind().dialect.name
    table = row_cls.__table__
    (pk,) = table.primary_key.columns
    if dialect in ("sqlite", "postgresql"):
        make = sqlite_insert if dialect == "sqlite" else pg_insert
        stmt = make(table).values(values).on_conflict_do_nothing(index_elements=list(key)).returning(pk)
        return session.scalar(stmt)
    try:
        with session.begin_nested():
            return session.execute(insert(table).values(values)).inserted_primary_key[0]
    except IntegrityError:
        return None
