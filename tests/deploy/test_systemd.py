"""The systemd unit (deploy/systemd/torrentino.service): systemd's own checks pass on it
(`systemd-analyze verify`, and `security --offline` rates it at most 2.0, "OK"), and its
ExecStart, run as written with its environment, is `make run`'s server, which stops on
the unit's KillSignal with a status systemd counts as success.

There is no systemd running the tests, so the unit is checked as it would be installed in
this checkout rather than in /opt/torrentino: the one substitution, of the install
directory, is the only change (`installed_here`)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from harness.server_process import PROJECT_DIR, free_port
from launcher.clean_stop import UPGRADE_FAILED_EXIT_STATUS

UNIT = PROJECT_DIR / "deploy" / "systemd" / "torrentino.service"
INSTALL_DIR = "/opt/torrentino"
STATE_DIR = "/var/lib/torrentino"
TIMEOUT = 60


def settings(text: str) -> list[tuple[str, str, str]]:
    """(section, key, value) of each setting of a unit file, in order (keys may repeat)."""
    found, section = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.append((section, key.strip(), value.strip()))
    return found


def service(key: str) -> list[str]:
    """Every value of `key` in the unit's [Service] section."""
    return [
        value
        for section, k, value in settings(UNIT.read_text())
        if (section, k) == ("Service", key)
    ]


def systemd_analyze(*args: str) -> subprocess.CompletedProcess[str]:
    """systemd-analyze, which `make test` installs from Debian's packages when missing."""
    command = shutil.which("systemd-analyze")
    assert command, "systemd-analyze is missing: `make test` installs Debian's systemd package"
    return subprocess.run(
        [command, *args], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def installed_here(unit: str, tmp_path: Path) -> Path:
    """The unit as it would read installed in this checkout rather than in /opt/torrentino."""
    assert unit.count(INSTALL_DIR) >= 3  # WorkingDirectory, the interpreter, the launcher
    path = tmp_path / "torrentino.service"
    path.write_text(unit.replace(INSTALL_DIR, str(PROJECT_DIR)))
    return path


def test_systemd_analyze_verify_passes_and_would_catch_a_broken_unit(tmp_path: Path) -> None:
    unit = UNIT.read_text()
    verified = systemd_analyze("verify", str(installed_here(unit, tmp_path)))
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout + verified.stderr == ""  # not even a warning
    broken = unit.replace("ProtectSystem=strict", "ProtectSystem=stricter").replace(
        "/.venv/bin/python", "/.venv/bin/no-such-python"
    )
    refused = systemd_analyze("verify", str(installed_here(broken, tmp_path)))
    assert refused.returncode != 0
    assert "no-such-python" in refused.stderr and "protect system" in refused.stderr


def test_the_unit_is_hardened_to_at_most_2_0_ok() -> None:
    rated = systemd_analyze("security", "--offline=yes", str(UNIT))
    assert rated.returncode == 0, rated.stderr
    overall = re.search(
        r"Overall exposure level for torrentino\.service: ([\d.]+) (\w+)", rated.stdout
    )
    assert overall, rated.stdout
    assert float(overall[1]) <= 2.0 and overall[2] == "OK", overall[0]


def test_it_restarts_on_failure_not_after_a_failed_upgrade_and_keeps_its_state() -> None:
    assert service("Restart") == ["on-failure"]
    assert service("RestartPreventExitStatus") == [str(UPGRADE_FAILED_EXIT_STATUS)]
    assert service("KillSignal") == ["SIGTERM"]
    assert service("StateDirectory") == ["torrentino"]
    assert service("WorkingDirectory") == [INSTALL_DIR]
    assert service("User") == ["torrentino"]
    environment = dict(
        assignment.split("=", 1)
        for line in service("Environment")
        for assignment in shlex.split(line)
    )
    assert Path(environment["TORRENTINO_DB_PATH"]).parent == Path(STATE_DIR)
    assert "TORRENTINO_BACKUP_DIR" not in environment  # backups/ beside it, in the state dir
    # The server `make run` runs.
    [exec_start] = service("ExecStart")
    run_recipe = re.search(
        r"^run:.*\n\t(.+)$", (PROJECT_DIR / "Makefile").read_text(), re.MULTILINE
    )
    assert run_recipe
    launcher = shlex.split(run_recipe[1])[1]
    assert shlex.split(exec_start)[1] == f"{INSTALL_DIR}/{launcher}"


def test_its_exec_start_serves_and_stops_on_its_kill_signal_with_status_0(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)  # what StateDirectory= makes
    environment = {}
    for line in service("Environment"):
        for assignment in shlex.split(line):
            name, _, value = assignment.partition("=")
            environment[name] = value.replace(STATE_DIR, str(state))
    environment["TORRENTINO_PORT"] = str(free_port())  # as a drop-in would set it
    environment["TORRENTINO_BACKUP_EVERY_HOURS"] = "0"
    [exec_start] = service("ExecStart")
    command = [
        re.sub(r"\$\{(\w+)\}", lambda m: environment[m[1]], word).replace(
            INSTALL_DIR, str(PROJECT_DIR)
        )
        for word in shlex.split(exec_start)
    ]
    [working_directory] = service("WorkingDirectory")
    process = subprocess.Popen(
        command,
        cwd=working_directory.replace(INSTALL_DIR, str(PROJECT_DIR)),
        env={"PATH": os.environ["PATH"], **environment},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://{environment['TORRENTINO_HOST']}:{environment['TORRENTINO_PORT']}"
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                version = requests.get(f"{url}/api/v1/version", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the unit's command did not answer"
                time.sleep(0.1)
        assert version.status_code == 200
        [kill_signal] = service("KillSignal")
        process.send_signal(getattr(signal, kill_signal))
        output = process.communicate(timeout=TIMEOUT)[0]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, output
    assert (state / "torrentino.db").is_file()
    assert f"torrentino: stopped on {kill_signal}" in output


@pytest.mark.parametrize("doc", ["docs/service.md"])
def test_the_docs_install_the_unit_this_repository_holds(doc: str) -> None:
    text = (PROJECT_DIR / doc).read_text()
    assert "deploy/systemd/torrentino.service" in text
    for step in ("useradd", "systemctl enable --now torrentino", "journalctl -u torrentino"):
        assert step in text, step
