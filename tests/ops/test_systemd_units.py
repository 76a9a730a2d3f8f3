"""The systemd units in docs/systemd/: every process supervised and restarted, each command
one this checkout really has, and the files as systemd itself reads them."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import click
import pytest

from invites.cli import scheduler_command, worker_command

from ..support.helpers import ROOT

UNITS = ROOT / "docs" / "systemd"
#: Each process the README says to run, and the command its unit starts.
EXPECTED = {
    "spotcam-web.service": ["gunicorn", "--workers", "3", "--bind", "0.0.0.0:8000", "wsgi:app"],
    "spotcam-worker@.service": ["invites", "worker"],
    "spotcam-campaign-worker@.service": [
        "invites",
        "worker",
        "--simple",
        "--queues",
        "campaigns",
    ],
    "spotcam-scheduler.service": ["invites", "scheduler"],
}
_INSTALLED = "/opt/spotcam"
_ENV_FILE = "/etc/spotcam/spotcam.env"


def _read(path: Path) -> configparser.ConfigParser:
    # systemd's format: case-sensitive keys, repeatable ones, no interpolation.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    assert parser.read(path) == [str(path)]
    return parser


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_process_is_supervised_and_restarted(name: str) -> None:
    unit = _read(UNITS / name)

    service = unit["Service"]
    assert service["Restart"] == "always"
    assert int(service["RestartSec"]) <= 5
    # Without it, five quick exits (a database away at start-up) stop the restarts for good.
    assert unit["Unit"]["StartLimitIntervalSec"] == "0"
    assert service["EnvironmentFile"] == _ENV_FILE
    assert service["WorkingDirectory"] == _INSTALLED
    assert service["User"] == "spotcam"
    assert unit["Install"]["WantedBy"] == "spotcam.target"
    assert unit["Unit"]["PartOf"] == "spotcam.target"
    command = shlex.split(service["ExecStart"])
    assert command[0] == f"{_INSTALLED}/.venv/bin/{EXPECTED[name][0]}"
    assert command[1:] == EXPECTED[name][1:]
    # A stop waits for the job under way: a campaign run's 60 s budget, then settling.
    if "worker" in name:
        assert int(service["TimeoutStopSec"]) >= 90


@pytest.mark.parametrize(
    ("name", "command"),
    [
        ("spotcam-worker@.service", worker_command),
        ("spotcam-campaign-worker@.service", worker_command),
        ("spotcam-scheduler.service", scheduler_command),
    ],
)
def test_each_command_takes_the_options_its_unit_gives(name: str, command: click.Command) -> None:
    args = shlex.split(_read(UNITS / name)["Service"]["ExecStart"])[2:]
    # Click parses them as it would at start-up: an option renamed in the CLI fails here.
    with command.make_context(command.name or "", args) as ctx:
        assert ctx.params is not None


def test_the_web_unit_serves_this_checkouts_wsgi_app() -> None:
    target = shlex.split(_read(UNITS / "spotcam-web.service")["Service"]["ExecStart"])[-1]
    module, _, attribute = target.partition(":")
    source = (ROOT / f"{module}.py").read_text()
    assert f"{attribute} = " in source
    assert (ROOT / ".venv" / "bin" / "gunicorn").exists()


def test_the_target_groups_them_and_the_env_example_names_every_url() -> None:
    target = _read(UNITS / "spotcam.target")
    assert target["Install"]["WantedBy"] == "multi-user.target"
    example = (UNITS / "spotcam.env.example").read_text()
    for name in ("SPOTCAM_ENV", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "SMTP_URL"):
        assert f"\n{name}=" in example


def test_systemd_reads_them_without_a_complaint(tmp_path: Path) -> None:
    # systemd-analyze verify where systemd is installed (Debian has it; a container may
    # not). It checks every directive and value, and that each command is executable: the
    # copies point at this checkout instead of /opt/spotcam.
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # the tests above still read every unit
    for source in UNITS.iterdir():
        if source.suffix in (".service", ".target"):
            text = source.read_text().replace(_ENV_FILE, str(UNITS / "spotcam.env.example"))
            (tmp_path / source.name).write_text(text.replace(_INSTALLED, str(ROOT)))
    units = sorted(str(p) for p in tmp_path.iterdir())
    assert len(units) == 5
    done = subprocess.run(
        [analyze, "verify", "--man=no", *units],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"SYSTEMD_LOG_LEVEL": "notice", "PATH": "/usr/bin:/bin"},
    )
    # Unknown keys and bad values are only warnings to systemd: any output is a failure here.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
