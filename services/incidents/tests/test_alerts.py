"""Alert deduplication and storms, as rules: episodes, the desk that applies a run of alerts. No I/O."""

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from itsm_contracts.events.alerts import AlertReceived
from itsm_contracts.events.incidents import IncidentAlertAttached, IncidentOpened, IncidentResolved
from itsm_incidents.domain import (
    EPISODE_TRANSITIONS, AlertDesk, AlertEpisode, EndedBy, EpisodeStatus, Incident, State, storm_window_start,
)
from itsm_kit.domain import DEFAULT_PRIORITY_MATRIX, InvalidTransition

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def alert(key: str, status: str = "firing", *, at: datetime = T0, group: str | None = None, storm: int = 0,
          integration: str = "int-1", **fields) -> AlertReceived:
    return AlertReceived(**{"integration_id": integration, "integration_kind": "alertmanager", "dedup_key": key,
                            "status": status, "severity": "warning", "summary": f"{key} is down", "received_at": at,
                            "group_key": group, "storm_window_seconds": storm, **fields})


def desk(episodes=(), storm_episodes=(), incidents=(), active=None, ended=()) -> AlertDesk:
    ids = (f"new-{n}" for n in count(1))
    return AlertDesk(episodes=list(episodes), storm_episodes=list(storm_episodes), ended=ended,
                     incidents={i.id: i for i in incidents}, active_alerts=active or {}, new_id=lambda: next(ids),
                     matrix=DEFAULT_PRIORITY_MATRIX)


def numbers():
    return (f"INC{n:07d}" for n in count(1001))


def loaded(incident: Incident) -> Incident:
    incident.events.clear()
    incident.activity.clear()
    return incident


def existing(key: str, *, state: State = State.NEW, at: datetime = T0, group: str | None = None,
             starts: datetime | None = None) -> tuple[Incident, AlertEpisode]:
    """An incident an earlier run opened for `key`, and its active episode."""
    first = alert(key, at=at, group=group, starts_at=starts)
    incident = Incident.open_from_alert(id=f"inc-{key}", number=f"INC-{key}", alert=first)
    if state is State.RESOLVED:
        incident.resolve("fixed", "by hand", at)
    return loaded(incident), AlertEpisode.begin(f"ep-{key}", incident.id, first)


def test_a_resolved_episode_is_over_and_the_others_take_any_status():
    assert EPISODE_TRANSITIONS[EpisodeStatus.RESOLVED] == frozenset()
    episode = AlertEpisode.begin("ep-1", "inc-1", alert("a"))
    episode.repeat(alert("a", "acknowledged", at=T0 + timedelta(minutes=1)))
    episode.repeat(alert("a", at=T0))  # a late notification does not move last seen back
    assert (episode.status, episode.count, episode.last_seen_at) == (EpisodeStatus.FIRING, 3, T0 + timedelta(minutes=1))
    episode.repeat(alert("a", "resolved"))
    with pytest.raises(InvalidTransition):
        episode.repeat(alert("a"))


def test_a_new_alert_opens_an_incident_and_its_repeats_count_on_it():
    d = desk()
    run = [alert("a"), alert("a", at=T0 + timedelta(seconds=30)), alert("b")]
    assert d.opens_at_most(run) == 2
    numbered = numbers()
    touched = [d.receive(a, numbered) for a in run]
    assert touched[0] is touched[1] is not touched[2]
    first = touched[0]
    assert [type(e) for _, e in first.events] == [IncidentOpened, IncidentAlertAttached]
    assert (first.number, first.alert_count, first.last_seen_at) == ("INC0001001", 2, T0 + timedelta(seconds=30))
    assert list(d.opened) == ["new-1", "new-3"] and not d.changed  # new-2: the first one's episode
    assert sorted((e.dedup_key, e.count) for e in d.begun.values()) == [("a", 2), ("b", 1)]


def test_an_incident_resolves_only_when_every_alert_on_it_has_cleared():
    incident, episode = existing("a", group="g")
    other = AlertEpisode.begin("ep-b", incident.id, alert("b", group="g"))
    d = desk([episode], incidents=[incident], active={incident.id: 2})
    d.receive(alert("a", "resolved"), numbers())
    assert incident.state is State.NEW and episode.status is EpisodeStatus.RESOLVED
    d = desk([other], incidents=[incident], active={incident.id: 1})
    d.receive(alert("b", "resolved"), numbers())
    assert incident.state is State.RESOLVED and incident.resolution_code == "resolved_by_monitoring"
    assert [type(e) for _, e in incident.events][-1] is IncidentResolved
    assert list(d.moved.values()) == [other] and incident.id in d.changed


def test_an_acknowledged_alert_puts_a_new_incident_in_progress_unless_the_integration_says_not_to():
    incident, episode = existing("a")
    desk([episode], incidents=[incident], active={incident.id: 1}).receive(
        alert("a", "acknowledged", acknowledge_incident=False), numbers())
    assert incident.state is State.NEW and episode.status is EpisodeStatus.ACKNOWLEDGED
    desk([episode], incidents=[incident], active={incident.id: 1}).receive(alert("a", "acknowledged"), numbers())
    assert incident.state is State.IN_PROGRESS


def test_an_alert_whose_incident_a_person_resolved_begins_a_new_episode_on_a_new_incident():
    incident, episode = existing("a", state=State.RESOLVED)
    d = desk([episode], incidents=[incident], active={incident.id: 1})
    assert episode.status is EpisodeStatus.RESOLVED and list(d.moved.values()) == [episode]
    assert d.opens_at_most([alert("a")]) == 1
    opened = d.receive(alert("a"), numbers())
    assert opened is not incident and opened.dedup_key == "a" and opened.state is State.NEW


