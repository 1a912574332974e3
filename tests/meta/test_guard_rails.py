"""Every guard rail is one name everywhere: a field of RunOptions, ScanOptions and the playbook file's
guard_rails, a keyword of Remediator.run, a CLI flag of plan/apply/scan and a runbook parameter."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from azbackup_fix import Remediator
from azbackup_fix.cli.main import build_parser
from azbackup_fix.models import GUARD_RAILS
from azbackup_fix.models.rails import given_rails
from azbackup_fix.playbook_file import GuardRails, load_playbook_file
from azbackup_fix.runbook import build_parser as runbook_parser
from azbackup_fix.runner import RunOptions
from azbackup_fix.scanner import ScanOptions

NAMES = [rail.name for rail in GUARD_RAILS]


def test_the_six_rails_of_the_safety_model() -> None:
    assert NAMES == ["allow_disruptive", "allow_protection_changes", "allow_network_changes",
                     "allow_guest_changes", "allow_permission_changes", "allow_extension_changes"]


@pytest.mark.parametrize("cls", [RunOptions, ScanOptions, GuardRails])
def test_each_rail_is_a_false_by_default_field(cls: type) -> None:
    fields = {f.name: f.default for f in dataclasses.fields(cls)}
    assert {name: fields.get(name) for name in NAMES} == dict.fromkeys(NAMES, False)


def test_each_rail_is_a_keyword_of_run() -> None:
    params = inspect.signature(Remediator.run).parameters
    assert all(params[name].default is False for name in NAMES)


@pytest.mark.parametrize("command", ["plan", "apply", "scan"])
def test_each_rail_is_a_cli_flag(command: str) -> None:
    parser = build_parser()
    for rail in GUARD_RAILS:
        args = parser.parse_args([command, rail.flag])
        assert given_rails(args) == {name: name == rail.name for name in NAMES}


def test_each_rail_is_a_runbook_parameter() -> None:
    for rail in GUARD_RAILS:
        args = runbook_parser().parse_args(["--subscription", "00000000-0000-0000-0000-000000000000", rail.flag])
        assert given_rails(args) == {name: name == rail.name for name in NAMES}


def test_playbook_file_reads_every_rail(tmp_path) -> None:
    path = tmp_path / "rails.yaml"
    path.write_text("version: 1\nguard_rails:\n" + "".join(f"  {name}: true\n" for name in NAMES) + "rules: []\n")
    rails = load_playbook_file(path).guard_rails
    assert given_rails(rails) == dict.fromkeys(NAMES, True)


def test_given_rails_combines_sources() -> None:
    assert given_rails(RunOptions(allow_network_changes=True), None, GuardRails(allow_guest_changes=True)) == {
        name: name in ("allow_network_changes", "allow_guest_changes") for name in NAMES}
