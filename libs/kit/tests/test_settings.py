"""Settings come from the environment only: service-specific first, then shared."""

import pytest

from itsm_kit.settings import ServiceSettings, service_config


class WidgetsSettings(ServiceSettings):
    model_config = service_config("widgets")
    service = "widgets"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for key in ("ITSM_DATABASE_URL", "ITSM_WIDGETS_DATABASE_URL",
                "ITSM_KAFKA_BOOTSTRAP", "ITSM_WIDGETS_KAFKA_BOOTSTRAP",
                "ITSM_CONSUMER_GROUP_INSTANCE_ID", "ITSM_WIDGETS_CONSUMER_GROUP_INSTANCE_ID"):
        monkeypatch.delenv(key, raising=False)


def test_a_server_url_means_the_service_own_database(monkeypatch):
    monkeypatch.setenv("ITSM_DATABASE_URL", "postgresql://u:p@db.internal:5432/postgres")
    assert WidgetsSettings().database_url == "postgresql+asyncpg://u:p@db.internal:5432/itsm_widgets"


def test_a_service_specific_url_wins_and_keeps_its_database(monkeypatch):
    monkeypatch.setenv("ITSM_DATABASE_URL", "postgresql://u:p@shared/postgres")
    monkeypatch.setenv("ITSM_WIDGETS_DATABASE_URL", "postgresql://w:x@own:6543/widgets_prod")
    assert WidgetsSettings().database_url == "postgresql+asyncpg://w:x@own:6543/widgets_prod"


def test_shared_kafka_bootstrap_applies_unless_the_service_overrides_it(monkeypatch):
    monkeypatch.setenv("ITSM_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    assert WidgetsSettings().kafka_bootstrap == "kafka-1:9092,kafka-2:9092"
    monkeypatch.setenv("ITSM_WIDGETS_KAFKA_BOOTSTRAP", "kafka-x:9092")
    assert WidgetsSettings().kafka_bootstrap == "kafka-x:9092"


def test_source_names_the_service():
    assert WidgetsSettings().source == "itsm/widgets"


def test_a_replica_joins_its_consumer_group_by_name_only_when_given_one(monkeypatch):
    assert WidgetsSettings().consumer_group_instance_id is None
    monkeypatch.setenv("ITSM_WIDGETS_CONSUMER_GROUP_INSTANCE_ID", "")
    assert WidgetsSettings().consumer_group_instance_id is None
    monkeypatch.setenv("ITSM_WIDGETS_CONSUMER_GROUP_INSTANCE_ID", "widgets-5d8f7-x2x9q")
    assert WidgetsSettings().consumer_group_instance_id == "widgets-5d8f7-x2x9q"
