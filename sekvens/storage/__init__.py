"""Persistence: SQLAlchemy tables, sessions, queries and Alembic migrations."""
