"""A catalogue item's form: a JSON Schema (Draft 2020-12) frontends render, and the check of a requester's answers.

Admins write forms, requesters fill them in; so a form is checked when it is written (`check_form`), before any
answer runs against it: an object schema, valid per the metaschema, bounded in size and nesting, every `$ref` local
and resolvable, no `$ref` loop that never descends into a field (it would recurse forever), and no blow-up of
schemas applied in place (allOf/anyOf/... through refs). Patterns are admin-written and run against requester
input, so they run in RE2, whose time is linear in the input (Python's `re` backtracks: `(a+)+$` against a few
dozen "a"s would hold the worker for minutes); a pattern RE2 cannot compile is refused when the form is written.

`answer_errors` lists EVERY problem with the answers at once, each naming its field (a dotted path such as
"ram_gb" or "accessories.0"; "" is the answers as a whole), in words a requester reads.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import re2
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.validators import extend

from itsm_kit.domain import InvalidValue

DEFAULT_MAX_FORM_BYTES = 65_536
DEFAULT_MAX_ANSWERS_BYTES = 65_536
MAX_DEPTH = 32  # JSON nesting of a form (about 15 nested objects of fields) and of answers
MAX_IN_PLACE = 256  # schemas applied to one value (allOf/anyOf/oneOf/not/if/then/else/$ref, unfolded)
MAX_PATTERN = 1000

# Keywords whose value is a schema, a list of schemas, or a map of names to schemas (what `_subschemas` walks).
_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames",
        "unevaluatedItems", "unevaluatedProperties")
_LIST = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAP = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
# Applied to the same value (no descent into a field): a loop through these never ends.
_IN_PLACE_ONE = ("not", "if", "then", "else")
_IN_PLACE_LIST = ("allOf", "anyOf", "oneOf")

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is the admin's 422, not a line on stderr
_RE2_OPTIONS.never_capture = True  # forms only ask whether a value matches


@dataclass(frozen=True)
class FieldError:
    field: str  # dotted path of the field ("ram_gb", "accessories.0"); "" for the answers as a whole
    message: str


@functools.lru_cache(maxsize=4096)
def _regex(pattern: str) -> re2._Regexp:
    """Compiled once per pattern; re2.error when RE2 refuses it."""
    return re2.compile(pattern, _RE2_OPTIONS)


def _search(pattern: str, text: str) -> bool:
    return _regex(pattern).search(text) is not None


# --- The validator: Draft 2020-12 with every regular expression run by RE2.
def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator, pattern_properties, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _extras(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Names neither `properties` nor `patternProperties` (in RE2) account for."""
    properties, patterns = schema.get("properties", {}), list(schema.get("patternProperties", {}))
    return sorted(name for name in instance
                  if name not in properties and not any(_search(pattern, name) for pattern in patterns))


