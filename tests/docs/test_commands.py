"""Every command in README.md and docs/*.md, run as written against a real server.

README.md and docs/api.md must show curl lines; every document's commands are checked.
Each document's fenced bash blocks run in document order, as one bash script
(`set -eo pipefail`), against a fresh server on an empty database, started as the README
says (`make run`, on localhost:8080). So that localhost:8080 is ours while other test runs
share the machine, the server and the commands run in a private network namespace the
test creates (`unshare --net`, with a PID namespace of its own, so nothing started there
outlives it). TORRENTINO_DB_PATH and XDG_DATA_HOME point into the test's temporary
directory: nobody's data is touched.

The one substitution: the seed's `{id}` placeholder is filled, when the command runs, with
the id of the ticket most recently created in the same document (see `curl_recorder.py`).
Nothing else is changed. The commands in NOT_RUN (by exact text, each with its reason) are
left out.

Statuses: a `curl` first on the PATH (`curl_recorder.py`) records each curl's HTTP status
and passes its output through unchanged. A comment `# → 409` (or the seed's `# Expected:
409 Conflict`) ending a command, or on a comment line right after it, is the status the
document promises; every other curl must answer 2xx. Every curl must have been answered.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.docs.markdown import code_blocks, outside_code_blocks
from tests.docs.shell import Command, commands

PROJECT_DIR = Path(__file__).resolve().parents[2]
SHELL_LANGUAGES = {"bash", "sh", "shell"}
WITH_CURL = ("README.md", "docs/api.md")  # these must show curl lines
DOCS_DIR = PROJECT_DIR / "docs"
ALL_DOCS = ("README.md", *sorted(f"docs/{path.name}" for path in DOCS_DIR.glob("*.md")))
HERE = Path(__file__).resolve().parent
CURL_IN_PROSE = re.compile(r"`curl\s|^\s*(\$\s*)?curl\s")
RUN_TIMEOUT_SECONDS = 300

# Commands shown in the docs that this test does not run, by exact text (comments aside).
NOT_RUN = {
    "make run": "the test starts the server exactly this way, in the background, first",
    "make test": "this test is part of it",
    "make bench": "takes minutes; tests/bench runs its smoke configuration",
    "make restore FILE=torrentino-20261127T030000.123Z.db": (
        "needs the server stopped, and this test's server runs; tests/reliability/"
        "test_backups.py restores a backup with the server stopped"
    ),
}


def documented_commands(doc: str) -> list[Command]:
    """The commands of a document's bash blocks, in document order."""
    text = (PROJECT_DIR / doc).read_text()
    found: list[Command] = []
    for block in code_blocks(text):
        if block.language in SHELL_LANGUAGES:
            found.extend(commands(block.text, block.line))
    return found


def script(to_run: list[Command]) -> tuple[str, dict[int, int]]:
    """The bash script that runs the commands, and its line -> document line map."""
    lines = [
        "set -eo pipefail",
        "trap 'echo \"docs test: exit status $? at script line $LINENO\" >&2' ERR",
    ]
    doc_lines: dict[int, int] = {}
    for command in to_run:
        for offset, line in enumerate(command.source.splitlines()):
            lines.append(line)
            doc_lines[len(lines)] = command.line + offset
    return "\n".join(lines) + "\n", doc_lines


def status_problems(
    expected: list[tuple[Command, int | None]], records: list[dict[str, Any]]
) -> list[str]:
    """What differs between the statuses the document states and those the curls got."""
    problems = []
    if len(records) != len(expected):
        problems.append(f"{len(expected)} curls in the document, {len(records)} ran")
    for (command, want), record in zip(expected, records, strict=False):
        status = record["status"]
        where = f"line {command.line}: {command.code.splitlines()[0]}"
        if not (status.isdigit() and status != "000"):
            problems.append(f"{where}: no HTTP answer (curl exit {record['exit']})")
        elif want is None and not status.startswith("2"):
            problems.append(f"{where}: got {status}, expected 2xx (or state it: # → {status})")
        elif want is not None and int(status) != want:
            problems.append(f"{where}: got {status}, the document says {want}")
    return problems


def namespace_command() -> list[str]:
    """unshare: a network and a PID namespace of our own (a user namespace if not root)."""
    command = ["unshare", "--net", "--pid", "--fork", "--kill-child"]
    if os.geteuid() != 0:
        command[1:1] = ["--user", "--map-root-user"]
    return command


