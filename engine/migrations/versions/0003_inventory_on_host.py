"""each host's last reported VMs and volumes as JSON on its own row (one UPDATE per heartbeat)

The vms/volumes/bricks tables were rewritten on every heartbeat (a delete and an insert per VM,
volume and brick): at 2,000 hosts that was most of the engine's database work. They only ever held
each host's latest report, which is now two JSON columns of the host row; the rows they hold are
copied over in the report's shape, so the upgrade keeps the data.

Revision ID: 0003
Revises: 0002
"""

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("hosts", sa.Column("vms", sa.JSON, nullable=False, server_default="[]"))
    op.add_column("hosts", sa.Column("volumes", sa.JSON, nullable=False, server_default="[]"))
    conn = op.get_bind()
    meta = sa.MetaData()
    hosts, vms, volumes, bricks = (sa.Table(t, meta, autoload_with=conn) for t in ("hosts", "vms", "volumes", "bricks"))
    by_host: dict[str, dict[str, list[Any]]] = defaultdict(lambda: {"vms": [], "volumes": []})
    for vm in conn.execute(sa.select(vms).order_by(vms.c.id)).mappings():
        by_host[vm["host_id"]]["vms"].append({
            "name": vm["name"], "uuid": vm["uuid"], "state": vm["state"], "vcpus": vm["vcpus"],
            "memory_kib": vm["memory_kib"], "cpu_time_ns": vm["cpu_time_ns"],
            "disks": (vm["disks"] or {}).get("items", []), "nics": (vm["nics"] or {}).get("items", [])})
    brick_rows: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for b in conn.execute(sa.select(bricks).order_by(bricks.c.id)).mappings():
        brick_rows[b["volume_id"]].append({"host": b["host"], "path": b["path"], "online": bool(b["online"])})
    for vol in conn.execute(sa.select(volumes).order_by(volumes.c.id)).mappings():
        by_host[vol["host_id"]]["volumes"].append({"name": vol["name"], "status": vol["status"],
                                                   "heal_pending": vol["heal_pending"],
                                                   "bricks": brick_rows[vol["id"]]})
    for host_id, inventory in by_host.items():
        conn.execute(sa.update(hosts).where(hosts.c.id == host_id).values(**inventory))
    for table in ("bricks", "volumes", "vms"):
        op.drop_table(table)


def downgrade() -> None:
    # the tables come back empty: they only held the latest report, which the next heartbeat resends
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
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("volumes")
        batch.drop_column("vms")
