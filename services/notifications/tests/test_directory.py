"""The directory's rules, without a database: timezones, working hours, e-mail addresses, usernames, members lists;
and what a SCIM resource becomes."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from itsm_kit.domain import InvalidValue
from itsm_notifications.domain.directory import MAX_MEMBERS, Group, Person, WorkingHours, member_list
from itsm_notifications.scim import group_of, user_of

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # a Tuesday


def person(**fields) -> Person:
    return Person.create(id="p1", username=fields.pop("username", "ada"), name=fields.pop("name", "Ada L"), at=T0,
                         **fields)


# -- timezone ---------------------------------------------------------------------------------------------------

def test_a_person_takes_an_iana_timezone_and_utc_by_default():
    assert person().timezone == "UTC"
    assert person(timezone="Europe/Paris").timezone == "Europe/Paris"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "CEST", "../etc/passwd", "", "Europe/"])
def test_a_timezone_that_is_no_iana_name_is_refused(zone):
    with pytest.raises(InvalidValue, match="timezone"):
        person(timezone=zone)


def test_a_changed_timezone_is_checked_too():
    ada = person()
    with pytest.raises(InvalidValue, match="timezone"):
        ada.update({"timezone": "Nowhere/Land"}, T0)


# -- working hours ----------------------------------------------------------------------------------------------

def test_working_hours_are_read_from_their_json_form_and_written_back():
    hours = WorkingHours.of({"days": [5, 1, 2, 2], "start": "09:00", "end": "17:30"})
    assert hours == WorkingHours(days=(1, 2, 5), start=time(9), end=time(17, 30))
    assert hours.as_json() == {"days": [1, 2, 5], "start": "09:00", "end": "17:30"}
    assert person(working_hours=hours.as_json()).working_hours == hours


@pytest.mark.parametrize("hours, why", [
    ({"days": [1], "start": "09:00", "end": "09:00"}, "must differ"),
    ({"days": [], "start": "09:00", "end": "17:00"}, "days"),
    ({"days": [0], "start": "09:00", "end": "17:00"}, "days"),
    ({"days": [8], "start": "09:00", "end": "17:00"}, "days"),
    ({"days": [True], "start": "09:00", "end": "17:00"}, "days"),
    ({"days": [1], "start": "9:00", "end": "17:00"}, "start"),
    ({"days": [1], "start": "09:00", "end": "24:00"}, "end"),
    ({"days": [1], "start": "09:00"}, "working hours are"),
    ({"days": [1], "start": "09:00", "end": "17:00", "tz": "UTC"}, "working hours are"),
])
def test_working_hours_that_break_a_rule_are_refused(hours, why):
    with pytest.raises(InvalidValue, match=why):
        person(working_hours=hours)


def test_working_hours_are_read_in_the_persons_timezone():
    ada = person(timezone="America/New_York", working_hours={"days": [2], "start": "09:00", "end": "17:00"})
    assert not ada.is_at_work(datetime(2026, 12, 1, 13, 0, tzinfo=UTC))  # 08:00 in New York
    assert ada.is_at_work(datetime(2026, 12, 1, 14, 0, tzinfo=UTC))  # 09:00
    assert not ada.is_at_work(datetime(2026, 12, 1, 22, 0, tzinfo=UTC))  # 17:00: the end is not in


def test_an_end_before_the_start_runs_overnight_into_the_next_day():
    night = WorkingHours.of({"days": [5], "start": "22:00", "end": "06:00"})  # Friday night
    assert night.covers(datetime(2026, 12, 4, 23, 0, tzinfo=UTC), "UTC")  # Friday 23:00
    assert night.covers(datetime(2026, 12, 5, 5, 59, tzinfo=UTC), "UTC")  # Saturday 05:59
    assert not night.covers(datetime(2026, 12, 5, 6, 0, tzinfo=UTC), "UTC")  # Saturday 06:00
    assert not night.covers(datetime(2026, 12, 5, 23, 0, tzinfo=UTC), "UTC")  # Saturday night: not a working day
    assert not night.covers(datetime(2026, 12, 4, 5, 0, tzinfo=UTC), "UTC")  # Friday's small hours: Thursday's
    sunday_night = WorkingHours.of({"days": [7], "start": "22:00", "end": "06:00"})
    assert sunday_night.covers(datetime(2026, 12, 7, 1, 0, tzinfo=UTC), "UTC")  # Monday 01:00: Sunday's night


def test_without_working_hours_a_person_is_always_reachable():
    assert person().is_at_work(datetime(2026, 12, 6, 3, 0, tzinfo=UTC))


# -- e-mail addresses, names, usernames -------------------------------------------------------------------------

def test_an_email_is_trimmed_and_a_blank_one_is_none():
    assert person(email="  ada@example.org ").email == "ada@example.org"
    assert person(email="  ").email is None


@pytest.mark.parametrize("email", ["ada", "ada@", "@example.org", "ada@example", "ada@@example.org",
                                   "ada@example.org, bob@example.org", "Ada <ada@example.org>", "ada@ex ample.org",
                                   "ada@example.org\r\nBcc: eve@example.org", "a" * 65 + "@example.org"])
def test_what_is_not_one_email_address_is_refused(email):
    with pytest.raises(InvalidValue, match="e-mail"):
        person(email=email)
    with pytest.raises(InvalidValue, match="e-mail"):
        Group.create(id="g1", name="Network", email=email, at=T0)
    with pytest.raises(InvalidValue, match="e-mail"):
        person().update({"email": email}, T0)


@pytest.mark.parametrize("username", ["", "  ", "ada/../bob", "ada?x=1", "ada bob", "-ada", "a" * 101])
def test_a_username_unsafe_in_a_path_is_refused(username):
    with pytest.raises(InvalidValue, match="username"):
        person(username=username)


def test_an_email_like_username_is_fine():
    assert person(username="ada.l+ops@example.org").username == "ada.l+ops@example.org"


def test_a_patch_may_not_empty_a_required_field_and_changes_nothing_when_nothing_changes():
    ada = person()
    with pytest.raises(InvalidValue, match="cannot be emptied"):
        ada.update({"name": None}, T0)
    ada.update({"name": "Ada L"}, T0)
    assert ada.version == 1
    ada.update({"chat_handle": "@ada"}, T0)
    assert (ada.chat_handle, ada.version) == ("@ada", 2)
    with pytest.raises(InvalidValue, match="cannot be changed"):
        ada.update({"scim_id": "x"}, T0)


def test_a_group_needs_a_name():
    with pytest.raises(InvalidValue, match="name"):
        Group.create(id="g1", name="  ", at=T0)


# -- members lists -----------------------------------------------------------------------------------------------

def test_a_members_list_names_people_by_id_or_username_and_repeats_count_once():
    known = {"p1": "p1", "ada": "p1", "p2": "p2", "bob": "p2"}
    assert member_list(["ada", "p2", "p1", "bob"], known) == ["p1", "p2"]


def test_a_members_list_naming_nobody_is_refused_by_name():
    with pytest.raises(InvalidValue, match="no such person: eve, mallory") as refused:
        member_list(["ada", "eve", "mallory"], {"ada": "p1"})
    assert refused.value.details["unknown"] == ["eve", "mallory"]


def test_a_group_has_at_most_a_thousand_members():
    known = {f"u{n}": f"p{n}" for n in range(MAX_MEMBERS + 1)}
    assert len(member_list(list(known)[:MAX_MEMBERS], known)) == MAX_MEMBERS
    with pytest.raises(InvalidValue, match="at most 1000"):
        member_list(list(known), known)


# -- SCIM resources ----------------------------------------------------------------------------------------------

def test_a_scim_user_maps_to_a_person():
    user = user_of({"id": "u-1", "userName": "ada", "name": {"formatted": "Ada Lovelace"},
                    "emails": [{"value": "ada@home.example"}, {"value": "ada@work.example", "primary": True}],
                    "active": False, "timezone": "Europe/London"})
    assert (user.scim_id, user.username, user.name, user.email, user.active, user.timezone) == (
        "u-1", "ada", "Ada Lovelace", "ada@work.example", False, "Europe/London")


def test_a_scim_user_prefers_its_display_name_takes_the_first_email_and_utc():
    user = user_of({"id": "u-1", "userName": "ada", "displayName": "Ada", "name": {"formatted": "Ada Lovelace"},
                    "emails": [{"value": "ada@home.example"}, {"value": "ada@work.example"}]})
    assert (user.name, user.email, user.active, user.timezone) == ("Ada", "ada@home.example", True, "UTC")
    assert user_of({"id": "u-2", "userName": "bob"}).name == "bob"


def test_a_scim_user_without_id_or_username_is_left_out():
    assert user_of({"userName": "ada"}) is None
    assert user_of({"id": "u-1", "userName": " "}) is None


def test_a_scim_group_maps_members_by_user_id():
    group = group_of({"id": "g-1", "displayName": "Network", "members": [{"value": "u-1"}, {"value": "u-2"},
                                                                        {"value": "u-1"}, {"display": "x"}]})
    assert (group.scim_id, group.name, group.member_ids) == ("g-1", "Network", ("u-1", "u-2"))


# -- manager and location; the directory's events (issue 17) ----------------------------------------------------

def test_a_person_keeps_a_manager_by_username_and_a_location_trimmed():
    ada = person(manager=" grace ", location="  Berlin ")
    assert (ada.manager, ada.location) == ("grace", "Berlin")
    ada.update({"manager": None, "location": ""}, T0)
    assert (ada.manager, ada.location) == (None, None)


@pytest.mark.parametrize(("fields", "why"), [
    ({"manager": "a/b"}, "manager"), ({"manager": "ada"}, "own manager"), ({"location": "x" * 201}, "location")])
def test_a_manager_or_location_that_breaks_a_rule_is_refused(fields, why):
    with pytest.raises(InvalidValue, match=why):
        person(**fields)


def test_every_write_of_a_person_raises_the_person_as_it_now_is_with_its_version():
    ada = person(manager="grace", location="Berlin")
    [(sequence, saved)] = ada.events
    assert sequence == 1 and saved.type == "itsm.person.saved"
    assert (saved.username, saved.manager, saved.location, saved.active) == ("ada", "grace", "Berlin", True)
    ada.events.clear()
    ada.update({"location": "Berlin"}, T0)
    assert ada.events == []  # nothing changed: no version, no event
    ada.update({"active": False}, T0)
    [(sequence, saved)] = ada.events
    assert sequence == 2 and saved.active is False
    ada.removed(T0)
    assert [(s, e.type) for s, e in ada.events[1:]] == [(3, "itsm.person.removed")]


def test_a_group_raises_itself_with_its_members_usernames():
    team = Group.create(id="g1", name="NetOps", at=T0)
    team.members_changed(T0)
    team.saved(["bob", "ada", "bob"], T0)
    [(sequence, saved)] = team.events
    assert sequence == 2 and saved.type == "itsm.group.saved" and saved.members == ["ada", "bob"]
    team.removed(T0)
    assert (team.events[-1][0], team.events[-1][1].type) == (3, "itsm.group.removed")


def test_a_scim_user_takes_the_enterprise_managers_id_and_the_primary_addresss_locality():
    user = user_of({
        "id": "u2", "userName": "bob",
        "addresses": [{"locality": "Paris"}, {"locality": " Berlin ", "primary": True}, {"country": "DE"}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "u1",
                                                                                    "displayName": "Ada"}},
    })
    assert (user.manager_id, user.location) == ("u1", "Berlin")
    plain = user_of({"id": "u3", "userName": "cy", "addresses": [{"locality": "Paris"}]})
    assert (plain.manager_id, plain.location) == (None, "Paris")
