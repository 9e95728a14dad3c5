"""Alembic migrations for Qualibot (run through :mod:`storage.migrate`)."""
