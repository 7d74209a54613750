import uuid

from itsm_kit.ids import uuid4


def test_ids_are_random_version_4_uuids():
    made = [uuid4() for _ in range(2000)]
    assert len(set(made)) == 2000
    for value in made:
        parsed = uuid.UUID(value)
        assert str(parsed) == value and parsed.version == 4 and parsed.variant == uuid.RFC_4122
