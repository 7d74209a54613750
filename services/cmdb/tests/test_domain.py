"""Configuration item rules, with no database and no broker."""

from datetime import UTC, datetime
from typing import get_args

import pytest

from itsm_contracts.api.cmdb import CiClass as ContractClass, OperationalStatus as ContractStatus
from itsm_contracts.events.cmdb import CiCreated
from itsm_cmdb.domain import (
    CRITICALITY_LABELS, CiClass, ConfigurationItem, DuplicateCi, InvalidValue, OperationalStatus,
)

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def new_ci(**overrides) -> ConfigurationItem:
    args = dict(id="ci-1", name="web-01", ci_class="host", criticality=2, at=T0)
    return ConfigurationItem.register(**args | overrides)


def test_registering_raises_created_with_version_1():
    ci = new_ci(name="  pg-main  ", ci_class="database", criticality=1)
    assert (ci.name, ci.ci_class, ci.criticality, ci.version) == ("pg-main", CiClass.DATABASE, 1, 1)
    [(sequence, created)] = ci.events
    assert sequence == 1 and isinstance(created, CiCreated)
    assert (created.ci_id, created.name, created.ci_class, created.criticality, created.created_at) == (
        "ci-1", "pg-main", "database", 1, T0)


def test_a_new_ci_is_operational_unless_told_otherwise():
    assert new_ci().operational_status is OperationalStatus.OPERATIONAL
    assert new_ci(operational_status="maintenance").operational_status is OperationalStatus.MAINTENANCE


def test_blank_name_is_refused():
    with pytest.raises(InvalidValue):
        new_ci(name="   ")


@pytest.mark.parametrize("criticality", [0, 5, -1])
def test_criticality_outside_1_to_4_is_refused(criticality):
    with pytest.raises(InvalidValue, match="criticality"):
        new_ci(criticality=criticality)


@pytest.mark.parametrize("criticality", [1, 2, 3, 4])
def test_every_criticality_on_the_scale_is_accepted_and_labelled(criticality):
    assert new_ci(criticality=criticality).criticality == criticality
    assert CRITICALITY_LABELS[criticality]


def test_unknown_class_or_status_is_refused_naming_the_choices():
    with pytest.raises(InvalidValue, match="business_service, application"):
        new_ci(ci_class="server")
    with pytest.raises(InvalidValue, match="operational, degraded"):
        new_ci(operational_status="up")


def test_a_duplicate_names_the_class_the_name_and_the_existing_ci():
    error = DuplicateCi(CiClass.HOST, "WEB-01", "ci-0")
    assert error.existing_id == "ci-0"
    assert "host" in str(error) and "'WEB-01'" in str(error) and "ignoring case" in str(error)


def test_domain_and_contract_agree_on_classes_and_statuses():
    assert list(get_args(ContractClass)) == list(CiClass)
    assert list(get_args(ContractStatus)) == list(OperationalStatus)
