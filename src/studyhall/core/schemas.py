"""Shared request and response shapes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeAlias, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
)
from pydantic.json_schema import JsonSchemaValue, SkipJsonSchema
from pydantic_core import CoreSchema, core_schema

T = TypeVar("T")

# An ISO 8601 date and time ("2026-01-31T08:00:00Z"; a missing zone is read as UTC where noted).
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _iso_datetime_only(value: Any) -> Any:
    """Refuse what pydantic's lax datetime parsing would also take: numbers (read as Unix
    timestamps), bare dates. The schema says `format: date-time`, so that is all we accept."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        return value
    raise ValueError("expected an ISO 8601 date-time such as 2026-01-31T08:00:00Z")


# For query parameters and bodies: a date-time written as a date-time, nothing else.
IsoDatetime = Annotated[datetime, BeforeValidator(_iso_datetime_only)]


def _trim(value: str) -> str:
    return value.strip()


# In a PATCH body: a field that may be left out but is never null (the schema shows no null;
# the service still refuses one with 422).
Omitted: TypeAlias = SkipJsonSchema[None]

# Surrounding whitespace is trimmed after validation (not before), so the schema's length
# limits hold for what is sent; `NOT_BLANK` (a pattern) refuses a value of spaces only.
Trimmed = AfterValidator(_trim)
NOT_BLANK = r"\S"


def _json_integer(value: Any) -> Any:
    """An integer as JSON has it: a number without a fraction (2.0 is one), not "2" or true."""
    if isinstance(value, str | bool):
        raise ValueError("expected an integer")
    return value


def storable_text(value: str) -> str:
    """Text a database can keep: no NUL character (PostgreSQL refuses it) and no unpaired
    surrogate (not encodable as UTF-8); ValueError otherwise."""
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no unpaired surrogates)") from None
    return value


# What the JSON schema says of the text `storable_text` guards (and of every query parameter,
# which the request middleware guards): it holds no NUL character. Declared in the schema so a
# client, or Schemathesis, knows such text is a 422 rather than finding out.
NUL_FREE = r"^[^\x00]*$"
# Strings whose format already excludes a NUL (or that are no text: a file) say nothing more.
_FORMATS_WITHOUT_NUL = frozenset({"binary", "uuid", "date-time", "date", "time", "uri"})


def declare_nul_free(schema: Any) -> None:
    """Add "no NUL character" to every text string of a JSON schema, in place.

    Nested models (`$ref`) are left to their own schema: an InputSchema declares it itself,
    a shape that does not refuse NUL must not claim to. A string with a pattern of its own gets
    the rule as an `allOf` next to it (a schema has one `pattern`)."""
    if isinstance(schema, list):
        for item in schema:
            declare_nul_free(item)
        return
    if not isinstance(schema, dict) or "$ref" in schema:
        return
    if (
        schema.get("type") == "string"
        and "enum" not in schema
        and "const" not in schema
        and schema.get("format") not in _FORMATS_WITHOUT_NUL
    ):
        if "pattern" not in schema:
            schema["pattern"] = NUL_FREE
        elif {"pattern": NUL_FREE} not in schema.get("allOf", []):
            schema["allOf"] = [*schema.get("allOf", []), {"pattern": NUL_FREE}]
    for key in ("anyOf", "oneOf", "items", "prefixItems", "additionalProperties"):
        if key in schema:
            declare_nul_free(schema[key])
    for value in (schema.get("properties") or {}).values():
        declare_nul_free(value)


def _nul_free_json_schema(schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
    """The JSON schema pydantic makes of `schema`, its text declared free of NUL characters."""
    json_schema = handler(schema)
    declare_nul_free(handler.resolve_ref_schema(json_schema))
    return json_schema


class _StorableText:
    """Annotation of a text parameter outside an InputSchema (a form field): refused with 422
    when it holds a NUL, and so declared in its JSON schema."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_after_validator_function(storable_text, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return _nul_free_json_schema(schema, handler)


StorableText = _StorableText()


# Marks the validators `_tighten` adds. Core schemas are shared (pydantic hands a class's cached
# schema to every model and TypeAdapter that uses it), so a second visit must recognise its own
# wrapper instead of wrapping again: nested wrappers would grow with every app built and end in
# a RecursionError.
_TIGHT_MARK = "studyhall_tight"


def _wrap(function: Any, schema: Any, *, before: bool) -> Any:
    make = (
        core_schema.no_info_before_validator_function
        if before
        else core_schema.no_info_after_validator_function
    )
    return make(function, schema, metadata={_TIGHT_MARK: True})


def _tighten(schema: Any) -> Any:
    """The core schema of a field with scalars that take JSON's own types only."""
    if isinstance(schema, list):
        return [_tighten(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if (schema.get("metadata") or {}).get(_TIGHT_MARK):
        return schema
    if kind in ("model", "definitions"):
        # Nested models apply their own rule (InputSchema) or none (shared shapes).
        return schema
    _tighten_children(schema)
    if kind in ("bool", "float"):
        # Strict: a boolean is true or false (not 0 or "yes"); a float any JSON number, and
        # only a finite one (Python's JSON parser also reads NaN, Infinity and 1e999).
        schema["strict"] = True
        if kind == "float":
            schema["allow_inf_nan"] = False
    elif kind == "int":
        return _wrap(_json_integer, schema, before=True)
    elif kind == "datetime":
        return _wrap(_iso_datetime_only, schema, before=True)
    elif kind == "str":
        return _wrap(storable_text, schema, before=False)
    return schema


def _tighten_children(schema: dict[str, Any]) -> None:
    for key, value in list(schema.items()):
        if key not in ("metadata", "serialization", "ref"):
            schema[key] = _tighten(value)


def _iso_z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Timestamps leave the API as ISO 8601 UTC with a trailing Z.
UTCTimestamp = Annotated[datetime, PlainSerializer(_iso_z, return_type=str, when_used="json")]


class Schema(BaseModel):
    """Base of response schemas: read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class InputSchema(BaseModel):
    """Base of request bodies: unknown fields are refused, not silently dropped, and values must
    have the JSON type the schema states (no "1" or true for an integer, no 0 or "yes" for a
    boolean, no number for a date-time): what the OpenAPI schema promises is what is accepted.
    Text never holds a NUL character or an unpaired surrogate (422), which no database keeps,
    and its JSON schema says so (`declare_nul_free`); numbers are finite."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[BaseModel], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        schema = handler(source)
        model: Any = schema
        # Model validators wrap the model's own schema in function schemas.
        while model.get("type") != "model" and isinstance(model.get("schema"), dict):
            model = model["schema"]
        _tighten_children(model)
        return schema

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # What `_tighten` refuses, the schema says: the model's text holds no NUL character.
        return _nul_free_json_schema(schema, handler)


class ErrorOut(BaseModel):
    """The error body of every endpoint: a human sentence and a stable snake_case code."""

    detail: str
    code: str


class ValidationErrorItem(BaseModel):
    """One problem of a request that failed validation (FastAPI's standard shape)."""

    loc: list[str | int]
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class ValidationErrorOut(BaseModel):
    """422 for a request that does not match its schema: FastAPI's standard `detail` list."""

    detail: list[ValidationErrorItem]


class Page(BaseModel, Generic[T]):
    """A page of a list."""

    items: list[T]
    total: int
    limit: int
    offset: int
