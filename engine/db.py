"""The engine's database: SQLAlchemy 2 models and Alembic migrations (engine/migrations), run
programmatically so no alembic.ini is needed. SQLite (default, a file in the data dir) or PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

HOST_STATES = ("Up", "NonResponsive", "Maintenance", "Removed")
NOT_REMOVED = sa.text("status != 'Removed'")


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both back ends (SQLite keeps no zone; PostgreSQL does)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: sa.JSON}


class Host(Base):
    __tablename__ = "hosts"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(253))
    address: Mapped[str] = mapped_column(sa.String(64), default="")
    sanlock_host_id: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(16))
    joined_at: Mapped[dt.datetime]
    last_heartbeat: Mapped[dt.datetime | None]
    removed_at: Mapped[dt.datetime | None]
    cert_serial: Mapped[str] = mapped_column(sa.String(64))
    cert_expires_at: Mapped[dt.datetime]
    cert_issued_at: Mapped[dt.datetime]
    agent_version: Mapped[str] = mapped_column(sa.String(64), default="")
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ha: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    # the host's last report of its VMs and Gluster volumes, in the heartbeat's shape (docs/cluster.md):
    # one row update per heartbeat instead of a delete and an insert per VM, volume and brick;
    # deferred, so host lists and the NonResponsive sweep do not load them
    vms: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list, deferred=True)
    volumes: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list, deferred=True)
    __table_args__ = (
        sa.Index("hosts_name_live", "name", unique=True, sqlite_where=NOT_REMOVED, postgresql_where=NOT_REMOVED),
        sa.Index("hosts_sanlock_live", "sanlock_host_id", unique=True, sqlite_where=NOT_REMOVED,
                 postgresql_where=NOT_REMOVED),
        sa.CheckConstraint("sanlock_host_id BETWEEN 1 AND 250", name="hosts_sanlock_range"),
    )


class Token(Base):
    __tablename__ = "tokens"
    id: Mapped[str] = mapped_column(sa.String(6), primary_key=True)
    secret_sha256: Mapped[str] = mapped_column(sa.String(64))  # never the secret itself
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    uses_left: Mapped[int]


class Event(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    host_id: Mapped[str | None] = mapped_column(sa.String(36), nullable=True, index=True)
    host_name: Mapped[str] = mapped_column(sa.String(253), default="")
    detail: Mapped[str] = mapped_column(sa.Text, default="")


class Command(Base):
    __tablename__ = "commands"
    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[str] = mapped_column(sa.ForeignKey("hosts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[dt.datetime]
    acked_at: Mapped[dt.datetime | None]
    ok: Mapped[bool | None]
    detail: Mapped[str] = mapped_column(sa.Text, default="")


POOL_SIZE = 10  # more than engine.api.WORKER_THREADS, which bounds the requests that run at once


def make_engine(url: str, relaxed: bool = False) -> sa.Engine:
    """The database engine. `relaxed`: its commits return before their WAL record is on disk
    (PostgreSQL's synchronous_commit=off, for the heartbeat's own pool only): for writes that the next
    heartbeat repeats, a crash can lose the last fraction of a second of them and never corrupts anything.
    Joins, tokens and admin actions use the durable pool. SQLite (WAL, synchronous=NORMAL) already
    commits without a sync, so `relaxed` changes nothing there."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                                  pool_size=POOL_SIZE if relaxed else 5, max_overflow=0 if relaxed else 10)

        @sa_event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            # WAL: readers (the dashboard) never wait for the heartbeat writer; FKs for the cascades
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # no pool_pre_ping: it is one more round trip per request (a heartbeat makes three). After a database
    # restart the first statement on a dead connection fails, SQLAlchemy then drops the whole pool, and
    # that one request answers 500 (an agent resends at the next interval)
    connect_args = {"options": "-c synchronous_commit=off"} if relaxed else {}
    # the heartbeat pool: as many connections as requests run at once, kept open (an overflow connection
    # is closed when it comes back, and a new PostgreSQL connection costs far more than a heartbeat)
    if relaxed:
        return sa.create_engine(url, pool_size=POOL_SIZE, max_overflow=0, connect_args=connect_args)
    return sa.create_engine(url, pool_size=10, max_overflow=10, connect_args=connect_args)


def sessions(engine: sa.Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: sa.Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", os.path.join(os.path.dirname(__file__), "migrations"))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """`alembic upgrade REVISION` through the API (idempotent: a database at head stays as it is)."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: sa.Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
