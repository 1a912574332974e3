"""YAML playbook files: which playbooks answer which error codes, with options and guard rails.

Format, version 1 (``playbooks/default.yaml`` is the annotated reference)::

    version: 1                       # required; the only version this code reads
    description: free text           # optional
    writes_allowed: true             # false: triage routes nothing (report only)
    guard_rails:
      max_targets: 50                # refuse runs over more targets (null: no limit)
      allow_disruptive: false        # rules that `require` it are skipped unless true
      allow_protection_changes: false
      allow_network_changes: false   # one key per guard rail (models.rails.GUARD_RAILS)
      allow_guest_changes: false
      allow_permission_changes: false
      allow_extension_changes: false
    defaults:                        # per-playbook options for every rule
      trigger-backup: {retention_days: 30}
    rules:                           # applied in file order (earlier = higher priority)
      - name: restore point limit    # optional, for reports
        match:
          error_codes: [UserErrorRpCollectionLimitReached]   # job errorTitles
          finding_codes: [RestorePointResourceGroupLocked]   # cause codes from the checks
          unless_codes: []                                   # skip the rule if any is present
        requires: []                 # guard rails that must be true for the rule to apply
        playbooks: [clear-restore-point-limit, trigger-backup]   # [] = report only
        options:                     # only for playbooks this rule lists
          trigger-backup: {retention_days: 30}

Codes match case-insensitively and through the catalogue's aliases (``ExtentionOperationFailed``
is ``ExtensionOperationFailedForManagedDisks``); ``error_codes`` and ``finding_codes`` are
matched alike (the failed job's errorTitle is a finding code) and differ only for readers.
Codes outside the catalogue are allowed (users add their own) but must be identifiers.

Loading is hostile-input safe: the file is capped at :data:`MAX_FILE_BYTES` before parsing,
must be UTF-8, is composed (never constructed) by PyYAML so no tag can build an object,
and aliases are refused outright, so an alias bomb cannot expand. Every problem raises
:class:`~azbackup_fix.errors.PlaybookFileError` naming the file, the line and the problem.
"""

from __future__ import annotations

import codecs
import difflib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from .checks.catalogue import Playbook, entry_for
from .errors import PlaybookFileError
from .models.options import Option, as_option
from .models.rails import GUARD_RAILS

__all__ = [
    "BUILTIN_PLAYBOOK_FILES",
    "FORMAT_VERSION",
    "MAX_FILE_BYTES",
    "GuardRails",
    "OptionSchemas",
    "PlaybookFile",
    "PlaybookRule",
    "builtin_playbook_file",
    "fold_code",
    "load_playbook_file",
]

FORMAT_VERSION = 1
MAX_FILE_BYTES = 1 << 20  # 1 MiB: the shipped file is ~5 KiB; anything near this is not a playbook file
BUILTIN_PLAYBOOK_FILES = ("default", "diagnose-only")
_MAX_DEPTH = 16  # the format nests 5 deep; bound the composer's recursion well below Python's
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$")
_GUARD_FLAGS = tuple(rail.name for rail in GUARD_RAILS)
_FALLBACK_IDS = (*Playbook.ALL, "inspect-vm")  # only when the registry cannot be imported

OptionSchemas = Mapping[str, Mapping[str, "Option | tuple[type, Any]"]]
Options = Mapping[str, Any]

_YAML = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_YAML + t for t in ("str", "int", "float", "bool", "null"))
_SEQ, _MAP = _YAML + "seq", _YAML + "map"
_SAFE = yaml.constructor.SafeConstructor()
# Stateless scalar constructors only: construct_object() would cache every node it sees.
_SCALARS = {_INT: _SAFE.construct_yaml_int, _FLOAT: _SAFE.construct_yaml_float, _BOOL: _SAFE.construct_yaml_bool}


