"""The `msm` command line: every command has --help, the console script is installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import typer

from msm import __version__
from msm.cli import app


def _command_paths(group, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name)
        if hasattr(cmd, "commands"):  # a group (typer may not subclass click.Group)
            yield from _command_paths(cmd, (*prefix, name))


def test_every_command_has_help(cli):
    paths = list(_command_paths(typer.main.get_command(app)))
    assert ("spec", "validate") in paths and ("model", "smollm2") in paths
    for path in [(), *paths]:
        result = cli(*path, "--help")
        assert result.exit_code == 0, path
        assert "Usage:" in result.stdout
        if path:
            assert len(result.stdout.split("Usage:")[1].strip()) > 40, f"{path} has no description"


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0 and __version__ in result.stdout


def test_console_script_and_module_entry_points():
    script = shutil.which("msm", path=str(Path(sys.executable).parent))
    assert script, "the msm console script is not installed in this environment"
    for cmd in ([script, "spec", "--help"], [sys.executable, "-m", "msm", "spec", "--help"]):
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "validate" in done.stdout


def test_bad_input_exit_code_through_real_process(tmp_path):
    empty = tmp_path / "empty.md"
    empty.write_text("")
    done = subprocess.run(
        [sys.executable, "-m", "msm", "spec", "validate", str(empty)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "file is empty" in done.stderr and "Traceback" not in done.stderr


def test_msm_log_lines_reach_the_stderr_of_each_invocation(cli, repo):
    """The first invocation installs msm's log handler; a later one (another CliRunner, another
    redirect) must still see msm's log lines on its own stderr, not on the first one's closed stream."""
    import logging

    log = logging.getLogger("msm.test")
    for n in range(2):
        result = cli("recipe", "validate", repo / "recipes/tiny-offline.yaml")
        assert result.exit_code == 0, result.output
        runner = typer.testing.CliRunner()
        with runner.isolation() as (_out, err, _):
            log.warning("line %d", n)
            assert f"WARNING: line {n}" in err.getvalue().decode()
