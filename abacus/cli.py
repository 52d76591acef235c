"""`flask abacus …` commands: thin wrappers over service functions."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

abacus_cli = AppGroup("abacus", help="Abacus commands.")


def init_app(app: Flask) -> None:
    app.cli.add_command(abacus_cli)
