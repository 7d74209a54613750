"""Monitoring alerts: how they open, deduplicate onto, acknowledge and clear incidents. Pure: no I/O.

An alert is known by its integration and its dedup key: another integration's alert with the
same key is another alert (PagerDuty applies events only on the routing key that triggered).
An alert episode is one alert's life on one incident, from its first firing to its resolve:
repeats count on it, and once it is resolved the same alert firing again is a new episode.
A source that says when the alert started (Alertmanager's startsAt) names the episode too: a
firing notification of an episode the source already resolved is a replay (an HA peer's) and
changes nothing. An alert storm is many alerts of one group (Alertmanager's group key) of one
integration at once: within the storm window they attach to the incident the first of them opened.

AlertDesk applies a run of alerts in order to the episodes and incidents the handler loaded;
the handler then stores what it opened, changed and began.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from itsm_contracts.events.alerts import AlertReceived
from itsm_kit.domain import check_transition
from itsm_incidents.domain.incident import AUTO_RESOLUTION_CODE, MONITORING, Incident

AlertIdentity = tuple[str, str]  # (integration id, dedup key)


def identity(alert: AlertReceived) -> AlertIdentity:
    return alert.integration_id, alert.dedup_key


class EndedBy(StrEnum):
    SOURCE = "source"      # the monitoring system said it resolved
    INCIDENT = "incident"  # its incident was resolved or closed while it kept firing


class EpisodeStatus(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"  # someone is on it at the source
    RESOLVED = "resolved"          # over; the alert firing again begins a new episode


# What an alert's next notification may make of its episode.
EPISODE_TRANSITIONS: dict[EpisodeStatus, frozenset[EpisodeStatus]] = {
    EpisodeStatus.FIRING: frozenset(EpisodeStatus),
    EpisodeStatus.ACKNOWLEDGED: frozenset(EpisodeStatus),
    EpisodeStatus.RESOLVED: frozenset(),
}


@dataclass
class AlertEpisode:
    id: str
    incident_id: str
    dedup_key: str
    status: EpisodeStatus
    group_key: str | None
    integration_id: str
    severity: str
    summary: str
    count: int
    first_seen_at: datetime
    last_seen_at: datetime
    starts_at: datetime | None = None  # when the source says the alert started: with the key, the episode's name
    ended_by: EndedBy | None = None

    @classmethod
    def begin(cls, id: str, incident_id: str, alert: AlertReceived) -> AlertEpisode:
        return cls(id=id, incident_id=incident_id, dedup_key=alert.dedup_key, status=EpisodeStatus(alert.status),
                   group_key=alert.group_key, integration_id=alert.integration_id, severity=alert.severity,
                   summary=alert.summary[:500], count=1, first_seen_at=alert.received_at,
                   last_seen_at=alert.received_at, starts_at=alert.starts_at)

    @property
    def identity(self) -> AlertIdentity:
        return self.integration_id, self.dedup_key

    @property
    def group(self) -> tuple[str, str] | None:
        return (self.integration_id, self.group_key) if self.group_key else None

    @property
    def is_active(self) -> bool:
        return self.status is not EpisodeStatus.RESOLVED

    def repeat(self, alert: AlertReceived) -> None:
        """Another notification of this alert: counted, and its status is the episode's now."""
        self.move_to(EpisodeStatus(alert.status), EndedBy.SOURCE)
        self.count += 1
        self.last_seen_at = max(self.last_seen_at, alert.received_at)

    def move_to(self, status: EpisodeStatus, by: EndedBy) -> None:
        check_transition(EPISODE_TRANSITIONS, "an alert episode", self.status, status)
        self.status = status
        if status is EpisodeStatus.RESOLVED:
            self.ended_by = by


