"""Where the database lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib import settings

PROJECT_DIR = Path(__file__).resolve().parents[2]


def test_the_environment_chooses_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORRENTINO_DB_PATH", "/srv/torrentino/t.db")
    assert settings.db_path() == Path("/srv/torrentino/t.db")


def test_default_is_under_xdg_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TORRENTINO_DB_PATH", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert settings.db_path() == tmp_path / "torrentino" / "torrentino.db"


def test_default_without_xdg_is_under_the_home_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TORRENTINO_DB_PATH", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    path = settings.db_path()
    assert path == tmp_path / ".local" / "share" / "torrentino" / "torrentino.db"
    assert PROJECT_DIR not in path.parents


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 5000), ("250", 250), ("0", 0), ("-1", 5000), ("x", 5000)]
)
def test_busy_timeout_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: int
) -> None:
    if value is None:
        monkeypatch.delenv("TORRENTINO_BUSY_TIMEOUT_MS", raising=False)
    else:
        monkeypatch.setenv("TORRENTINO_BUSY_TIMEOUT_MS", value)
    assert settings.busy_timeout_ms() == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[(None, False), ("1", True), ("TRUE", True), (" yes ", True), ("on", True)],
        *[("0", False), ("no", False), ("", False), ("enabled", False)],
    ],
)
def test_open_to_network_is_on_only_when_asked_for(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool
) -> None:
    if value is None:
        monkeypatch.delenv("TORRENTINO_OPEN_TO_NETWORK", raising=False)
    else:
        monkeypatch.setenv("TORRENTINO_OPEN_TO_NETWORK", value)
    assert settings.open_to_network() is expected
