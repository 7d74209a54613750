"""Which failures of a write mean another writer got there first (run it again), and which do not."""

from itsm_kit.domain import InvalidValue


def test_a_clash_with_another_writer_is_retried_and_nothing_else_is():
    import asyncpg
    from sqlalchemy.exc import DBAPIError, IntegrityError

    from itsm_kit.db import driver_error
    from itsm_kit.unit_of_work import Contended, clashed

    deadlock = DBAPIError("COPY", None, asyncpg.exceptions.DeadlockDetectedError("deadlock"))
    assert clashed(Contended()) and clashed(IntegrityError("x", None, Exception())) and clashed(deadlock)
    assert clashed(driver_error(asyncpg.exceptions.UniqueViolationError("dup"), "COPY ci_identities"))
    assert not clashed(InvalidValue("bad")) and not clashed(DBAPIError("x", None, Exception("syntax")))
