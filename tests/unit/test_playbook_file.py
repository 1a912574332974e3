"""Playbook files: the shipped files, every validation error (with file and line), hostile YAML."""

from __future__ import annotations

import fnmatch
import importlib.util
import shutil
import subprocess
import sys
import textwrap
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from azbackup_fix.checks import CATALOGUE, Playbook
from azbackup_fix.errors import PlaybookFileError
from azbackup_fix.playbook_file import (
    BUILTIN_PLAYBOOK_FILES,
    FORMAT_VERSION,
    MAX_FILE_BYTES,
    GuardRails,
    builtin_playbook_file,
    load_playbook_file,
)
from azbackup_fix.playbooks.registry import option_schemas

REPO = Path(__file__).resolve().parents[2]
TOP_LEVEL = REPO / "playbooks"
PACKAGED = REPO / "azbackup_fix" / "playbook_files"

# The shipped files are checked against the real registry; the format's own rules against a
# stand-in with every option type (float, str, tuple, None default) the registry may grow.
REGISTRY = option_schemas()
SCHEMAS: dict[str, dict[str, tuple[type, object]]] = {
    Playbook.CLEAR_RESTORE_POINT_LIMIT: {"delete_retries": (int, 3), "restore_locks": (bool, True)},
    Playbook.REINSTALL_BACKUP_EXTENSION: {"wait_minutes": (float, 30.0)},
    Playbook.RESOLVE_BACKUP_IN_PROGRESS: {"cancel_after_hours": (float, None), "wait_minutes": (float, 60.0)},
    Playbook.TRIGGER_BACKUP: {"retention_days": (int, 30), "wait": (bool, True), "expiry_note": (str, "")},
    Playbook.RECOVER_VM_PROVISIONING: {"allow_restart": (bool, False)},
    Playbook.RESUME_PROTECTION: {},
    Playbook.STOP_PROTECTION_RETAIN_DATA: {"tags": (tuple, ())},
}

ALL_CODES = tuple(code for entry in CATALOGUE for code in entry.codes)


