"""A checkout's settings file, `instance/settings.env`: `make run` writes it, the CLI reads it.

Variables already in the environment win over the file, so an operator's `export` or a
supervisor's environment is never overridden by what a development run left behind.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Its name in the instance folder (next to the SQLite file and the embedded Redis).
NAME = "settings.env"

_HEADER = (
    "# Settings every `invites` command in this checkout reads (variables set in the\n"
    "# environment win). `make run` keeps SPOTCAM_ENV and PORT here; add your own below.\n"
)


def instance_path() -> Path:
    """The instance folder `create_app` uses, found without building the app."""
    from flask import Flask

    # The same rule as the app's (Flask's own, from where the package lives): an installed
    # package keeps it under the prefix, a checkout next to the package.
    return Path(Flask("invites").instance_path)


def path() -> Path:
    """Where this checkout's settings file is (it may not exist)."""
    return instance_path() / NAME


def load(file: Path | None = None) -> Path | None:
    """Read the settings file into the environment, under what is set already; return it if read."""
    from dotenv import load_dotenv

    file = file or path()
    if not file.is_file():
        return None
    load_dotenv(file, override=False, encoding="utf-8")
    return file


def has(name: str, file: Path | None = None) -> bool:
    """Whether the settings file sets this variable (to anything)."""
    from dotenv import dotenv_values

    file = file or path()
    return file.is_file() and bool(dotenv_values(file, encoding="utf-8").get(name))


def write(values: dict[str, str], file: Path | None = None) -> Path:
    """Set these variables in the settings file, keeping every other line; readable by us only."""
    from dotenv import set_key

    file = file or path()
    file.parent.mkdir(parents=True, exist_ok=True)
    if not file.exists():
        # Created 0600 from the start: an operator may add secrets (SMTP_URL) below.
        descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(_HEADER)
    for key, value in values.items():
        set_key(file, key, value, quote_mode="never")
    file.chmod(0o600)
    return file
