"""The knowledge database: tables (tables.py) and a repository per part (articles, known errors)."""

from itsm_knowledge.store.tables import metadata

__all__ = ["metadata"]
