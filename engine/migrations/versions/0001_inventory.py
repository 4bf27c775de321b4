"""inventory: hosts, their VMs and volumes (with bricks), join tokens

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from engine.db import NOT_REMOVED, UTCDateTime

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "hosts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("sanlock_host_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("joined_at", UTCDateTime, nullable=False),
        sa.Column("last_heartbeat", UTCDateTime, nullable=True),
        sa.Column("removed_at", UTCDateTime, nullable=True),
        sa.Column("cert_serial", sa.String(64), nullable=False),
        sa.Column("cert_expires_at", UTCDateTime, nullable=False),
        sa.Column("cert_issued_at", UTCDateTime, nullable=False),
        sa.Column("agent_version", sa.String(64), nullable=False),
        sa.Column("facts", sa.JSON, nullable=False),
        sa.Column("ha", sa.JSON, nullable=True),
        sa.CheckConstraint("sanlock_host_id BETWEEN 1 AND 250", name="hosts_sanlock_range"),
    )
    op.create_index("hosts_name_live", "hosts", ["name"], unique=True, sqlite_where=NOT_REMOVED,
                    postgresql_where=NOT_REMOVED)
    op.create_index("hosts_sanlock_live", "hosts", ["sanlock_host_id"], unique=True, sqlite_where=NOT_REMOVED,
                    postgresql_where=NOT_REMOVED)
    op.create_table(
        "vms",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("host_id", sa.String(36), sa.ForeignKey("hosts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("vcpus", sa.Integer, nullable=False),
        sa.Column("memory_kib", sa.BigInteger, nullable=False),
        sa.Column("cpu_time_ns", sa.BigInteger, nullable=False),
        sa.Column("disks", sa.JSON, nullable=False),
        sa.Column("nics", sa.JSON, nullable=False),
    )
    op.create_index("ix_vms_host_id", "vms", ["host_id"])
    op.create_table(
        "volumes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("host_id", sa.String(36), sa.ForeignKey("hosts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("heal_pending", sa.Integer, nullable=False),
    )
    op.create_index("ix_volumes_host_id", "volumes", ["host_id"])
    op.create_table(
        "bricks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("volume_id", sa.Integer, sa.ForeignKey("volumes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("path", sa.String(4096), nullable=False),
        sa.Column("online", sa.Boolean, nullable=False),
    )
    op.create_index("ix_bricks_volume_id", "bricks", ["volume_id"])
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(6), primary_key=True),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("uses_left", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("tokens", "bricks", "volumes", "vms", "hosts"):
        op.drop_table(table)