def fold_code(code: str) -> str:
    """The matching key of a code: its catalogue entry's code (aliases resolved), case-folded."""
    entry = entry_for(code)
    return (entry.code if entry is not None else code.strip()).casefold()


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class GuardRails:
    """Limits the runner enforces; one flag per guard rail (models.rails.GUARD_RAILS), which also gate
    rules that ``require`` them."""

    max_targets: int | None = 50  # None: no limit
    allow_disruptive: bool = False  # e.g. restarting a VM
    allow_protection_changes: bool = False  # resume protection, stop protection (retaining data)
    allow_network_changes: bool = False  # an outbound NSG rule to the region's storage
    allow_guest_changes: bool = False  # settings and services inside the guest (Run Command)
    allow_permission_changes: bool = False  # Key Vault access for the Backup Management Service
    allow_extension_changes: bool = False  # re-run or remove a failed extension that is not the backup one

    def allows(self, flag: str) -> bool:
        return bool(getattr(self, flag))


@dataclass(frozen=True, slots=True)
class PlaybookRule:
    """One ``rules:`` entry: when any code is present (and no ``unless`` code), route ``playbooks``."""

    error_codes: tuple[str, ...] = ()
    finding_codes: tuple[str, ...] = ()
    playbooks: tuple[str, ...] = ()  # empty: report only
    options: Mapping[str, Options] = field(default_factory=lambda: MappingProxyType({}))
    unless_codes: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()  # guard-rail flags that must be true
    name: str | None = None
    line: int | None = None  # where the rule starts in its file

    @property
    def codes(self) -> tuple[str, ...]:
        return (*self.error_codes, *self.finding_codes)

    def matches(self, code: str) -> bool:
        """Whether ``code`` is one this rule listens to (ignores ``unless`` and ``requires``)."""
        key = fold_code(code)
        return any(fold_code(c) == key for c in self.codes)

    def matched(self, present: Iterable[str]) -> tuple[str, ...]:
        """The codes of ``present`` that trigger this rule (in ``present``'s order); () if none or vetoed."""
        present = tuple(present)
        keys = {fold_code(c) for c in self.codes}
        vetoes = {fold_code(c) for c in self.unless_codes}
        if any(fold_code(c) in vetoes for c in present):
            return ()
        return tuple(c for c in present if fold_code(c) in keys)


@dataclass(frozen=True, slots=True)
class PlaybookFile:
    path: str
    version: int
    rules: tuple[PlaybookRule, ...]
    defaults: Mapping[str, Options]
    guard_rails: GuardRails
    writes_allowed: bool
    description: str | None = None

    def rules_for(self, code: str) -> tuple[PlaybookRule, ...]:
        """Rules listening to ``code`` (the file's coverage of a catalogue row)."""
        return tuple(r for r in self.rules if r.matches(code))

    @property
    def playbook_ids(self) -> tuple[str, ...]:
        """Every playbook some rule can route, first mention first."""
        return tuple(dict.fromkeys(p for r in self.rules for p in r.playbooks))

    @property
    def unknown_codes(self) -> tuple[str, ...]:
        """Codes the rules name that the catalogue does not know (a typo never matches: show these)."""
        codes = (c for r in self.rules for c in (*r.codes, *r.unless_codes))
        return tuple(dict.fromkeys(c for c in codes if entry_for(c) is None))