def _additional_properties(validator, additional, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    extras = _extras(instance, schema)
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        yield ValidationError(f"additional properties are not allowed ({', '.join(extras)})")


_Validator = extend(Draft202012Validator, validators={
    "pattern": _pattern, "patternProperties": _pattern_properties, "additionalProperties": _additional_properties,
})
# Formats a form may ask for; "regex" is left out (it would compile requester text with Python's `re`).
_FORMATS = FormatChecker(formats=[name for name in Draft202012Validator.FORMAT_CHECKER.checkers if name != "regex"])


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    """RFC 3339: a date, a time and an offset (jsonschema checks it only with a library we do without)."""
    if not isinstance(value, str):
        return True
    if len(value) < 20 or value[10] not in "Tt " or value[-1] not in "Zz0123456789":
        return False
    return datetime.fromisoformat(value[:-1] + "+00:00" if value[-1] in "Zz" else value).tzinfo is not None


# The formats JSON Schema names: one a form uses must be one checked here (a form says what is checked); a format
# it does not name (e.g. "textarea") is a hint for the frontend only.
STANDARD_FORMATS = frozenset({
    "date-time", "date", "time", "duration", "email", "idn-email", "hostname", "idn-hostname", "ipv4", "ipv6", "uri",
    "uri-reference", "iri", "iri-reference", "uuid", "uri-template", "json-pointer", "relative-json-pointer",
    "regex"})
CHECKED_FORMATS = frozenset(_FORMATS.checkers)


# --- The form's check.
def _depth(value: Any) -> int:
    """JSON nesting depth, without recursion (the value may be deep enough to exhaust Python's stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping | list):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                return depth
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, Mapping) else node))
    return deepest


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _subschemas(schema: Any, pointer: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every schema object of a form with its JSON pointer ("" the form itself); bool schemas have nothing inside."""
    if not isinstance(schema, Mapping):
        return
    yield pointer, schema
    for keyword in _ONE:
        if keyword in schema:
            yield from _subschemas(schema[keyword], f"{pointer}/{keyword}")
    for keyword in _LIST:
        for index, each in enumerate(schema.get(keyword) or ()):
            yield from _subschemas(each, f"{pointer}/{keyword}/{index}")
    for keyword in _MAP:
        for name, each in (schema.get(keyword) or {}).items():
            yield from _subschemas(each, f"{pointer}/{keyword}/{_escape(name)}")


def _target(ref: str) -> str | None:
    """The JSON pointer a local `$ref` names ("#" or "#/..."); None when it is not local."""
    if ref == "#":
        return ""
    if ref.startswith("#/"):
        return unquote(ref[1:])
    return None


def _in_place(schema: Mapping[str, Any], pointer: str) -> list[str]:
    """Pointers of the schemas applied to the same value as this one."""
    found = [pointer + f"/{keyword}" for keyword in _IN_PLACE_ONE if isinstance(schema.get(keyword), Mapping)]
    for keyword in _IN_PLACE_LIST:
        found += [f"{pointer}/{keyword}/{index}" for index, each in enumerate(schema.get(keyword) or ())
                  if isinstance(each, Mapping)]
    found += [f"{pointer}/dependentSchemas/{_escape(name)}"
              for name, each in (schema.get("dependentSchemas") or {}).items() if isinstance(each, Mapping)]
    if isinstance(schema.get("$ref"), str):
        found.append(_target(schema["$ref"]))
    return found


def _check_references(schemas: Mapping[str, Mapping[str, Any]]) -> None:
    for pointer, schema in schemas.items():
        if "$dynamicRef" in schema or "$recursiveRef" in schema:
            raise InvalidValue(f"form {pointer or '/'}: $dynamicRef is not supported; use a local $ref")
        if pointer and "$id" in schema:
            raise InvalidValue(f"form {pointer}: only the form itself may have an $id")
        ref = schema.get("$ref")
        if ref is None:
            continue
        target = _target(ref)
        if target is None:
            raise InvalidValue(f"form {pointer or '/'}: $ref {ref!r} is not local; a form may only refer to its own "
                               "parts (\"#/$defs/...\")")
        if target not in schemas:
            raise InvalidValue(f"form {pointer or '/'}: $ref {ref!r} names no schema of this form")
    # Unfold what applies in place, from every schema: a loop never ends, a wide fan-out multiplies the work.
    applied: dict[str, int] = {}
    visiting: set[str] = set()

    def unfold(pointer: str) -> int:
        if pointer in applied:
            return applied[pointer]
        if pointer in visiting:
            raise InvalidValue(f"form {pointer or '/'}: a $ref loops back to itself without descending into a field")
        visiting.add(pointer)
        total = 1
        for child in _in_place(schemas[pointer], pointer):
            total += unfold(child) if child in schemas else 1
            if total > MAX_IN_PLACE:
                raise InvalidValue(f"form {pointer or '/'}: more than {MAX_IN_PLACE} schemas apply to one field "
                                   "(allOf/anyOf/oneOf/$ref unfolded)")
        visiting.discard(pointer)
        applied[pointer] = total
        return total

    for pointer in schemas:
        unfold(pointer)


def _check_patterns(schemas: Mapping[str, Mapping[str, Any]]) -> None:
    for pointer, schema in schemas.items():
        patterns = [("pattern", schema["pattern"])] if isinstance(schema.get("pattern"), str) else []
        patterns += [("patternProperties", each) for each in (schema.get("patternProperties") or {})]
        for keyword, pattern in patterns:
            if len(pattern) > MAX_PATTERN:
                raise InvalidValue(f"form {pointer or '/'}: a pattern ({keyword}) has at most {MAX_PATTERN} characters")
            try:
                _regex(pattern)
            except re2.error as error:
                reason = error.args[0].decode(errors="replace") if error.args and isinstance(error.args[0], bytes) \
                    else str(error)
                raise InvalidValue(f"form {pointer or '/'}: {keyword} {pattern!r} is not a regular expression RE2 "
                                   f"accepts (no look-around or back-references): {reason}") from None
    for pointer, schema in schemas.items():
        wanted = schema.get("format")
        if isinstance(wanted, str) and wanted in STANDARD_FORMATS and wanted not in CHECKED_FORMATS:
            raise InvalidValue(f"form {pointer or '/'}: format {wanted!r} is not checked here; use one of "
                               f"{', '.join(sorted(CHECKED_FORMATS))} (or a pattern)")
    uses = {keyword for schema in schemas.values() for keyword in ("patternProperties", "unevaluatedProperties")
            if keyword in schema}
    if len(uses) == 2:
        # jsonschema would match the patternProperties for unevaluatedProperties with Python's re.
        raise InvalidValue("a form uses patternProperties or unevaluatedProperties, not both")


def check_form(form: Mapping[str, Any], *, max_bytes: int = DEFAULT_MAX_FORM_BYTES) -> None:
    """Refuse (InvalidValue, saying why) a form that is not a usable JSON Schema for an order form."""
    if not isinstance(form, Mapping):
        raise InvalidValue("a form is a JSON Schema object")
    size = len(json.dumps(form, separators=(",", ":"), ensure_ascii=False).encode())
    if size > max_bytes:
        raise InvalidValue(f"a form has at most {max_bytes} bytes, not {size}")
    if _depth(form) > MAX_DEPTH:
        raise InvalidValue(f"a form nests at most {MAX_DEPTH} levels deep")
    if form.get("type") != "object":
        raise InvalidValue('a form is an object schema: {"type": "object", "properties": {...}}')
    try:
        # Without the metaschema's "regex" format, which would compile the admin's patterns with Python's re (an
        # OverflowError on a{99999999999}); RE2 checks them below.
        Draft202012Validator.check_schema(form, format_checker=_FORMATS)
    except SchemaError as error:
        where = "/".join(str(part) for part in error.absolute_path)
        raise InvalidValue(f"the form is not a valid JSON Schema (Draft 2020-12) at /{where}: {error.message}") \
            from None
    schemas = dict(_subschemas(form))
    _check_references(schemas)
    _check_patterns(schemas)


# --- The answers' check.
_TYPE_WORDS = {"string": "text", "integer": "a whole number", "number": "a number", "boolean": "true or false",
               "object": "a group of fields", "array": "a list", "null": "empty"}
_FORMAT_WORDS = {"date": "a date (YYYY-MM-DD)", "date-time": "a date and time with its offset (2026-12-24T09:00:00Z)",
                 "email": "an e-mail address", "idn-email": "an e-mail address", "uuid": "a UUID",
                 "ipv4": "an IPv4 address", "ipv6": "an IPv6 address", "idn-hostname": "a host name"}


def _words(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value


def _message(error: ValidationError) -> str:
    """What a requester reads about one error (the field is named beside it)."""
    kind, value = error.validator, error.validator_value
    if kind == "type":
        kinds = [value] if isinstance(value, str) else list(value)
        return "must be " + " or ".join(_TYPE_WORDS.get(each, each) for each in kinds)
    if kind == "enum":
        return "must be one of: " + ", ".join(_words(each) for each in value)
    if kind == "const":
        return f"must be {_words(value)}"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        words = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
                 "exclusiveMaximum": "less than"}[kind]
        return f"must be {words} {value}"
    if kind == "multipleOf":
        return f"must be a multiple of {value}"
    if kind in ("minLength", "maxLength"):
        return f"must have {'at least' if kind == 'minLength' else 'at most'} {value} characters"
    if kind in ("minItems", "maxItems"):
        return f"must have {'at least' if kind == 'minItems' else 'at most'} {value} entries"
    if kind == "uniqueItems":
        return "must not repeat an entry"
    if kind == "pattern":
        return "is not in the expected form"
    if kind == "format":
        return f"must be {_FORMAT_WORDS.get(value, value)}"
    if kind in ("anyOf", "oneOf"):
        return "does not match any of the allowed choices" if kind == "anyOf" else \
            "must match exactly one of the allowed choices"
    if kind in ("not", "false"):
        return "is not allowed"
    return error.message


def _field(path: Any, name: str | None = None) -> str:
    return ".".join(str(part) for part in [*path, *([name] if name is not None else [])])


def _field_errors(error: ValidationError) -> Iterator[FieldError]:
    """The requester's words for one validation error, naming the field (or fields) it is about."""
    instance, kind = error.instance, error.validator
    if kind == "required" and isinstance(instance, Mapping):
        for name in error.validator_value:
            if name not in instance:
                yield FieldError(_field(error.absolute_path, name), "is required")
    elif kind == "dependentRequired" and isinstance(instance, Mapping):
        for name, needed in error.validator_value.items():
            for each in needed if name in instance else ():
                if each not in instance:
                    yield FieldError(_field(error.absolute_path, each), f"is required when {name} is given")
    elif kind == "additionalProperties" and isinstance(instance, Mapping):
        for name in _extras(instance, error.schema):
            yield FieldError(_field(error.absolute_path, name), "is not a field of this form")
    elif kind == "unevaluatedProperties" and isinstance(instance, Mapping) and error.validator_value is False:
        names = [name for name in instance if repr(name) in error.message]
        for name in names or [None]:
            yield FieldError(_field(error.absolute_path, name), "is not a field of this form")
    elif "propertyNames" in error.absolute_schema_path:
        # jsonschema reports a bad field name at the object holding it; name the field itself.
        yield FieldError(_field(error.absolute_path, str(instance)), "is not an allowed field name")
    else:
        yield FieldError(_field(error.absolute_path), _message(error))


def _without_false(schema: Any) -> Any:
    """The form with each `false` subschema written {"not": {}}: jsonschema reports a false subschema's error
    without the field's path, and "not" with it."""
    if schema is False:
        return {"not": {}}
    if not isinstance(schema, Mapping):
        return schema
    plain = dict(schema)
    for keyword in _ONE:
        # additionalProperties / unevaluatedProperties: false is their own error, naming the extra fields.
        if keyword in plain and not (keyword.endswith("Properties") and plain[keyword] is False):
            plain[keyword] = _without_false(plain[keyword])
    for keyword in _LIST:
        if isinstance(plain.get(keyword), list):
            plain[keyword] = [_without_false(each) for each in plain[keyword]]
    for keyword in _MAP:
        if isinstance(plain.get(keyword), Mapping):
            plain[keyword] = {name: _without_false(each) for name, each in plain[keyword].items()}
    return plain


def answer_errors(form: Mapping[str, Any], answers: Mapping[str, Any], *,
                  max_bytes: int = DEFAULT_MAX_ANSWERS_BYTES) -> list[FieldError]:
    """Every problem with the answers (a checked form's), each naming its field; [] when they are valid."""
    size = len(json.dumps(answers, separators=(",", ":"), ensure_ascii=False, default=str).encode())
    if size > max_bytes:
        return [FieldError("", f"answers have at most {max_bytes} bytes, not {size}")]
    if _depth(answers) > MAX_DEPTH:
        return [FieldError("", f"answers nest at most {MAX_DEPTH} levels deep")]
    validator = _Validator(_without_false(form), format_checker=_FORMATS)
    found: dict[FieldError, None] = {}  # in order, once each (required and dependentRequired repeat per name)
    for error in sorted(validator.iter_errors(answers), key=lambda e: [str(p) for p in e.absolute_path]):
        for each in _field_errors(error):
            found.setdefault(each, None)
    return list(found)
