"""The engine: CA and join tokens, host registration, inventory, events, health, HTTPS API with an
OpenAPI document, and a read-only dashboard, over SQLAlchemy + Alembic (docs/cluster.md)."""
