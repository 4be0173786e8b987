"""Who the caller is, as a client needs to know it: the name its actions are recorded
under, its role, and whether the service is open (no API key exists yet)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.identity import ANONYMOUS, Identity, Role


class WhoAmI(BaseModel):
    """The answer of `GET /api/v1/me`."""

    model_config = ConfigDict(
        frozen=True,
        json_schema_extra={"examples": [{"name": "alice", "role": "admin", "open_mode": False}]},
    )

    name: str = Field(description="The name recorded as created_by, cancelled_by and actor.")
    role: Role = Field(description="user: files tickets and cancels its own; admin: everything.")
    open_mode: bool = Field(
        description="No API key exists yet: every caller is the anonymous admin."
    )


def who_am_i(identity: Identity) -> WhoAmI:
    """Describe the caller."""
    # Only open mode resolves to the anonymous identity: no key may be made for that name.
    return WhoAmI(name=identity.name, role=identity.role, open_mode=identity == ANONYMOUS)
