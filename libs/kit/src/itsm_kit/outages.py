"""Infrastructure trouble, as opposed to a wrong request or an event its handler cannot process:
what is retried (a consumer's batch, a sender's request), never blamed on the input."""

from __future__ import annotations

import asyncpg
from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


# PostgreSQL refusing or dropping connections: shutting down, starting up (57P03), an administrator's or a
# crash's shutdown (57P01/57P02), a connection lost.
DATABASE_DOWN = (asyncpg.PostgresConnectionError, asyncpg.OperatorInterventionError)


def is_outage(exc: BaseException) -> bool:
    """PostgreSQL, Kafka or the network failed, not the work itself."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    if isinstance(exc, DBAPIError) and (exc.connection_invalidated or _database_down_within(exc)):
        return True
    return isinstance(exc, (OSError, ConnectionError, TimeoutError, KafkaError, *DATABASE_DOWN))


def _database_down_within(exc: DBAPIError) -> bool:
    """SQLAlchemy wraps asyncpg's error in the driver adapter's (`orig`), which has it as its cause."""
    seen: BaseException | None = exc.orig
    for _ in range(3):
        if seen is None:
            return False
        if isinstance(seen, DATABASE_DOWN):
            return True
        seen = seen.__cause__
    return False


def database_unavailable(exc: BaseException) -> bool:
    """PostgreSQL cannot be reached or is restarting, as opposed to a query that is wrong."""
    return is_outage(exc) or isinstance(exc, PoolTimeout)
