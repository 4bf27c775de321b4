"""Alembic environment: the engine is handed in by engine.db.migrate (config.attributes), no alembic.ini."""

from alembic import context

from engine.db import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
