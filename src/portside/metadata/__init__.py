"""Metadata: everything but bytes, in SQL. The only package that imports SQLAlchemy."""
