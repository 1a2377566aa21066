"""Alembic migrations of the history store (a package so that env.py ships in the wheel)."""
