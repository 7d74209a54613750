"""Catalogue forms (no I/O): what check_form refuses when an admin writes a form, and how answer_errors names every
bad field of a requester's answers."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from itsm_kit.domain import InvalidValue
from itsm_requests.domain.forms import MAX_DEPTH, MAX_IN_PLACE, FieldError, answer_errors, check_form

LAPTOP = {
    "type": "object",
    "properties": {
        "model": {"type": "string", "enum": ["standard", "developer"]},
        "ram_gb": {"type": "integer", "minimum": 8, "maximum": 64},
        "justification": {"type": "string", "minLength": 10},
        "needed_by": {"type": "string", "format": "date"},
        "contact": {"type": "string", "format": "email"},
        "asset_tag": {"type": "string", "pattern": "^AT-[0-9]{6}$"},
        "accessories": {"type": "array", "items": {"type": "string", "enum": ["mouse", "dock", "bag"]}},
        "monitor": {"type": "boolean"},
        "monitor_size": {"type": "integer", "enum": [24, 27, 32]},
    },
    "required": ["model", "ram_gb"],
    "additionalProperties": False,
    # A developer laptop needs a justification; a monitor needs its size.
    "if": {"properties": {"model": {"const": "developer"}}, "required": ["model"]},
    "then": {"required": ["justification"]},
    "dependentRequired": {"monitor": ["monitor_size"]},
}


def refused(form, **kwargs) -> str:
    with pytest.raises(InvalidValue) as caught:
        check_form(form, **kwargs)
    return str(caught.value)


def fields(errors: list[FieldError]) -> dict[str, str]:
    return {e.field: e.message for e in errors}


# --- check_form ---------------------------------------------------------------------------------------------------

def test_a_usable_form_is_accepted():
    check_form(LAPTOP)
    check_form({"type": "object", "properties": {"a": {"$ref": "#/$defs/name"}}, "$defs": {"name": {"type": "string"}}})


@pytest.mark.parametrize("form", [{"type": "array"}, {"properties": {"a": {"type": "string"}}}, {"type": "string"}])
def test_a_form_is_an_object_schema_at_the_top(form):
    assert "object schema" in refused(form)


def test_a_form_that_is_not_a_mapping_is_refused():
    assert "JSON Schema object" in refused(["type", "object"])


def test_a_form_invalid_per_the_metaschema_is_refused_saying_where():
    message = refused({"type": "object", "properties": {"ram_gb": {"type": "int", "minimum": "eight"}}})
    assert "not a valid JSON Schema" in message and "/properties/ram_gb" in message


def test_a_form_bigger_than_the_bound_is_refused():
    form = {"type": "object", "properties": {f"field_{n}": {"type": "string", "description": "x" * 200}
                                             for n in range(20)}}
    size = len(json.dumps(form, separators=(",", ":")))
    check_form(form, max_bytes=size + 10)
    assert "at most" in refused(form, max_bytes=size - 10)


@pytest.mark.parametrize("ref", ["https://example.org/schema.json", "other.json#/a", "file:///etc/passwd",
                                 "#anchor"])
def test_a_ref_other_than_local_is_refused(ref):
    form = {"type": "object", "properties": {"a": {"$ref": ref}}}
    assert "not local" in refused(form)


def test_a_local_ref_to_nothing_is_refused():
    assert "names no schema" in refused({"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}})


def test_a_ref_loop_that_never_descends_is_refused_and_one_through_a_field_is_not():
    looping = {"type": "object", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"allOf": [{"$ref": "#/$defs/a"}]}},
               "properties": {"x": {"$ref": "#/$defs/a"}}}
    assert "loops back" in refused(looping)
    tree = {"type": "object", "properties": {"name": {"type": "string"}, "children": {"type": "array",
                                                                                     "items": {"$ref": "#"}}}}
    check_form(tree)
    assert answer_errors(tree, {"name": "a", "children": [{"name": "b", "children": [{"name": 3}]}]}) == [
        FieldError("children.0.children.0.name", "must be text")]


def test_a_form_whose_in_place_schemas_multiply_is_refused():
    # Each level applies the one below twice: 2**12 schemas on one value.
    defs = {"l0": {"type": "string"}}
    defs.update({f"l{n}": {"allOf": [{"$ref": f"#/$defs/l{n - 1}"}, {"$ref": f"#/$defs/l{n - 1}"}]}
                 for n in range(1, 13)})
    form = {"type": "object", "$defs": defs, "properties": {"x": {"$ref": "#/$defs/l12"}}}
    assert f"more than {MAX_IN_PLACE}" in refused(form)


def test_a_form_nested_too_deep_is_refused():
    inner: dict = {"type": "string"}
    for _ in range(MAX_DEPTH):
        inner = {"type": "object", "properties": {"a": inner}}
    assert "levels deep" in refused(inner)


@pytest.mark.parametrize("pattern", [r"^(?=.*\d).+$", r"^(a)\1$", r"(?<!x)y"])
def test_a_pattern_re2_cannot_compile_is_refused(pattern):
    assert "RE2" in refused({"type": "object", "properties": {"a": {"type": "string", "pattern": pattern}}})
    assert "RE2" in refused({"type": "object", "patternProperties": {pattern: {"type": "string"}}})


def test_a_pattern_python_could_not_compile_is_re2s_to_judge():
    """The metaschema's "regex" format would compile patterns with Python's re (OverflowError: a 500)."""
    for pattern in ("a{99999999999}", "a{1001}"):
        try:
            check_form({"type": "object", "properties": {"a": {"type": "string", "pattern": pattern}}})
        except InvalidValue as refusal:
            assert "RE2" in str(refusal)
    form = {"type": "object", "properties": {"a": {"type": "string", "pattern": r"^\p{Greek}+$"}}}
    check_form(form)  # RE2 syntax Python's re lacks
    assert answer_errors(form, {"a": "αβγ"}) == [] and fields(answer_errors(form, {"a": "abc"})) == {
        "a": "is not in the expected form"}


def test_a_text_field_called_pattern_is_a_field_not_a_pattern():
    check_form({"type": "object", "properties": {"pattern": {"type": "string", "default": "(?=x)"}}})


def _within(seconds: float, work):
    """What `work()` returns, run in a child process killed after `seconds`: Python's re holds the GIL while it
    backtracks, so a thread could not be abandoned. None when it did not finish."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=lambda: queue.put(work()), daemon=True)
    child.start()
    child.join(seconds)
    if child.is_alive():
        child.kill()
        child.join()
        return None
    return queue.get(timeout=5)


