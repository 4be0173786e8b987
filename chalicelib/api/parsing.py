"""Turning raw request input (body bytes, query strings) into validated models.

Every failure becomes an `InvalidInput` whose message names the offending field or
parameter, so the API can answer 400 with something a person can act on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.api.errors import BodyTooLarge, UnsupportedMediaType
from chalicelib.errors import InvalidInput
from chalicelib.paging import MAX_QUERY_INTEGER

MAX_BODY_BYTES = 1024 * 1024
MAX_DETAILS = 20
# Digits only: no sign, no spaces, no "1_000" or "1e3"; at most as many as the document allows.
_DECIMAL = re.compile(rf"[0-9]{{1,{len(str(MAX_QUERY_INTEGER))}}}")
_DIGITS = re.compile(r"[0-9]+")

ModelT = TypeVar("ModelT", bound=BaseModel)
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


class NoBody(BaseModel):
    """A body that may be absent or `{}`, with no fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


def parse_idempotency_key(value: str | None) -> str | None:
    """Validate an Idempotency-Key header: 1-255 visible ASCII characters."""
    if value is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(value):
        raise InvalidInput(
            "Idempotency-Key must be 1-255 visible ASCII characters (e.g. a UUID)",
            field="Idempotency-Key",
        )
    return value


# If-Match: `*`, or a list of entity tags (RFC 9110: `"..."`, or weak `W/"..."`). A tag sent
# without its quotes is taken as the quoted one would be: harmless, and what people type.
# The API document publishes the same pattern (`IF_MATCH_PATTERN`), so no client is surprised.
_TAG = r'(W/)?"([!#-~]*)"|([!#-+\--~]+)'
IF_MATCH_PATTERN = rf"^(\*|({_TAG})( *, *({_TAG}))*)$"
_IF_MATCH = re.compile(IF_MATCH_PATTERN)
_TAGS = re.compile(_TAG)


def parse_if_match(value: str | None) -> frozenset[str] | None:
    """The versions an If-Match header accepts, or None for any (absent or `*`).

    Raises `InvalidInput` for a header that is neither `*` nor a list of entity tags. A
    weak tag (W/"...") is well-formed but never matches: If-Match compares strongly.
    """
    if value is None:
        return None
    header = value.strip(" \t")
    if not _IF_MATCH.fullmatch(header):
        raise InvalidInput(
            'If-Match must be * or a comma-separated list of ETags, such as "2026-11-26T14:00:'
            '00.000000Z"',
            field="If-Match",
        )
    if header == "*":
        return None
    return frozenset(quoted or bare for weak, quoted, bare in _TAGS.findall(header) if not weak)


def _describe(error: Mapping[str, Any], *, prefix: str) -> dict[str, str]:
    # A query parameter is named without the index of a repeated value ("state", not "state.1").
    parts = error["loc"][:1] if prefix == "query parameter" else error["loc"]
    location = ".".join(str(part) for part in parts)
    kind = error["type"]
    if kind == "json_invalid":
        return {"field": "body", "message": f"request body is not valid JSON: {error['msg']}"}
    if kind == "model_type" and not location:
        return {"field": "body", "message": "request body must be a JSON object"}
    if kind == "extra_forbidden":
        return {"field": location, "message": f"unknown {prefix} {location!r}"}
    if kind == "missing":
        return {"field": location, "message": f"{prefix} {location!r} is required"}
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if not location:  # a rule about several fields: its message names them
        return {"field": "", "message": message}
    return {"field": location, "message": f"{prefix} {location!r}: {message}"}


def validation_error(error: ValidationError, *, prefix: str) -> InvalidInput:
    """An `InvalidInput` listing the problems pydantic found (the first `MAX_DETAILS`)."""
    problems = error.errors(include_url=False)
    details = [_describe(item, prefix=prefix) for item in problems[:MAX_DETAILS]]
    message = "; ".join(d["message"] for d in details)
    if len(problems) > MAX_DETAILS:  # 50,000 unknown fields must not make a 5 MB answer
        message += f"; and {len(problems) - MAX_DETAILS} more problems"
    return InvalidInput(message, details=details)


def _is_json(content_type: str | None) -> bool:
    if content_type is None:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def check_body(raw: bytes, content_type: str | None) -> None:
    """Refuse an oversized body or one not declared as JSON."""
    if len(raw) > MAX_BODY_BYTES:
        raise BodyTooLarge(MAX_BODY_BYTES)
    if raw and not _is_json(content_type):
        raise UnsupportedMediaType(content_type or "")


def parse_body(model: type[ModelT], raw: bytes, content_type: str | None) -> ModelT:
    """Validate a required JSON object body against `model`; raises `InvalidInput`."""
    check_body(raw, content_type)
    if not raw:
        raise InvalidInput("request body is required (a JSON object)", field="body")
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise validation_error(error, prefix="field") from None


def parse_optional_body(model: type[ModelT], raw: bytes, content_type: str | None) -> ModelT:
    """Like `parse_body`, but an absent or empty body means the model's defaults."""
    if not raw.strip():
        check_body(b"", content_type)
        return model()
    return parse_body(model, raw, content_type)


def parse_query(
    model: type[ModelT],
    params: Mapping[str, Sequence[str]],
    *,
    integers: Sequence[str] = (),
    repeatable: Sequence[str] = (),
) -> ModelT:
    """Validate query parameters (each name to its list of values) against `model`.

    Unknown parameters are refused, and so is repeating one not named in
    `repeatable`; those named in `integers` must be plain decimal digits. Raises
    `InvalidInput`.
    """
    values: dict[str, Any] = {}
    for name, given in params.items():
        if name not in model.model_fields:
            allowed = ", ".join(sorted(model.model_fields))
            raise InvalidInput(f"unknown query parameter {name!r}; allowed: {allowed}", field=name)
        if name in repeatable:
            values[name] = list(given)
            continue
        if len(given) != 1:
            raise InvalidInput(f"query parameter {name!r} given more than once", field=name)
        value = given[0]
        if name in integers:
            if _DIGITS.fullmatch(value) and not _DECIMAL.fullmatch(value):
                raise InvalidInput(f"query parameter {name!r} is too large", field=name)
            if not _DECIMAL.fullmatch(value):
                raise InvalidInput(
                    f"query parameter {name!r} must be a non-negative integer, not {value!r}",
                    field=name,
                )
            values[name] = int(value)
        else:
            values[name] = value
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise validation_error(error, prefix="query parameter") from None
