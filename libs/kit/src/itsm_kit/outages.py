"""Infrastructure trouble, as opposed to a wrong request or an event its handler cannot process:
what is retried (a consumer's batch, a sender's request), never blamed on the input."""

from __future__ import annotations

import asyncpg
from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


def is_outage(exc: BaseException) -> bool:
    """PostgreSQL, Kafka or the network failed, not the work itself."""
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (OSError, ConnectionError, TimeoutError, KafkaError))


def database_unavailable(exc: BaseException) -> bool:
    """PostgreSQL cannot be reached or is restarting, as opposed to a query that is wrong."""
    return is_outage(exc) or isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.OperatorInterventionError,
                                              PoolTimeout))