def test_a_catastrophic_pattern_runs_in_linear_time():
    """(a+)+$ against "aaaa...!" backtracks for ages in Python's re; RE2 answers at once."""
    form = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}},
            "patternProperties": {"^(x+)+$": {"type": "integer"}}}
    check_form(form)
    errors = _within(20, lambda: answer_errors(form, {"code": "a" * 60 + "!", "x" * 60 + "!": "no"}))
    assert errors is not None, "the pattern did not run in linear time"
    assert fields(errors) == {"code": "is not in the expected form"}


def test_patterns_run_in_re2():
    """RE2's `$` is the end of the text; Python's re also matches it before a final newline."""
    form = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}}}
    assert fields(answer_errors(form, {"code": "ABC\n"})) == {"code": "is not in the expected form"}
    assert answer_errors(form, {"code": "ABC"}) == []


def test_additional_properties_are_matched_against_pattern_properties_in_re2():
    form = {"type": "object", "patternProperties": {"^(x+)+$": {"type": "integer"}}, "additionalProperties": False}
    errors = _within(20, lambda: answer_errors(form, {"x" * 60 + "!": 1, "xx": "a"}))
    assert errors is not None, "additionalProperties ran the admin's pattern in a backtracking engine"
    assert fields(errors) == {"x" * 60 + "!": "is not a field of this form", "xx": "must be a whole number"}


def test_pattern_properties_and_unevaluated_properties_do_not_combine():
    form = {"type": "object", "patternProperties": {"^a": {}}, "unevaluatedProperties": False}
    assert "not both" in refused(form)


# --- answer_errors ------------------------------------------------------------------------------------------------

def test_valid_answers_have_no_errors():
    assert answer_errors(LAPTOP, {"model": "standard", "ram_gb": 16, "needed_by": "2026-12-24",
                                  "contact": "ada@example.org", "asset_tag": "AT-123456",
                                  "accessories": ["mouse", "dock"], "monitor": True, "monitor_size": 27}) == []


def test_every_bad_field_is_named_at_once():
    errors = fields(answer_errors(LAPTOP, {"model": "gaming", "ram_gb": 128, "needed_by": "24/12/2026",
                                           "contact": "not an address", "asset_tag": "AT-12",
                                           "accessories": ["mouse", "cupholder"], "colour": "red"}))
    assert errors == {
        "model": "must be one of: standard, developer",
        "ram_gb": "must be at most 64",
        "needed_by": "must be a date (YYYY-MM-DD)",
        "contact": "must be an e-mail address",
        "asset_tag": "is not in the expected form",
        "accessories.1": "must be one of: mouse, dock, bag",
        "colour": "is not a field of this form",
    }


def test_missing_required_fields_are_named_each():
    assert answer_errors(LAPTOP, {}) == [FieldError("model", "is required"), FieldError("ram_gb", "is required")]


