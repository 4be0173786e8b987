"""API key administration without a shell: one command per invocation of the `keys`
Lambda function (`app.keys`), for a deployment that has no machine to run `make keys` on.

    {"command": "create", "user": "alice", "role": "admin"}   -> the key, shown this once
    {"command": "list"}                                        -> every key, never a secret
    {"command": "revoke", "key_id": "0123456789ab"}            -> the revoked key

The answer is a JSON object; a refused command answers the API's error shape
(`{"error": {"code", "message", "details"}}`). Nothing here logs, so the key appears
only in the answer, which Lambda hands to the invoker and does not log either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.actors import INVOKE_ACTOR
from chalicelib.api.errors import ErrorResponse
from chalicelib.api.parsing import validation_error
from chalicelib.errors import InvalidInput, TorrentinoError
from chalicelib.keys import store
from chalicelib.keys.identity import Role


class CreateKey(BaseModel):
    """Create a key for `user`; the answer carries the key, once."""

    model_config = ConfigDict(extra="forbid")

    command: Literal["create"]
    user: str
    role: Role = Role.USER


class ListKeys(BaseModel):
    """List every key, oldest first, without secrets."""

    model_config = ConfigDict(extra="forbid")

    command: Literal["list"]


class RevokeKey(BaseModel):
    """Revoke the key with this id, at once."""

    model_config = ConfigDict(extra="forbid")

    command: Literal["revoke"]
    key_id: str


KeyCommand = CreateKey | ListKeys | RevokeKey
_COMMANDS: dict[str, type[KeyCommand]] = {
    "create": CreateKey,
    "list": ListKeys,
    "revoke": RevokeKey,
}


def parse_key_command(payload: Any) -> KeyCommand:
    """The command a payload asks for; raises `InvalidInput` naming what is wrong."""
    name = payload.get("command") if isinstance(payload, dict) else None
    model = _COMMANDS.get(name) if isinstance(name, str) else None
    if model is None:
        raise InvalidInput(
            f"the payload must be a JSON object whose 'command' is one of {', '.join(_COMMANDS)}",
            field="command",
        )
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise validation_error(error, prefix="field") from None


def run_key_command(payload: Any, path: Path) -> dict[str, Any]:
    """Run one key command on the database at `path`; the answer as a JSON-ready dict."""
    try:
        command = parse_key_command(payload)
        if isinstance(command, CreateKey):
            info, key = store.create_key(path, command.user, command.role, actor=INVOKE_ACTOR)
            return {"key": key, **info.model_dump(mode="json")}
        if isinstance(command, ListKeys):
            return {"keys": [info.model_dump(mode="json") for info in store.list_keys(path)]}
        revoked = store.revoke_key(path, command.key_id, actor=INVOKE_ACTOR)
        return revoked.model_dump(mode="json")
    except TorrentinoError as error:
        answer: dict[str, Any] = ErrorResponse.from_error(error).model_dump(mode="json")
        return answer
