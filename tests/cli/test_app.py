"""The command group: every command is loadable by name, and the table that loads them
lazily names each command's real module."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import promptkit.cli
from promptkit.cli.app import COMMAND_MODULES, cli


def test_the_lazy_table_names_every_command_and_its_module() -> None:
    for module in pkgutil.iter_modules(promptkit.cli.__path__):
        importlib.import_module(f"promptkit.cli.{module.name}")
    for name, dotted in COMMAND_MODULES.items():
        if "." in dotted:  # another adapter's command (promptkit view), added when asked for
            assert cli.get_command(None, name) is not None  # type: ignore[arg-type]
    defined = {name: command.callback.__module__.removeprefix("promptkit.cli.")
               for name, command in cli.commands.items() if command.callback is not None}
    assert defined == COMMAND_MODULES


def test_a_light_command_does_not_import_the_sdk() -> None:
    code = ("import sys; from promptkit.cli import cli; cli.get_command(None, 'list'); "
            "print('openai' in sys.modules, 'sqlalchemy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["False", "False"]


def test_help_lists_every_command_with_its_summary_importing_none() -> None:
    code = ("import sys; from click.testing import CliRunner; from promptkit.cli import cli; "
            "out = CliRunner().invoke(cli, ['--help']).output; "
            "loaded = [m for m in sys.modules if m.startswith(('promptkit.cli.', "
            "'promptkit.view', 'sqlalchemy', 'openai', 'pandas'))]; "
            "print(loaded); print(out)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    loaded, _, help_text = done.stdout.partition("\n")
    assert loaded.strip() == "['promptkit.cli.app']"
    for name in COMMAND_MODULES:
        line = next(ln for ln in help_text.splitlines() if ln.strip().startswith(name + " "))
        assert len(line.split(None, 1)) == 2, line  # a summary beside the name
    assert "Approve (or --reject) pending move" in help_text
    assert "A local web app over the project's database" in help_text