class AlertAction(StrEnum):
    """What an incoming alert does to incidents."""

    OPEN = "open"                # a new incident for it
    ATTACH = "attach"            # counted on the incident it (or its storm) already has
    ACKNOWLEDGE = "acknowledge"  # its incident goes in progress
    CLEAR = "clear"              # the alert is over; its incident resolves when none of its alerts is active
    IGNORE = "ignore"            # nothing to do: e.g. a resolve for an alert never seen firing


def alert_action(status: str, *, has_active_alert: bool, storm_incident_open: bool) -> AlertAction:
    """The correlation rules, in one place.

    `has_active_alert`: this dedup key is firing (or acknowledged) on an open incident.
    `storm_incident_open`: an open incident holds an active alert of the same group within
    the integration's storm window.
    """
    if status == "firing":
        return AlertAction.ATTACH if has_active_alert or storm_incident_open else AlertAction.OPEN
    if not has_active_alert:
        return AlertAction.IGNORE
    return AlertAction.ACKNOWLEDGE if status == "acknowledged" else AlertAction.CLEAR


def storm_window_start(alert: AlertReceived) -> datetime | None:
    """From when an active alert of the same group takes this one into its incident; None when
    storm control does not apply to it (off for its integration, or no group)."""
    if alert.status != "firing" or not alert.storm_window_seconds or not alert.group_key:
        return None
    return alert.received_at - timedelta(seconds=alert.storm_window_seconds)


