"""The requests database: tables (tables.py) and a repository per part (catalogue, requests, dispatch, work
orders)."""

from itsm_requests.store.tables import metadata

__all__ = ["metadata"]
