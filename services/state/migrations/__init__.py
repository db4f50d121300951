"""Alembic migrations of the state service's database."""