class AlertDesk:
    """A run of alerts applied in order to what the handler loaded for it.

    `episodes`: the active episodes of the run's alerts. `storm_episodes`: the active episodes
    of the run's groups seen within their storm windows. `ended`: (identity, starts_at) of the
    episodes of the run's alerts that their source resolved. `incidents`: every incident the
    episodes are on. `active_alerts`: how many active episodes each of those incidents has in all.
    """

    def __init__(self, *, episodes: Iterable[AlertEpisode], storm_episodes: Iterable[AlertEpisode],
                 ended: Iterable[tuple[AlertIdentity, datetime]], incidents: Mapping[str, Incident],
                 active_alerts: Mapping[str, int], new_id: Callable[[], str], matrix: Mapping[tuple[int, int], int]):
        self.incidents = dict(incidents)
        self._active_alerts = dict(active_alerts)
        self._ended = set(ended)
        self._new_id, self._matrix = new_id, matrix
        self._episodes: dict[AlertIdentity, AlertEpisode] = {}        # each alert's active episode
        self._by_group: dict[tuple[str, str], list[AlertEpisode]] = {}  # storm candidates
        self._newest: dict[tuple[str, str], AlertEpisode] = {}          # each group's most recently seen one
        self.opened: dict[str, Incident] = {}
        self.changed: dict[str, Incident] = {}  # incidents that were there before the run
        self.begun: dict[str, AlertEpisode] = {}
        self.moved: dict[str, AlertEpisode] = {}  # episodes that were there before the run
        for episode in episodes:
            self._track(episode)
            if not self.incidents[episode.incident_id].is_open:
                self._end(episode, EndedBy.INCIDENT)  # resolved by a person while it kept firing
        for episode in storm_episodes:
            if episode.identity not in self._episodes:  # else the same episode, loaded for the run already
                self._track(episode)

    def opens_at_most(self, alerts: Iterable[AlertReceived]) -> int:
        """How many incidents the run may open: each firing alert with no active episode (a storm
        member may attach instead, and a replay does nothing, so fewer may open)."""
        active, opens = set(self._episodes), 0
        for alert in alerts:
            if alert.status == "firing" and identity(alert) not in active:
                opens += 1
                active.add(identity(alert))
            elif alert.status == "resolved":
                active.discard(identity(alert))
        return opens

    def receive(self, alert: AlertReceived, numbers: Iterator[str]) -> Incident | None:
        """Apply one alert; the incident it opened or changed, if any. `numbers`: new incident numbers,
        opens_at_most of them for the run."""
        episode = self._episodes.get(identity(alert))
        if episode is None and self.is_replay(alert):
            return None
        storm = self._storm_incident(alert) if episode is None else None
        action = alert_action(alert.status, has_active_alert=episode is not None,
                              storm_incident_open=storm is not None)
        if action is AlertAction.IGNORE:
            return None
        if action is AlertAction.OPEN:
            incident = Incident.open_from_alert(id=self._new_id(), number=next(numbers), alert=alert,
                                                matrix=self._matrix)
            self.incidents[incident.id] = self.opened[incident.id] = incident
            self._begin(incident.id, alert)
            return incident
        if episode is None:  # a new member of an open storm incident
            incident = storm
            self._begin(incident.id, alert)
        else:
            incident = self.incidents[episode.incident_id]
            was_active = episode.is_active
            episode.repeat(alert)
            self._changed(episode, was_active)
        if incident.id not in self.opened:
            self.changed[incident.id] = incident
        at = alert.received_at
        if action is AlertAction.ATTACH:
            incident.attach_alert(alert.dedup_key, at)
        elif action is AlertAction.ACKNOWLEDGE and alert.acknowledge_incident:
            incident.acknowledge(at)
        elif action is AlertAction.CLEAR and alert.resolve_incident and not self._active_alerts.get(incident.id):
            incident.resolve(AUTO_RESOLUTION_CODE, f"Every alert of this incident cleared at its source "
                             f"({alert.integration_kind}).", at, actor=MONITORING)
        return incident

    def is_replay(self, alert: AlertReceived) -> bool:
        """A firing notification of an episode its source already resolved (an HA peer's late copy)."""
        return alert.status == "firing" and alert.starts_at is not None and (
            (identity(alert), alert.starts_at) in self._ended)

    def _storm_incident(self, alert: AlertReceived) -> Incident | None:
        """The incident holding the group's most recently seen active alert, if that was within the
        window and the incident is open."""
        since = storm_window_start(alert)
        if since is None:
            return None
        newest = self._newest_active((alert.integration_id, alert.group_key))
        if newest is None or newest.last_seen_at < since:
            return None
        incident = self.incidents[newest.incident_id]
        return incident if incident.is_open else None

    def _newest_active(self, group: tuple[str, str]) -> AlertEpisode | None:
        newest = self._newest.get(group)
        if newest is None or not newest.is_active:
            active = self._by_group[group] = [e for e in self._by_group.get(group, ()) if e.is_active]
            newest = max(active, key=lambda e: e.last_seen_at, default=None)
            if newest is not None:
                self._newest[group] = newest
        return newest

    def _seen(self, episode: AlertEpisode) -> None:
        """Keep the group's newest candidate current (only once it was looked for)."""
        newest = self._newest.get(episode.group)
        if newest is not None and episode.last_seen_at >= newest.last_seen_at:
            self._newest[episode.group] = episode

    def _track(self, episode: AlertEpisode) -> None:
        if episode.is_active:
            self._episodes[episode.identity] = episode
        if episode.group:
            self._by_group.setdefault(episode.group, []).append(episode)

    def _begin(self, incident_id: str, alert: AlertReceived) -> None:
        episode = AlertEpisode.begin(self._new_id(), incident_id, alert)
        self.begun[episode.id] = episode
        self._track(episode)
        if episode.group:
            self._seen(episode)
        self._active_alerts[incident_id] = self._active_alerts.get(incident_id, 0) + 1

    def _end(self, episode: AlertEpisode, by: EndedBy) -> None:
        was_active = episode.is_active
        episode.move_to(EpisodeStatus.RESOLVED, by)
        self._changed(episode, was_active)

    def _changed(self, episode: AlertEpisode, was_active: bool) -> None:
        if was_active and not episode.is_active:
            self._active_alerts[episode.incident_id] -= 1
            del self._episodes[episode.identity]
            if episode.ended_by is EndedBy.SOURCE and episode.starts_at is not None:
                self._ended.add((episode.identity, episode.starts_at))
        elif episode.group:
            self._seen(episode)
        if episode.id not in self.begun:
            self.moved[episode.id] = episode
