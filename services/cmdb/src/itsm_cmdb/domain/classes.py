"""CI classes as data: each class's attributes (type, required, choices) and how a CI of
the class is identified. Pure: no I/O.

Identification follows ServiceNow's IRE: each class has identification rules tried in
order (a host by serial number, then by FQDN); a rule applies when the CI has every
attribute it names, and no two live CIs share a rule's values. Values are compared
ignoring case and surrounding blanks ("WEB-01.example.com" is "web-01.example.com").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from enum import StrEnum
from typing import Any

from itsm_kit.domain import InvalidValue, choice


class CiClass(StrEnum):
    BUSINESS_SERVICE = "business_service"  # what the business consumes, e.g. "Online checkout"
    APPLICATION = "application"
    SERVICE_INSTANCE = "service_instance"  # one running deployment of an application, e.g. checkout in prod-eu
    HOST = "host"  # a physical server or a VM
    CONTAINER_WORKLOAD = "container_workload"  # e.g. a Kubernetes deployment or stateful set
    DATABASE = "database"
    NETWORK_DEVICE = "network_device"
    CLUSTER = "cluster"


class Environment(StrEnum):
    PRODUCTION = "production"
    STAGING = "staging"
    TEST = "test"
    DEVELOPMENT = "development"
    DISASTER_RECOVERY = "disaster_recovery"


class AttrType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    IP_ADDRESS = "ip_address"
    CHOICE = "choice"


MAX_STRING = 1000


@dataclass(frozen=True)
class Attribute:
    name: str
    type: AttrType = AttrType.STRING
    required: bool = False
    choices: tuple[str, ...] = ()
    description: str = ""
    minimum: int | None = None  # numbers only

    def check(self, value: Any) -> Any:
        """The value as stored, or InvalidValue saying what is wrong with it."""
        wanted = self.type
        if wanted in (AttrType.STRING, AttrType.IP_ADDRESS, AttrType.CHOICE):
            if not isinstance(value, str):
                raise InvalidValue(f"attribute {self.name} is a {wanted}, not {type(value).__name__}")
            value = value.strip()
            if not value:
                raise InvalidValue(f"attribute {self.name} is empty (leave it out instead)")
            if len(value) > MAX_STRING:
                raise InvalidValue(f"attribute {self.name} is longer than {MAX_STRING} characters")
            if wanted is AttrType.IP_ADDRESS:
                try:
                    return str(ipaddress.ip_address(value))
                except ValueError:
                    raise InvalidValue(f"attribute {self.name} is not an IP address: {value!r}") from None
            if wanted is AttrType.CHOICE and value not in self.choices:
                raise InvalidValue(f"attribute {self.name} is one of {', '.join(self.choices)}, not {value!r}")
            return value
        if wanted is AttrType.BOOLEAN:
            if not isinstance(value, bool):
                raise InvalidValue(f"attribute {self.name} is a boolean, not {type(value).__name__}")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidValue(f"attribute {self.name} is a{'n' if wanted is AttrType.INTEGER else ''} {wanted}, "
                               f"not {type(value).__name__}")
        if wanted is AttrType.INTEGER:
            if isinstance(value, float) and not value.is_integer():
                raise InvalidValue(f"attribute {self.name} is an integer, not {value}")
            value = int(value)
        if self.minimum is not None and value < self.minimum:
            raise InvalidValue(f"attribute {self.name} is at least {self.minimum}, not {value}")
        return value


# The fields every CI has, beside its class's attributes. Reported, provenance-tracked and
# historised the same way as attributes, so no attribute may take one of these names.
CORE_FIELDS = ("name", "criticality", "operational_status", "owner_group", "environment")


@dataclass(frozen=True)
class ClassSchema:
    ci_class: CiClass
    label: str
    attributes: tuple[Attribute, ...]
    # Tried in order; each names core fields or attributes that together identify a CI.
    identified_by: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        names = {a.name for a in self.attributes}
        assert not names & set(CORE_FIELDS), f"{self.ci_class}: attribute names clash with core fields"
        for rule in self.identified_by:
            assert set(rule) <= names | {"name", "environment"}, f"{self.ci_class}: rule {rule} names unknown fields"

    @cached_property
    def by_name(self) -> Mapping[str, Attribute]:
        return {a.name: a for a in self.attributes}

    def check_attributes(self, attributes: Mapping[str, Any], *, complete: bool) -> dict[str, Any]:
        """Validated attributes (None values dropped); `complete` also requires the required ones."""
        known = self.by_name
        unknown = sorted(set(attributes) - set(known))
        if unknown:
            raise InvalidValue(f"a {self.ci_class} has no attribute {', '.join(unknown)}; "
                               f"its attributes are {', '.join(known) or 'none'}", unknown_attributes=unknown)
        checked = {name: known[name].check(value) for name, value in attributes.items() if value is not None}
        if complete:
            missing = [name for name in self.required if name not in checked]
            if missing:
                raise InvalidValue(f"a {self.ci_class} needs the attribute{'s' if len(missing) > 1 else ''} "
                                   f"{', '.join(missing)}", missing_attributes=missing)
        return checked

    def identity_keys(self, fields: Mapping[str, Any]) -> list[str]:
        """One key per identification rule the fields satisfy, in the rules' order."""
        keys = []
        for rule in self.identified_by:
            values = [fields.get(name) for name in rule]
            if all(v is not None for v in values):
                keys.append(f"{self.ci_class}/{'+'.join(rule)}=" + "|".join(str(v).strip().lower() for v in values))
        return keys

    def same(self, field_name: str, a: Any, b: Any) -> bool:
        """Whether two values of a field are one: identifying values are compared as identity compares them."""
        if a == b:
            return True
        if a is None or b is None or field_name not in self.identifying:
            return False
        return str(a).strip().lower() == str(b).strip().lower()

    @cached_property
    def required(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attributes if a.required)

    @cached_property
    def identifying(self) -> frozenset[str]:
        return frozenset(name for rule in self.identified_by for name in rule)

    def rules_text(self) -> str:
        return " or ".join("+".join(rule) for rule in self.identified_by)