def test_a_resolve_for_an_alert_never_seen_firing_changes_nothing():
    d = desk()
    assert d.receive(alert("a", "resolved"), numbers()) is None
    assert not (d.opened or d.changed or d.begun or d.moved)


def test_storm_members_within_the_window_join_the_incident_of_the_groups_latest_alert():
    run = [alert(key, at=T0 + timedelta(seconds=n), group="db", storm=300) for n, key in enumerate("abc")]
    d = desk()
    numbered = numbers()
    touched = {d.receive(a, numbered).id for a in run}
    assert touched == {"new-1"} and d.opened["new-1"].alert_count == 3
    assert sorted(e.dedup_key for e in d.begun.values()) == ["a", "b", "c"]


def test_a_storm_member_after_the_window_or_without_a_group_opens_its_own_incident():
    incident, episode = existing("a", group="db")
    late = alert("b", at=T0 + timedelta(seconds=301), group="db", storm=300)
    assert storm_window_start(late) == T0 + timedelta(seconds=1)
    assert storm_window_start(alert("c", group=None, storm=300)) is None
    assert storm_window_start(alert("c", group="db", storm=0)) is None
    d = desk(storm_episodes=[episode], incidents=[incident], active={incident.id: 1})
    assert d.receive(late, numbers()) is not incident
    joined = alert("c", at=T0 + timedelta(seconds=300), group="db", storm=300)
    d = desk(storm_episodes=[episode], incidents=[incident], active={incident.id: 1})
    assert d.receive(joined, numbers()) is incident and incident.alert_count == 2


def test_a_storm_whose_latest_alert_is_on_a_closed_incident_opens_a_new_one():
    incident, episode = existing("a", state=State.RESOLVED, group="db")
    d = desk(storm_episodes=[episode], incidents=[incident], active={incident.id: 1})
    assert episode.is_active  # seen for the storm only: not this run's to end
    assert d.receive(alert("b", at=T0 + timedelta(seconds=5), group="db", storm=300), numbers()) is not incident


def test_when_the_storms_latest_alert_clears_an_earlier_active_one_still_holds_the_storm():
    older, first = existing("a", at=T0, group="db")
    newer, second = existing("b", at=T0 + timedelta(seconds=10), group="db")
    d = desk([second], storm_episodes=[first, second], incidents=[older, newer], active={older.id: 1, newer.id: 1})
    numbered = numbers()
    assert d.receive(alert("c", at=T0 + timedelta(seconds=20), group="db", storm=300), numbered) is newer
    d = desk([second], storm_episodes=[first, second], incidents=[older, newer], active={older.id: 1, newer.id: 1})
    d.receive(alert("b", "resolved", at=T0 + timedelta(seconds=15)), numbered)
    assert d.receive(alert("c", at=T0 + timedelta(seconds=20), group="db", storm=300), numbered) is older


def test_an_alert_of_another_integration_with_the_same_key_is_another_alert():
    incident, episode = existing("a", group="db")
    d = desk([episode], storm_episodes=[episode], incidents=[incident], active={incident.id: 1})
    numbered = numbers()
    assert d.receive(alert("a", "resolved", integration="int-2"), numbered) is None
    assert d.receive(alert("a", "acknowledged", integration="int-2"), numbered) is None
    assert incident.state is State.NEW and episode.is_active and incident.integration_id == "int-1"
    theirs = d.receive(alert("a", integration="int-2"), numbered)
    assert theirs is not incident and theirs.integration_id == "int-2" and incident.alert_count == 1
    # Nor does another integration's alert join this one's storm.
    stranger = alert("b", at=T0 + timedelta(seconds=1), group="db", storm=300, integration="int-3")
    assert d.receive(stranger, numbered) not in (incident, theirs)


def test_a_replayed_firing_of_an_episode_its_source_resolved_changes_nothing():
    started, later = T0 - timedelta(minutes=5), T0 + timedelta(minutes=5)
    d = desk(ended=[(("int-1", "old"), started)])
    numbered = numbers()
    assert d.receive(alert("old", starts_at=started), numbered) is None  # an HA peer's late copy
    assert d.receive(alert("old", at=later, starts_at=later), numbered) is not None  # a new episode at the source
    first = d.receive(alert("a", starts_at=started), numbered)
    d.receive(alert("a", "resolved", at=T0 + timedelta(seconds=1), starts_at=started), numbered)
    assert first.state is State.RESOLVED
    assert d.receive(alert("a", at=T0 + timedelta(seconds=2), starts_at=started), numbered) is None
    assert first.state is State.RESOLVED and len(d.opened) == 2


def test_an_alert_whose_incident_a_person_resolved_opens_a_new_one_even_with_the_same_start():
    incident, episode = existing("a", state=State.RESOLVED, starts=T0)
    d = desk([episode], incidents=[incident], active={incident.id: 1})
    assert episode.ended_by is EndedBy.INCIDENT
    opened = d.receive(alert("a", at=T0 + timedelta(minutes=1), starts_at=T0), numbers())
    assert opened is not None and opened is not incident


@pytest.mark.parametrize("summary", ["", "   ", "\u2003\u00a0\n"])
def test_an_alert_with_a_blank_summary_still_opens_an_incident_named_by_its_key(summary):
    opened = desk().receive(alert("db-down", summary=summary), numbers())
    assert opened.short_description == "db-down"
