"""The soak (`make bench`'s ten minutes) in its few-second configuration, so it cannot rot.

It checks what the soak checks (no 5xx, no failed request, every acknowledged write
stored, `python -m chalicelib.check` clean) and that slow clients were really mixed
in; nothing here asserts on time.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from bench.soak import main


def test_the_soak_smoke_run_loses_nothing_and_reports_every_section(tmp_path: Path) -> None:
    out = tmp_path / "soak.md"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = main(["--smoke", "--workdir", str(tmp_path / "work"), "--out", str(out)])
    text = printed.getvalue()
    assert status == 0, text
    assert out.read_text().strip() == text.strip()
    for section in ("Machine", "Soak: 0.1 minutes", "Soak: what the slow clients got"):
        assert f"### {section}" in text
    targets = text.split("### Soak: targets", 1)[1]
    for target in ("no 5xx", "no failed request", "every acknowledged write", "chalicelib.check"):
        row = next(line for line in targets.splitlines() if target in line)
        assert row.rstrip(" |").endswith("met"), row
    # The slow clients were answered as the server's (small) timeouts say.
    slow = text.split("### Soak: what the slow clients got", 1)[1].split("###", 1)[0]
    assert "dripping_head" in slow and "408:" in slow