def run_document(doc: str, workdir: Path) -> tuple[int, str, list[dict[str, Any]], list[Command]]:
    """Run a document's commands in a fresh namespace; (exit, output, curl records, run)."""
    real_curl = shutil.which("curl")
    assert real_curl is not None, "the docs use curl: install it (apt-get install curl)"
    assert shutil.which("unshare"), "unshare (util-linux) is needed to run the docs' commands"
    to_run = [c for c in documented_commands(doc) if c.code not in NOT_RUN]
    text, doc_lines = script(to_run)
    (workdir / "doc.sh").write_text(text)
    bin_dir = workdir / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "curl"
    recorder = HERE / "curl_recorder.py"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -I "{recorder}" "$@"\n')
    wrapper.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        TORRENTINO_DB_PATH=str(workdir / "torrentino.db"),
        XDG_DATA_HOME=str(workdir / "xdg"),
        DOCS_REAL_CURL=real_curl,
        DOCS_CURL_RECORDS=str(workdir / "curls.jsonl"),
    )
    sandbox = [sys.executable, str(HERE / "sandbox.py"), str(workdir / "doc.sh"), str(workdir)]
    result = subprocess.run(
        [*namespace_command(), *sandbox],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    output = result.stdout + result.stderr
    for script_line, doc_line in doc_lines.items():
        output = output.replace(f"script line {script_line}\n", f"{doc} line {doc_line}\n")
    records_file = workdir / "curls.jsonl"
    records = (
        [json.loads(line) for line in records_file.read_text().splitlines()]
        if records_file.exists()
        else []
    )
    return result.returncode, output, records, to_run


DOCS_WITH_COMMANDS = tuple(
    doc for doc in ALL_DOCS if any(c.code not in NOT_RUN for c in documented_commands(doc))
)


@pytest.mark.parametrize("doc", DOCS_WITH_COMMANDS)
def test_every_documented_command_runs_as_written(doc: str, tmp_path: Path) -> None:
    code, output, records, ran = run_document(doc, tmp_path)
    log_file = tmp_path / "server.log"
    server_log = log_file.read_text(errors="replace") if log_file.exists() else "(none)"
    assert code == 0, f"{output[-6000:]}\n--- server log ---\n{server_log[-3000:]}"
    expected = [(c, status) for c in ran for status in c.expected_statuses()]
    assert expected or doc not in WITH_CURL, f"{doc} has no curl to check"
    problems = status_problems(expected, records)
    assert not problems, "\n".join(problems) + f"\n--- output ---\n{output[-4000:]}"
    assert "Traceback" not in server_log


def test_the_readme_and_the_api_reference_have_commands() -> None:
    assert set(WITH_CURL) <= set(DOCS_WITH_COMMANDS)


def test_each_command_left_out_is_in_the_docs() -> None:
    shown = {c.code for doc in ALL_DOCS for c in documented_commands(doc)}
    assert set(NOT_RUN) <= shown, set(NOT_RUN) - shown


@pytest.mark.parametrize("doc", ALL_DOCS)
def test_every_curl_in_the_doc_is_in_a_checked_block(doc: str) -> None:
    # A curl command in prose (inline code, an indented block) or in a block of another
    # language would escape the check.
    text = (PROJECT_DIR / doc).read_text()
    outside = [n for n, line in outside_code_blocks(text) if CURL_IN_PROSE.search(line)]
    other_blocks = [
        b.line for b in code_blocks(text) if b.language not in SHELL_LANGUAGES and "curl " in b.text
    ]
    assert not outside and not other_blocks, (outside, other_blocks)


SEED_STYLE = """\
curl -X POST http://localhost:8080/api/v1/tickets \\
  -H "Content-Type: application/json" \\
  -d '{
    "priority": 100,
    "dest_path": "/media/#music"
  }'
curl http://localhost:8080/api/v1/tickets/{id}  # → 404

# A list
ID=$(curl -s http://localhost:8080/api/v1/tickets | python3 -c 'import sys; print(1)')
# {"tickets": []}
# → 200
make keys ARGS=list   # prints the keys
curl -X DELETE http://localhost:8080/api/v1/tickets/{id}
# Expected: 409 Conflict
"""


def test_commands_and_their_stated_statuses_are_read_as_written() -> None:
    found = commands(SEED_STYLE, 10)
    assert [(c.line, c.curls, c.expected) for c in found] == [
        (10, 1, None),
        (16, 1, 404),
        (19, 1, 200),
        (22, 0, None),
        (23, 1, 409),
    ]
    assert found[0].source == "\n".join(SEED_STYLE.splitlines()[:6])
    assert found[3].code == "make keys ARGS=list"


@pytest.mark.parametrize(
    "block",
    ["# → 201\ncurl http://x/", "curl 'http://x/", "curl a && curl b  # → 404"],
)
def test_a_status_comment_must_belong_to_one_curl_and_commands_must_end(block: str) -> None:
    with pytest.raises(ValueError):
        [c.expected_statuses() for c in commands(block, 1)]


def test_a_wrong_missing_or_unanswered_status_is_reported() -> None:
    create, conflict, health = commands(
        "curl -X POST http://x/api/v1/tickets\ncurl -X DELETE http://x/  # → 409\n"
        "curl http://x/api/v1/health",
        1,
    )
    expected = [(create, None), (conflict, 409), (health, None)]
    ok = [{"status": s, "exit": 0} for s in ("201", "409", "200")]
    assert status_problems(expected, ok) == []
    wrong = [{"status": s, "exit": 0} for s in ("400", "200", "000")]
    problems = status_problems(expected, wrong)
    assert [p.split(":")[0] for p in problems] == ["line 1", "line 2", "line 3"]
    assert status_problems(expected, ok[:2]) == ["3 curls in the document, 2 ran"]