def _text(name: str, description: str = "", required: bool = False) -> Attribute:
    return Attribute(name, AttrType.STRING, required, description=description)


def _choice(name: str, choices: tuple[str, ...], required: bool = False) -> Attribute:
    return Attribute(name, AttrType.CHOICE, required, choices)


# Redundancy: the CI stays up while this many of its members (the CIs it contains) are up.
_MIN_MEMBERS_UP = Attribute("min_members_up", AttrType.INTEGER, minimum=1,
                            description="redundancy: stays up, degraded, while this many of its members are up")

_SCHEMAS = (
    ClassSchema(CiClass.BUSINESS_SERVICE, "Business service", (
        _text("description"), _text("service_owner"), _text("business_unit"),
        _choice("service_tier", ("gold", "silver", "bronze")),
    ), identified_by=(("name",),)),
    ClassSchema(CiClass.APPLICATION, "Application", (
        _text("description"), _text("vendor"), _text("version"), _text("language"), _text("repository_url"),
        _MIN_MEMBERS_UP,
    ), identified_by=(("name",),)),
    ClassSchema(CiClass.SERVICE_INSTANCE, "Service instance", (
        _text("url"), _text("version"), Attribute("port", AttrType.INTEGER),
    ), identified_by=(("name", "environment"),)),
    ClassSchema(CiClass.HOST, "Host or virtual machine", (
        _text("fqdn", "fully qualified domain name"), _text("serial_number"),
        Attribute("ip_address", AttrType.IP_ADDRESS), _text("os"), _text("os_version"),
        Attribute("cpu_count", AttrType.INTEGER), Attribute("memory_gb", AttrType.NUMBER),
        Attribute("virtual", AttrType.BOOLEAN), _text("location"),
    ), identified_by=(("serial_number",), ("fqdn",))),
    ClassSchema(CiClass.CONTAINER_WORKLOAD, "Container workload", (
        _text("cluster", "the cluster's name", required=True), _text("namespace", required=True),
        _choice("kind", ("deployment", "statefulset", "daemonset", "job", "cronjob")), _text("image"),
        Attribute("replicas", AttrType.INTEGER),
    ), identified_by=(("cluster", "namespace", "name"),)),
    ClassSchema(CiClass.DATABASE, "Database", (
        _choice("engine", ("postgresql", "mysql", "mariadb", "oracle", "sqlserver", "mongodb", "redis", "other"),
                required=True),
        _text("endpoint", "host:port of the server", required=True), _text("version"),
        Attribute("size_gb", AttrType.NUMBER),
    ), identified_by=(("endpoint", "name"),)),
    ClassSchema(CiClass.NETWORK_DEVICE, "Network device", (
        _text("serial_number"), Attribute("management_ip", AttrType.IP_ADDRESS),
        _choice("device_type", ("router", "switch", "firewall", "load_balancer", "other")),
        _text("vendor"), _text("model"), _text("firmware"),
    ), identified_by=(("serial_number",), ("management_ip",))),
    ClassSchema(CiClass.CLUSTER, "Cluster", (
        _choice("cluster_type", ("kubernetes", "vmware", "database", "other"), required=True),
        _text("version"), _text("api_endpoint"), Attribute("node_count", AttrType.INTEGER), _MIN_MEMBERS_UP,
    ), identified_by=(("cluster_type", "name"),)),
)

SCHEMAS: Mapping[CiClass, ClassSchema] = {s.ci_class: s for s in _SCHEMAS}
assert list(SCHEMAS) == list(CiClass), "every class has a schema"


def schema_of(ci_class: str) -> ClassSchema:
    return SCHEMAS[choice(CiClass, ci_class, "a CI class")]
