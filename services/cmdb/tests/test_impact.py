"""What a failure does upstream, redundancy included: failure_effects, with no database."""

from itsm_cmdb.domain import Effect, RelationshipType, failure_effects

CONTAINS, RUNS_ON, DEPENDS_ON = RelationshipType.CONTAINS, RelationshipType.RUNS_ON, RelationshipType.DEPENDS_ON
DOWN, DEGRADED = Effect.DOWN, Effect.DEGRADED

# A farm of three hosts that needs two up; an instance on the farm, an application on the
# instance, a service on the application; and an instance pinned to host h1.
FARM = [("farm", "h1", CONTAINS), ("farm", "h2", CONTAINS), ("farm", "h3", CONTAINS),
        ("inst", "farm", RUNS_ON), ("app", "inst", DEPENDS_ON), ("svc", "app", DEPENDS_ON),
        ("pinned", "h1", RUNS_ON), ("app2", "pinned", DEPENDS_ON)]


def needs_of(failed: str) -> list:
    """The relationships among what needs `failed` (as the walk upstream finds them)."""
    reached, found = {failed}, True
    while found:
        found = False
        for source, target, _ in FARM:
            if target in reached and source not in reached:
                reached.add(source)
                found = True
    return [r for r in FARM if r[0] in reached and r[1] in reached]


def test_redundancy_keeps_a_farm_and_what_runs_on_it_up_when_one_host_fails():
    effects = failure_effects("h1", needs_of("h1"), min_members_up={"farm": 2},
                              members_up={"farm": frozenset({"h1", "h2", "h3"})})
    assert effects == {"farm": DEGRADED, "inst": DEGRADED, "app": DEGRADED, "svc": DEGRADED,
                       "pinned": DOWN, "app2": DOWN}


def test_a_farm_already_short_of_a_member_goes_down_and_takes_everything_on_it():
    effects = failure_effects("h1", needs_of("h1"), min_members_up={"farm": 2},
                              members_up={"farm": frozenset({"h1", "h3"})})  # h2 is down already
    assert effects == {"farm": DOWN, "inst": DOWN, "app": DOWN, "svc": DOWN, "pinned": DOWN, "app2": DOWN}


def test_without_redundancy_every_dependant_goes_down():
    effects = failure_effects("h1", needs_of("h1"), min_members_up={}, members_up={})
    assert set(effects.values()) == {DOWN}


def test_redundancy_covers_members_only_not_the_other_needs_of_the_ci():
    needs = [("farm", "h1", CONTAINS), ("farm", "h2", CONTAINS), ("farm", "san", DEPENDS_ON)]
    assert failure_effects("san", [n for n in needs if n[1] == "san"], min_members_up={"farm": 1},
                           members_up={"farm": frozenset({"h1", "h2"})}) == {"farm": DOWN}


def test_members_lost_along_several_paths_add_up_and_cycles_end():
    # h1 fails; the rack contains h1 and h2 and needs both (at least 2 up): down. The farm
    # contains the rack and h3 and needs one: degraded. a and b need each other and the farm.
    needs = [("rack", "h1", CONTAINS), ("farm", "rack", CONTAINS), ("a", "farm", DEPENDS_ON),
             ("b", "a", DEPENDS_ON), ("a", "b", DEPENDS_ON)]
    effects = failure_effects("h1", needs, min_members_up={"rack": 2, "farm": 1},
                              members_up={"rack": frozenset({"h1", "h2"}), "farm": frozenset({"rack", "h3"})})
    assert effects == {"rack": DOWN, "farm": DEGRADED, "a": DEGRADED, "b": DEGRADED}
