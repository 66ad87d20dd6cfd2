"""The concurrency suite runs on PostgreSQL: SQLite's one pooled connection hides races."""

from tests.backend.conftest import (  # noqa: F401  (fixtures shared with the backend tests)
    fresh_postgres_database,
    mailbox,
    migrated_postgres,
)
