"""Which failures of a write mean another writer got there first (run it again), and which do not."""

from itsm_kit.domain import InvalidValue


def test_a_clash_with_another_writer_is_retried_and_nothing_else_is():
    import asyncpg
    from sqlalchemy.exc import DBAPIError, IntegrityError

    from itsm_cmdb.handlers import Contended, retryable
    from itsm_kit.db import driver_error

    deadlock = DBAPIError("COPY", None, asyncpg.exceptions.DeadlockDetectedError("deadlock"))
    assert retryable(Contended()) and retryable(IntegrityError("x", None, Exception())) and retryable(deadlock)
    assert retryable(driver_error(asyncpg.exceptions.UniqueViolationError("dup"), "COPY ci_identities"))
    assert not retryable(InvalidValue("bad")) and not retryable(DBAPIError("x", None, Exception("syntax")))
