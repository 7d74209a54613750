"""Every dependency the kit gives routes is a coroutine: FastAPI runs a plain `def` dependency in its thread pool,
a hop on every request (seen as 6% of the gateway's CPU and a queue for threads under the screens' load)."""

import inspect

import pytest

from itsm_kit import api, runtime


@pytest.mark.parametrize("dependency", [runtime.get_runtime, runtime.get_unit_of_work, api._if_match, api._actor,
                                        api._actor_groups])
def test_a_kit_dependency_runs_on_the_event_loop(dependency):
    assert inspect.iscoroutinefunction(dependency)
