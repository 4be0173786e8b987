"""Who is making a request. Resolved in one place so API keys can slot in later."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

ANONYMOUS = "anonymous"


class Identity(BaseModel):
    """The caller, as recorded in `created_by`, `cancelled_by` and audit events."""

    model_config = ConfigDict(frozen=True)

    name: str


def resolve_identity(headers: Mapping[str, str]) -> Identity:
    """The identity behind a request's headers; every caller is anonymous for now."""
    del headers  # API keys will be read from here
    return Identity(name=ANONYMOUS)