# -- parsing --------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """Composes nodes only; refuses aliases (alias bombs) and deep nesting (recursion bombs)."""

    def __init__(self, stream: str, file: str) -> None:
        super().__init__(stream)
        self._file = file
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise PlaybookFileError(
                self._file, f"YAML aliases are not allowed (*{event.anchor}); write the value out",
                line=event.start_mark.line + 1,
            )
        self._depth += 1
        try:
            if self._depth > _MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise PlaybookFileError(self._file, f"nested deeper than {_MAX_DEPTH} levels", line=mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _read(path: str | os.PathLike[str] | None) -> tuple[str, bytes]:
    if path is None:
        resource = resources.files("azbackup_fix") / "playbook_files" / "default.yaml"
        return str(resource), resource.read_bytes()
    name = os.fspath(path)
    try:
        size = os.stat(name).st_size
        if size > MAX_FILE_BYTES:
            raise PlaybookFileError(name, f"file is {size} bytes, over the {MAX_FILE_BYTES}-byte limit")
        with open(name, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # stat lies for pipes and devices
    except PlaybookFileError:
        raise
    except FileNotFoundError:
        raise PlaybookFileError(name, "file not found") from None
    except IsADirectoryError:
        raise PlaybookFileError(name, "is a directory, not a playbook file") from None
    except OSError as exc:
        raise PlaybookFileError(name, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise PlaybookFileError(name, f"file is over the {MAX_FILE_BYTES}-byte limit")
    return name, data


def _decode(file: str, data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise PlaybookFileError(file, f"not UTF-8 text (byte 0x{data[exc.start]:02x})", line=line) from None


def _compose(file: str, text: str) -> yaml.Node | None:
    loader: _Loader | None = None
    try:
        loader = _Loader(text, file)  # the reader checks every character here
        root = loader.get_single_node()
        # "---" with nothing after it is a null document: as empty as an empty file.
        return None if root is not None and root.tag == _NULL and not root.value else root
    except PlaybookFileError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise PlaybookFileError(file, f"invalid YAML: {problem}", line=mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        raise PlaybookFileError(file, f"invalid YAML: control character U+{char:04X} is not allowed", line=line) from None
    except yaml.YAMLError as exc:
        raise PlaybookFileError(file, f"invalid YAML: {exc}") from None
    except RecursionError:
        raise PlaybookFileError(file, "invalid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_YAML):] if tag.startswith(_YAML) else tag


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _describe(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", type(None): "null",
             list: "a list", dict: "a mapping"}
    return names.get(type(value), type(value).__name__)


class _Parser:
    """Walks the composed node tree, so every problem knows its line."""

    def __init__(self, file: str, known_playbooks: Iterable[str], schemas: OptionSchemas | None) -> None:
        self.file = file
        self.known = tuple(known_playbooks)
        self.schemas = schemas

    def fail(self, node: yaml.Node | None, problem: str) -> PlaybookFileError:
        line = node.start_mark.line + 1 if node is not None else None
        return PlaybookFileError(self.file, problem, line=line)

    # -- generic values -------------------------------------------------------------------------

    def plain(self, node: yaml.Node) -> Any:
        """A plain value: scalar, list or mapping of plain values; any other tag is refused."""
        if node.tag not in (_STR, _INT, _FLOAT, _BOOL, _NULL, _SEQ, _MAP):
            raise self.fail(node, f"YAML tag '{_show_tag(node.tag)}' is not allowed: playbook files are plain data")
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR:
                return node.value
            if node.tag == _NULL:
                return None
            try:
                return _SCALARS[node.tag](node)
            except (yaml.YAMLError, ValueError):
                raise self.fail(node, f"'{node.value}' is not a valid {_show_tag(node.tag)}") from None
        if isinstance(node, yaml.SequenceNode):
            return [self.plain(item) for item in node.value]
        return {key: self.plain(value) for key, (_, value) in self.mapping(node, "value").items()}

    def mapping(
        self, node: yaml.Node, what: str, allowed: Iterable[str] | None = None
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if node.tag != _MAP or not isinstance(node, yaml.MappingNode):
            self.plain(node)  # a forbidden tag is the clearer message
            raise self.fail(node, f"{what} must be a mapping, got {_describe(self.plain(node))}")
        allowed = tuple(allowed) if allowed is not None else None
        found: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if key_node.tag != _STR or not isinstance(key_node, yaml.ScalarNode):
                self.plain(key_node)
                raise self.fail(key_node, f"keys in {what} must be strings, got {_describe(self.plain(key_node))}")
            key = key_node.value
            if key in found:
                first = found[key][0].start_mark.line + 1
                raise self.fail(key_node, f"duplicate key '{key}' in {what} (first at line {first})")
            if allowed is not None and key not in allowed:
                raise self.fail(
                    key_node,
                    f"unknown key '{key}' in {what}{_suggest(key, allowed)} (allowed: {', '.join(allowed)})",
                )
            found[key] = (key_node, value_node)
        return found

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if node.tag != _SEQ or not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list, got {_describe(self.plain(node))}")
        return list(node.value)

    def string(self, node: yaml.Node, what: str) -> str:
        value = self.plain(node)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(node, f"{what} must be a non-empty string, got {_describe(value)}")
        return value.strip()

    def boolean(self, node: yaml.Node, what: str) -> bool:
        value = self.plain(node)
        if not isinstance(value, bool):
            raise self.fail(node, f"{what} must be true or false, got {_describe(value)}")
        return value

    # -- the format -----------------------------------------------------------------------------

    def playbook_id(self, node: yaml.Node, what: str) -> str:
        pid = self.string(node, what)
        if pid not in self.known:
            raise self.fail(node, f"unknown playbook '{pid}'{_suggest(pid, self.known)} (known: {', '.join(self.known)})")
        return pid

    def codes(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        codes: dict[str, None] = {}
        for item in self.sequence(node, what):
            code = self.string(item, f"each entry of {what}")
            if not _CODE.match(code):
                raise self.fail(item, f"'{code}' in {what} is not an error code (letters, digits, '_', '.', '-')")
            if code.casefold() in {c.casefold() for c in codes}:
                raise self.fail(item, f"'{code}' is listed twice in {what}")
            codes[code] = None
        return tuple(codes)

    def option_value(self, node: yaml.Node, pid: str, name: str) -> Any:
        value = self.plain(node)
        if self.schemas is None:
            return tuple(value) if isinstance(value, list) else value
        spec = as_option(self.schemas[pid][name])
        typ = spec.type
        if value is None and spec.default is None:
            return None
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif typ in (tuple, list) and isinstance(value, list):
            value = tuple(value)
        if typ is int and isinstance(value, bool):
            ok = False
        else:
            ok = isinstance(typ, type) and isinstance(value, typ)
        if not ok:
            raise self.fail(
                node, f"option '{name}' of '{pid}' must be {getattr(typ, '__name__', typ)}, got {_describe(value)}"
            )
        problem = spec.problem(value)  # the same constraint check as options given from Python
        if problem is not None:
            raise self.fail(node, f"option '{name}' of '{pid}' {problem}")
        return value

    def options(self, node: yaml.Node, pid: str, what: str) -> Options:
        found = self.mapping(node, what, None if self.schemas is None else tuple(self.schemas.get(pid, {})))
        return _frozen({name: self.option_value(value, pid, name) for name, (_, value) in found.items()})

    def per_playbook_options(self, node: yaml.Node, what: str, allowed_ids: tuple[str, ...] | None = None) -> Mapping:
        result: dict[str, Options] = {}
        for pid, (key_node, value_node) in self.mapping(node, what).items():
            self.playbook_id(key_node, f"a key of {what}")
            if allowed_ids is not None and pid not in allowed_ids:
                raise self.fail(key_node, f"options for '{pid}', which this rule's playbooks do not list")
            result[pid] = self.options(value_node, pid, f"the options of '{pid}'")
        return _frozen(result)

    def guard_rails(self, node: yaml.Node) -> GuardRails:
        found = self.mapping(node, "guard_rails", ("max_targets", *_GUARD_FLAGS))
        values: dict[str, Any] = {}
        if "max_targets" in found:
            value_node = found["max_targets"][1]
            value = self.plain(value_node)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise self.fail(value_node, f"max_targets must be a whole number of at least 1 or null, got {value!r}")
            values["max_targets"] = value
        for flag in _GUARD_FLAGS:
            if flag in found:
                values[flag] = self.boolean(found[flag][1], flag)
        return GuardRails(**values)

    def rule(self, node: yaml.Node, index: int) -> PlaybookRule:
        what = f"rule {index + 1}"
        found = self.mapping(node, what, ("name", "match", "requires", "playbooks", "options"))
        for required in ("match", "playbooks"):
            if required not in found:
                raise self.fail(node, f"{what} has no '{required}'")
        match = self.mapping(found["match"][1], f"the match of {what}", ("error_codes", "finding_codes", "unless_codes"))
        codes = {key: self.codes(value, key) for key, (_, value) in match.items()}
        if not codes.get("error_codes") and not codes.get("finding_codes"):
            raise self.fail(found["match"][1], f"the match of {what} names no error_codes or finding_codes")
        playbooks: list[str] = []
        for item in self.sequence(found["playbooks"][1], f"the playbooks of {what}"):
            pid = self.playbook_id(item, f"each playbook of {what}")
            if pid in playbooks:
                raise self.fail(item, f"playbook '{pid}' is listed twice in {what}")
            playbooks.append(pid)
        requires: list[str] = []
        if "requires" in found:
            for item in self.sequence(found["requires"][1], f"the requires of {what}"):
                flag = self.string(item, f"each entry of the requires of {what}")
                if flag not in _GUARD_FLAGS:
                    raise self.fail(item, f"unknown guard rail '{flag}'{_suggest(flag, _GUARD_FLAGS)} "
                                          f"(requires takes: {', '.join(_GUARD_FLAGS)})")
                requires.append(flag)
        options: Mapping[str, Options] = MappingProxyType({})
        if "options" in found:
            options = self.per_playbook_options(found["options"][1], f"the options of {what}", tuple(playbooks))
        return PlaybookRule(
            error_codes=codes.get("error_codes", ()),
            finding_codes=codes.get("finding_codes", ()),
            unless_codes=codes.get("unless_codes", ()),
            playbooks=tuple(playbooks),
            options=options,
            requires=tuple(dict.fromkeys(requires)),
            name=self.string(found["name"][1], f"the name of {what}") if "name" in found else None,
            line=node.start_mark.line + 1,
        )

    def document(self, root: yaml.Node) -> PlaybookFile:
        if root.tag != _MAP or not isinstance(root, yaml.MappingNode):
            self.plain(root)
            raise self.fail(root, f"the top level must be a mapping with 'version: {FORMAT_VERSION}', "
                                  f"got {_describe(self.plain(root))}")
        found = self.mapping(
            root, "the top level", ("version", "description", "writes_allowed", "guard_rails", "defaults", "rules")
        )
        if "version" not in found:
            raise self.fail(root, f"missing 'version: {FORMAT_VERSION}' at the top level")
        version_node = found["version"][1]
        version = self.plain(version_node)
        if version != FORMAT_VERSION or isinstance(version, bool):
            raise self.fail(version_node, f"unsupported version {version!r}; this azbackup-fix reads version {FORMAT_VERSION}")
        rules: tuple[PlaybookRule, ...] = ()
        if "rules" in found:
            rules = tuple(self.rule(item, i) for i, item in enumerate(self.sequence(found["rules"][1], "rules")))
        return PlaybookFile(
            path=self.file,
            version=FORMAT_VERSION,
            rules=rules,
            defaults=self.per_playbook_options(found["defaults"][1], "defaults") if "defaults" in found
            else MappingProxyType({}),
            guard_rails=self.guard_rails(found["guard_rails"][1]) if "guard_rails" in found else GuardRails(),
            writes_allowed=self.boolean(found["writes_allowed"][1], "writes_allowed") if "writes_allowed" in found
            else True,
            description=self.string(found["description"][1], "description") if "description" in found else None,
        )


def _registry_schemas() -> OptionSchemas | None:
    try:
        from .playbooks.registry import option_schemas

        return option_schemas()
    except ImportError:  # no registry (a trimmed install): fall back to the catalogue's ids
        return None


def builtin_playbook_file(name: str) -> str:
    """The packaged file ``name`` (``default`` or ``diagnose-only``) as a path for :func:`load_playbook_file`."""
    if name not in BUILTIN_PLAYBOOK_FILES:
        raise PlaybookFileError(name, f"no built-in playbook file '{name}' (built in: {', '.join(BUILTIN_PLAYBOOK_FILES)})")
    return str(resources.files("azbackup_fix") / "playbook_files" / f"{name}.yaml")


def load_playbook_file(
    path: str | os.PathLike[str] | None = None, *, schemas: OptionSchemas | None = None
) -> PlaybookFile:
    """Read and validate a playbook file (``None``: the packaged ``default.yaml``).

    ``schemas`` maps playbook id -> option name -> (type, default); by default the playbook
    registry's. Raises :class:`PlaybookFileError` (exit code 2) on any problem.
    """
    file, data = _read(path)
    if schemas is None:
        schemas = _registry_schemas()
    known = tuple(schemas) if schemas is not None else _FALLBACK_IDS
    text = _decode(file, data)
    root = _compose(file, text)
    if root is None:
        raise PlaybookFileError(file, f"the file is empty; it needs at least 'version: {FORMAT_VERSION}'")
    return _Parser(file, known, schemas).document(root)
