import time
import uuid

from itsm_kit.ids import uuid7


def test_version_7_ids_carry_the_time_and_sort_by_it():
    before = time.time_ns() // 1_000_000
    made = [uuid7() for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    assert len(set(made)) == 2000
    for value in made:
        parsed = uuid.UUID(value)
        assert str(parsed) == value and parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert before <= parsed.int >> 80 <= after
    time.sleep(0.002)
    assert uuid7() > max(made)
