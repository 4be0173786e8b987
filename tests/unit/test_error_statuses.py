"""Every domain error has an HTTP status in the one table, its own or its family's."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from chalicelib import errors
from chalicelib.api.errors import STATUS, status_of

DOMAIN_ERRORS = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, errors.TorrentinoError) and cls is not errors.TorrentinoError
]


@pytest.mark.parametrize("error", DOMAIN_ERRORS, ids=lambda cls: cls.__name__)
def test_every_domain_error_has_a_row_of_its_own_or_its_base(error: type) -> None:
    # Without one, status_of falls back to 500, as for an unexpected error.
    assert any(base in STATUS for base in error.__mro__ if base is not errors.TorrentinoError)


def test_restore_errors_have_their_statuses() -> None:
    assert status_of(errors.DatabaseInUse) == 409
    assert status_of(errors.BackupUnusable(Path("x.db"), ["damaged"])) == 422
