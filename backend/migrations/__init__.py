"""Alembic migrations of the backend database (packaged, so that installs can migrate)."""
