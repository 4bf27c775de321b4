"""events log and pending commands for the agents

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from engine.db import UTCDateTime

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("host_id", sa.String(36), nullable=True),
        sa.Column("host_name", sa.String(253), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_index("ix_events_host_id", "events", ["host_id"])
    op.create_table(
        "commands",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("host_id", sa.String(36), sa.ForeignKey("hosts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("acked_at", UTCDateTime, nullable=True),
        sa.Column("ok", sa.Boolean, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_commands_host_id", "commands", ["host_id"])


def downgrade() -> None:
    op.drop_table("commands")
    op.drop_table("events")
