"""The benchmark suite, once in its tiny configuration, so it cannot rot (no timings checked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import main


def test_the_smoke_configuration_prints_every_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "result.md"
    assert main(["--smoke", "--workdir", str(tmp_path / "work"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for section in ("Machine", "Store:", "HTTP:", "Scale:", "Query plans", "Memory:", "Targets"):
        assert f"### {section}" in printed
    for operation in ("create", "cancel", "GET /health (floor)", "deep page, after= cursor"):
        assert operation in printed
    assert out.read_text() in printed