def write(tmp_path: Path, text: str | bytes, name: str = "pb.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load_error(path: Path) -> PlaybookFileError:
    with pytest.raises(PlaybookFileError) as info:
        load_playbook_file(path, schemas=SCHEMAS)
    return info.value


# -- the shipped files ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTIN_PLAYBOOK_FILES)
def test_packaged_copies_are_identical_to_the_top_level_files(name: str) -> None:
    assert (PACKAGED / f"{name}.yaml").read_bytes() == (TOP_LEVEL / f"{name}.yaml").read_bytes(), (
        f"copy playbooks/{name}.yaml to azbackup_fix/playbook_files/ (the wheel ships that copy)"
    )


def test_every_yaml_in_the_top_level_folder_is_packaged() -> None:
    assert sorted(p.name for p in TOP_LEVEL.glob("*.yaml")) == sorted(p.name for p in PACKAGED.glob("*.yaml"))


@pytest.mark.parametrize("name", BUILTIN_PLAYBOOK_FILES)
def test_shipped_files_load(name: str) -> None:
    loaded = load_playbook_file(TOP_LEVEL / f"{name}.yaml", schemas=REGISTRY)
    assert loaded.version == FORMAT_VERSION
    assert loaded.unknown_codes == ()
    packaged = load_playbook_file(builtin_playbook_file(name), schemas=REGISTRY)
    assert replace(loaded, path=packaged.path) == packaged


def test_none_loads_the_packaged_default_with_the_registry_schemas() -> None:
    loaded = load_playbook_file()
    assert loaded.path.endswith("default.yaml") and Path(loaded.path).is_file()
    assert loaded.rules == load_playbook_file(TOP_LEVEL / "default.yaml").rules


def test_unknown_builtin_name_is_a_playbook_file_error() -> None:
    with pytest.raises(PlaybookFileError, match="no built-in playbook file 'nope'"):
        builtin_playbook_file("nope")


@pytest.mark.parametrize("code", ALL_CODES)
def test_default_covers_every_catalogue_code(code: str) -> None:
    loaded = load_playbook_file(TOP_LEVEL / "default.yaml", schemas=REGISTRY)
    assert loaded.rules_for(code), f"default.yaml has no rule for {code}"
    assert loaded.rules_for(code.upper()) == loaded.rules_for(code)


def test_default_prescriptions_and_guard_rails() -> None:
    loaded = load_playbook_file(TOP_LEVEL / "default.yaml", schemas=REGISTRY)
    assert loaded.writes_allowed is True
    assert loaded.guard_rails == GuardRails(max_targets=50, allow_disruptive=False, allow_protection_changes=False)
    assert dict(loaded.defaults[Playbook.TRIGGER_BACKUP]) == {"retention_days": 30}
    assert set(loaded.playbook_ids) == {*Playbook.ALL, "inspect-vm"}
    # One on-demand backup, at the end: no playbook that can trigger its own does so.
    for pid in loaded.playbook_ids:
        # clear-restore-point-limit keeps its own: the verification backup runs before the locks return.
        if pid not in (Playbook.TRIGGER_BACKUP, Playbook.CLEAR_RESTORE_POINT_LIMIT) and "trigger_backup" in REGISTRY[pid]:
            assert loaded.defaults[pid]["trigger_backup"] is False, pid
    for rule in loaded.rules:
        if Playbook.TRIGGER_BACKUP in rule.playbooks:
            assert rule.playbooks[-1] == Playbook.TRIGGER_BACKUP, rule.name
        # Protection changes and VM recovery for agent problems sit behind guard rails.
        if {Playbook.RESUME_PROTECTION, Playbook.STOP_PROTECTION_RETAIN_DATA} & set(rule.playbooks):
            assert rule.requires == ("allow_protection_changes",)


def test_diagnose_only_never_writes() -> None:
    loaded = load_playbook_file(TOP_LEVEL / "diagnose-only.yaml", schemas=REGISTRY)
    assert loaded.writes_allowed is False
    assert loaded.playbook_ids == ()


def test_without_schemas_ids_come_from_the_catalogue(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\nrules:\n  - match: {error_codes: [X1]}\n    playbooks: [trigger-backup]\n")
    assert load_playbook_file(path, schemas={"trigger-backup": {}}).playbook_ids == ("trigger-backup",)
    with pytest.raises(PlaybookFileError, match="unknown playbook 'trigger-backup'"):
        load_playbook_file(path, schemas={"other": {}})


def test_a_minimal_file_gets_safe_defaults(tmp_path: Path) -> None:
    loaded = load_playbook_file(write(tmp_path, "version: 1\n"), schemas=SCHEMAS)
    assert loaded.rules == () and loaded.writes_allowed is True and loaded.guard_rails == GuardRails()
    assert dict(loaded.defaults) == {}


def test_values_are_typed_and_frozen(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        version: 1
        defaults:
          resolve-backup-in-progress: {cancel_after_hours: 6, wait_minutes: null}
          stop-protection-retain-data: {tags: [a, b]}
        rules:
          - name: mine
            match: {error_codes: [usererrorrpcollectionlimitreached, MyOwn.Error-1], unless_codes: [VmNotRunning]}
            playbooks: [clear-restore-point-limit]
            options: {clear-restore-point-limit: {delete_retries: 5}}
        """,
    )
    with pytest.raises(PlaybookFileError, match="wait_minutes' of 'resolve-backup-in-progress' must be float"):
        load_playbook_file(path, schemas=SCHEMAS)
    path.write_text(path.read_text().replace("wait_minutes: null", "wait_minutes: 5"))
    loaded = load_playbook_file(path, schemas=SCHEMAS)
    assert loaded.defaults["resolve-backup-in-progress"] == {"cancel_after_hours": 6.0, "wait_minutes": 5.0}
    assert isinstance(loaded.defaults["resolve-backup-in-progress"]["cancel_after_hours"], float)
    assert loaded.defaults["stop-protection-retain-data"]["tags"] == ("a", "b")
    (rule,) = loaded.rules
    assert rule.name == "mine" and rule.line == 6 and rule.unless_codes == ("VmNotRunning",)
    assert loaded.unknown_codes == ("MyOwn.Error-1",)
    with pytest.raises(TypeError):
        rule.options["x"] = {}  # type: ignore[index]
    with pytest.raises(AttributeError):
        loaded.version = 2  # type: ignore[misc]


# -- validation errors: one line, file, line, problem ----------------------------------------------

RULE = "rules:\n  - match: {error_codes: [UserErrorRpCollectionLimitReached]}\n    playbooks: [trigger-backup]\n"

INVALID = [
    # (id, text, line, problem fragment)
    ("unknown-top-key", "version: 1\nrule: []\n", 2, "unknown key 'rule' in the top level; did you mean 'rules'?"),
    ("unknown-rule-key", "version: 1\n" + RULE + "    playbook: [x]\n", 5, "unknown key 'playbook' in rule 1"),
    ("unknown-match-key", "version: 1\nrules:\n  - match: {codes: [A]}\n    playbooks: []\n", 3,
     "unknown key 'codes' in the match of rule 1"),
    ("unknown-guard-rail", "version: 1\nguard_rails:\n  allow_everything: true\n", 3, "unknown key 'allow_everything'"),
    ("missing-version", "rules: []\n", 1, "missing 'version: 1'"),
    ("unknown-version", "version: 2\n", 1, "unsupported version 2"),
    ("string-version", "version: '1'\n", 1, "unsupported version '1'"),
    ("bool-version", "version: true\n", 1, "unsupported version True"),
    ("top-level-list", "- version: 1\n", 1, "the top level must be a mapping"),
    ("top-level-scalar", "just text\n", 1, "the top level must be a mapping"),
    ("rules-not-list", "version: 1\nrules: {a: 1}\n", 2, "rules must be a list, got a mapping"),
    ("rule-not-mapping", "version: 1\nrules:\n  - trigger-backup\n", 3, "rule 1 must be a mapping, got a string"),
    ("playbooks-not-list", "version: 1\nrules:\n  - match: {error_codes: [A]}\n    playbooks: trigger-backup\n", 4,
     "the playbooks of rule 1 must be a list"),
    ("writes-allowed-not-bool", "version: 1\nwrites_allowed: 'no thanks'\n", 2, "writes_allowed must be true or false"),
    ("max-targets-text", "version: 1\nguard_rails: {max_targets: ten}\n", 2, "max_targets must be a whole number"),
    ("max-targets-zero", "version: 1\nguard_rails:\n  max_targets: 0\n", 3, "max_targets must be a whole number"),
    ("flag-not-bool", "version: 1\nguard_rails:\n  allow_disruptive: 1\n", 3, "allow_disruptive must be true or false"),
    ("missing-match", "version: 1\nrules:\n  - playbooks: []\n", 3, "rule 1 has no 'match'"),
    ("missing-playbooks", "version: 1\nrules:\n  - match: {error_codes: [A]}\n", 3, "rule 1 has no 'playbooks'"),
    ("empty-match", "version: 1\nrules:\n  - match: {unless_codes: [A]}\n    playbooks: []\n", 3,
     "names no error_codes or finding_codes"),
    ("unknown-playbook", "version: 1\nrules:\n  - match: {error_codes: [A]}\n    playbooks:\n      - trigger-backups\n",
     5, "unknown playbook 'trigger-backups'; did you mean 'trigger-backup'?"),
    ("unknown-playbook-in-defaults", "version: 1\ndefaults:\n  fix-everything: {}\n", 3, "unknown playbook 'fix-everything'"),
    ("playbook-twice", "version: 1\nrules:\n  - match: {error_codes: [A]}\n    playbooks: [trigger-backup, trigger-backup]\n",
     4, "playbook 'trigger-backup' is listed twice"),
    ("unknown-option", "version: 1\ndefaults:\n  trigger-backup:\n    retention: 30\n", 4,
     "unknown key 'retention' in the options of 'trigger-backup'; did you mean 'retention_days'?"),
    ("option-wrong-type", "version: 1\ndefaults:\n  trigger-backup:\n    retention_days: '30'\n", 4,
     "option 'retention_days' of 'trigger-backup' must be int, got a string"),
    ("option-bool-for-int", "version: 1\ndefaults:\n  trigger-backup: {retention_days: yes}\n", 3,
     "must be int, got a boolean"),
    ("option-int-for-bool", "version: 1\ndefaults:\n  trigger-backup: {wait: 1}\n", 3, "must be bool, got an integer"),
    ("options-not-mapping", "version: 1\ndefaults:\n  trigger-backup: [30]\n", 3,
     "the options of 'trigger-backup' must be a mapping, got a list"),
    ("options-for-unlisted-playbook", "version: 1\n" + RULE + "    options:\n      clear-restore-point-limit: {}\n", 6,
     "options for 'clear-restore-point-limit', which this rule's playbooks do not list"),
    ("bad-code", "version: 1\nrules:\n  - match: {error_codes: ['Not a code!']}\n    playbooks: []\n", 3,
     "'Not a code!' in error_codes is not an error code"),
    ("code-not-string", "version: 1\nrules:\n  - match: {error_codes: [42]}\n    playbooks: []\n", 3,
     "each entry of error_codes must be a non-empty string, got an integer"),
    ("code-twice", "version: 1\nrules:\n  - match:\n      finding_codes: [VmNotRunning, vmnotrunning]\n    playbooks: []\n", 4,
     "'vmnotrunning' is listed twice in finding_codes"),
    ("unknown-requires", "version: 1\n" + RULE + "    requires: [allow_disruption]\n", 5,
     "unknown guard rail 'allow_disruption'; did you mean 'allow_disruptive'?"),
    ("duplicate-top-key", "version: 1\nrules: []\nrules: []\n", 3, "duplicate key 'rules' in the top level (first at line 2)"),
    ("duplicate-nested-key", "version: 1\nguard_rails:\n  allow_disruptive: false\n  allow_disruptive: true\n", 4,
     "duplicate key 'allow_disruptive' in guard_rails (first at line 3)"),
    ("non-string-key", "version: 1\n1: x\n", 2, "keys in the top level must be strings, got an integer"),
    ("syntax-error", "version: 1\nrules: [\n  {match: \n", 4, "invalid YAML"),
    ("bad-indentation", "version: 1\n guard_rails: {}\n", 2, "invalid YAML"),
    ("two-documents", "version: 1\n---\nversion: 1\n", 2, "invalid YAML: expected a single document"),
    ("tab-indent", "version: 1\nguard_rails:\n\tmax_targets: 3\n", 3, "invalid YAML"),
    ("nul-byte", "version: 1\nrules: []\n# \x00\n", 3, "control character U+0000 is not allowed"),
    ("timestamp-value", "version: 1\ndescription: 2024-01-01\n", 2, "YAML tag '!!timestamp' is not allowed"),
    ("merge-key", "version: 1\nguard_rails:\n  <<: {max_targets: 3}\n", 3, "YAML tag '!!merge' is not allowed"),
]


@pytest.mark.parametrize(("text", "line", "problem"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_files_name_file_line_and_problem(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = write(tmp_path, text.encode("utf-8"))
    error = load_error(path)
    message = str(error)
    assert message.startswith(f"{path}:{line}: "), message
    assert problem in message, message
    assert "\n" not in message
    assert (error.file, error.line, error.exit_code) == (str(path), line, 2)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("", "the file is empty"), ("# only a comment\n\n", "the file is empty"), ("---\n...\n", "the file is empty")],
)
def test_empty_files(tmp_path: Path, text: str, problem: str) -> None:
    error = load_error(write(tmp_path, text.encode()))
    assert problem in str(error) and error.line is None


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert str(load_error(tmp_path / "nope.yaml")) == f"{tmp_path / 'nope.yaml'}: file not found"
    assert "is a directory" in str(load_error(tmp_path))


# -- hostile YAML: refused, and nothing is executed -------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "tag"),
    [
        ("!!python/object/apply:os.system ['touch {marker}']", "!!python/object/apply:os.system"),
        ("!!python/object/new:subprocess.check_output [['touch', '{marker}']]", "!!python/object/new:subprocess"),
        ("!!python/name:os.system", "!!python/name:os.system"),
        ("!!python/module:os", "!!python/module:os"),
        ("!Ref AWS::Region", "!Ref"),
        ("!<tag:example.com,2024:thing> x", "tag:example.com,2024:thing"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!set {{a, b}}", "!!set"),
    ],
)
@pytest.mark.parametrize("where", ["description", "key", "option", "top"])
def test_tags_that_construct_objects_are_refused(tmp_path: Path, payload: str, tag: str, where: str) -> None:
    marker = tmp_path / "executed"
    value = payload.format(marker=marker)
    text = {
        "description": f"version: 1\ndescription: {value}\n",
        "key": f"version: 1\nrules:\n  - match: {{error_codes: [A]}}\n    playbooks: []\n    name: {value}\n",
        "option": f"version: 1\ndefaults:\n  trigger-backup:\n    retention_days: {value}\n",
        "top": f"--- {value}\n",
    }[where]
    error = load_error(write(tmp_path, text))
    assert f"YAML tag '{tag}" in str(error) and "is not allowed" in str(error)
    assert error.line == text.count("\n")
    assert not marker.exists()


def test_alias_bomb_is_refused_at_its_first_alias(tmp_path: Path) -> None:
    lines = ["version: 1", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(ord("b"), ord("j") + 1):
        prev = chr(i - 1)
        lines.append(f"{chr(i)}: &{chr(i)} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines.append("description: *j")
    error = load_error(write(tmp_path, "\n".join(lines) + "\n"))
    # Named at line 3, the first use of an alias: the document is never expanded (a billion "lol"s).
    assert "YAML aliases are not allowed (*a)" in str(error) and error.line == 3


def test_any_alias_is_refused(tmp_path: Path) -> None:
    text = "version: 1\ndefaults:\n  trigger-backup: &opts {retention_days: 7}\n  resume-protection: *opts\n"
    error = load_error(write(tmp_path, text))
    assert error.line == 4 and "*opts" in str(error)


def test_ten_mib_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"version: 1\n" + b"#" * (10 << 20))
    error = load_error(path)
    assert f"over the {MAX_FILE_BYTES}-byte limit" in str(error) and str(error).startswith(f"{path}: ")


def test_just_over_the_cap_is_refused_and_just_under_loads(tmp_path: Path) -> None:
    head = b"version: 1\n#"
    path = tmp_path / "edge.yaml"
    path.write_bytes(head + b"x" * (MAX_FILE_BYTES - len(head)))
    assert load_playbook_file(path, schemas=SCHEMAS).version == 1
    path.write_bytes(head + b"x" * (MAX_FILE_BYTES - len(head) + 1))
    assert "byte limit" in str(load_error(path))


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, "version: 1\ndescription: " + "[" * 50_000 + "\n"))
    assert "nested deeper than" in str(error) and error.line == 2


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"version: 1\nrules: []\n# caf\xe9\n", 3),  # Latin-1
        (b"\xff\xfev\x00e\x00r\x00", 1),  # UTF-16 with BOM
        (b"version: 1\ndescription: \xc3\x28\n", 2),  # broken UTF-8 sequence
    ],
)
def test_non_utf8_is_refused_with_its_line(tmp_path: Path, data: bytes, line: int) -> None:
    error = load_error(write(tmp_path, data))
    assert "not UTF-8 text" in str(error) and error.line == line


def test_utf8_bom_and_non_ascii_text_load(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeffversion: 1\ndescription: Sauvegarde répar\u00e9e ✓\n".encode())
    assert load_playbook_file(path, schemas=SCHEMAS).description == "Sauvegarde réparée ✓"


def test_huge_integer_is_an_error_not_a_crash(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, "version: 1\ndefaults:\n  trigger-backup: {retention_days: " + "9" * 5000 + "}\n"))
    assert error.line == 3 and len(str(error)) <= 500


# -- the wheel ----------------------------------------------------------------------------------------


def _setuptools_can_build() -> str | None:
    if importlib.util.find_spec("setuptools") is None:
        return "setuptools is not installed in this environment"
    import setuptools

    major = int(setuptools.__version__.split(".")[0])
    if major < 77:  # pyproject's SPDX license string needs setuptools >= 77
        return f"setuptools {setuptools.__version__} < 77 cannot build this project without build isolation"
    return None


def test_package_data_names_the_playbook_files() -> None:
    tomllib = pytest.importorskip("tomllib")  # 3.11+; the wheel test below covers 3.10 when it can build
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["azbackup_fix"]
    for name in BUILTIN_PLAYBOOK_FILES:
        assert any(fnmatch.fnmatch(f"playbook_files/{name}.yaml", p) for p in patterns), patterns


def test_wheel_contains_the_playbook_files(tmp_path: Path) -> None:
    reason = _setuptools_can_build()
    if reason:
        pytest.skip(reason)
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "azbackup_fix", src / "azbackup_fix", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        for name in BUILTIN_PLAYBOOK_FILES:
            content = archive.read(f"azbackup_fix/playbook_files/{name}.yaml")
            assert content == (TOP_LEVEL / f"{name}.yaml").read_bytes()


def test_option_constraints_are_checked_at_load_with_their_line(tmp_path: Path) -> None:
    from azbackup_fix.models.options import Option

    schemas = {"trigger-backup": {"mode": Option(str, "fast", enum=("fast", "slow")),
                                  "retention_days": Option(int, 30, minimum=1, maximum=9999)}}
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\ndefaults:\n  trigger-backup: {mode: quick}\n", encoding="utf-8")
    with pytest.raises(PlaybookFileError, match=r"p\.yaml:3: option 'mode' of 'trigger-backup' must be one of"):
        load_playbook_file(path, schemas=schemas)
    path.write_text("version: 1\ndefaults:\n  trigger-backup:\n    retention_days: 10000\n", encoding="utf-8")
    with pytest.raises(PlaybookFileError, match=r"p\.yaml:4: .*must be at most 9999, got 10000"):
        load_playbook_file(path, schemas=schemas)
    # The older (type, default) tuples still load, unconstrained.
    path.write_text("version: 1\ndefaults:\n  trigger-backup: {retention_days: 0}\n", encoding="utf-8")
    assert load_playbook_file(path, schemas={"trigger-backup": {"retention_days": (int, 30)}}).defaults
