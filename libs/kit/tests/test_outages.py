"""What counts as an outage (retried, never blamed on the event): PostgreSQL going down as SQLAlchemy reports it
through asyncpg, not only a lost connection. A consumer that took "the database system is shutting down" for a
bad event died with it (seen when PostgreSQL restarted under a service catching up)."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError

from itsm_kit.outages import database_unavailable, is_outage


def as_sqlalchemy_raises(cause: Exception) -> DBAPIError:
    """asyncpg's error, wrapped by the driver adapter (its cause), wrapped by SQLAlchemy (`orig`)."""
    try:
        try:
            raise cause
        except Exception as error:
            raise RuntimeError("adapter error") from error
    except RuntimeError as adapted:
        return DBAPIError("SELECT 1", None, adapted)


@pytest.mark.parametrize("cause", [asyncpg.CannotConnectNowError("the database system is shutting down"),
                                   asyncpg.AdminShutdownError("terminating connection due to administrator command"),
                                   asyncpg.ConnectionDoesNotExistError("connection was closed")])
def test_postgresql_going_down_is_an_outage(cause):
    assert is_outage(as_sqlalchemy_raises(cause)) and database_unavailable(as_sqlalchemy_raises(cause))
    assert is_outage(cause)


def test_a_wrong_query_is_not_an_outage():
    wrong = as_sqlalchemy_raises(asyncpg.UndefinedTableError('relation "nothing" does not exist'))
    assert not is_outage(wrong) and not database_unavailable(wrong)