def test_types_are_said_in_words():
    errors = fields(answer_errors(LAPTOP, {"model": "standard", "ram_gb": "16", "monitor": "yes", "accessories": "x"}))
    assert errors == {"ram_gb": "must be a whole number", "monitor": "must be true or false",
                      "accessories": "must be a list", "monitor_size": "is required when monitor is given"}
    assert answer_errors(LAPTOP, ["not", "an", "object"]) == [FieldError("", "must be a group of fields")]


def test_conditional_fields_if_then():
    assert fields(answer_errors(LAPTOP, {"model": "developer", "ram_gb": 32})) == {"justification": "is required"}
    assert answer_errors(LAPTOP, {"model": "developer", "ram_gb": 32, "justification": "builds a large monorepo"}) == []
    assert answer_errors(LAPTOP, {"model": "standard", "ram_gb": 32}) == []


def test_conditional_fields_if_then_else_and_dependent_required():
    form = {"type": "object", "properties": {"kind": {"enum": ["vm", "container"]}, "cpus": {"type": "integer"},
                                             "image": {"type": "string"}, "ha": {"type": "boolean"},
                                             "replicas": {"type": "integer", "minimum": 2}},
            "if": {"properties": {"kind": {"const": "vm"}}}, "then": {"required": ["cpus"]},
            "else": {"required": ["image"]}, "dependentRequired": {"ha": ["replicas"]}}
    check_form(form)
    assert fields(answer_errors(form, {"kind": "vm"})) == {"cpus": "is required"}
    assert fields(answer_errors(form, {"kind": "container", "ha": True})) == {
        "image": "is required", "replicas": "is required when ha is given"}
    assert fields(answer_errors(form, {"kind": "container", "image": "nginx", "ha": True, "replicas": 1})) == {
        "replicas": "must be at least 2"}


def test_nested_fields_are_named_by_their_dotted_path():
    form = {"type": "object", "properties": {"owner": {"type": "object", "required": ["email"],
                                                       "properties": {"email": {"type": "string", "format": "email"}}},
                                             "disks": {"type": "array", "items": {"type": "object", "properties": {
                                                 "size_gb": {"type": "integer", "maximum": 500}}}}}}
    check_form(form)
    assert fields(answer_errors(form, {"owner": {}, "disks": [{"size_gb": 10}, {"size_gb": 900}]})) == {
        "owner.email": "is required", "disks.1.size_gb": "must be at most 500"}


def test_unevaluated_and_badly_named_fields_are_named():
    form = {"type": "object", "properties": {"a": {}}, "allOf": [{"properties": {"b": {}}}],
            "unevaluatedProperties": False}
    check_form(form)
    assert fields(answer_errors(form, {"a": 1, "b": 2, "c": 3, "d": 4})) == {
        "c": "is not a field of this form", "d": "is not a field of this form"}
    named = {"type": "object", "propertyNames": {"pattern": "^[a-z_]+$"}}
    check_form(named)
    assert answer_errors(named, {"ok_name": 1, "Bad-Name": 2}) == [
        FieldError("Bad-Name", "is not an allowed field name")]


def test_date_times_are_checked_and_formats_not_checked_are_refused():
    form = {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"},
                                             "notes": {"type": "string", "format": "textarea"}}}
    check_form(form)  # "textarea" is no JSON Schema format: a hint for the frontend
    assert answer_errors(form, {"at": "2026-12-24T09:00:00Z", "notes": "x"}) == []
    assert answer_errors(form, {"at": "2026-12-24T09:00:00+01:00"}) == []
    for bad in ("2026-12-24", "2026-12-24T09:00:00", "2026-13-24T09:00:00Z", "soon"):
        assert fields(answer_errors(form, {"at": bad})) == {
            "at": "must be a date and time with its offset (2026-12-24T09:00:00Z)"}, bad
    message = refused({"type": "object", "properties": {"site": {"type": "string", "format": "uri"}}})
    assert "format 'uri' is not checked here" in message and "date-time" in message


def test_a_false_subschema_names_its_field():
    form = {"type": "object", "properties": {"legacy": False}}
    assert answer_errors(form, {"legacy": 1}) == [FieldError("legacy", "is not allowed")]


def test_answers_bigger_than_the_bound_are_refused():
    form = {"type": "object", "properties": {"note": {"type": "string"}}}
    assert answer_errors(form, {"note": "x" * 2000}, max_bytes=4096) == []
    [error] = answer_errors(form, {"note": "x" * 5000}, max_bytes=4096)
    assert error.field == "" and "at most 4096 bytes" in error.message


def test_answers_nested_too_deep_are_refused():
    tree = {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#"}}}}
    deep: dict = {}
    for _ in range(MAX_DEPTH):
        deep = {"children": [deep]}
    [error] = answer_errors(tree, deep)
    assert "levels deep" in error.message
