"""Bad input changes nothing (issue 7, item 3): ``plan`` and ``apply --yes`` through the real CLI
entry point against the HTTPS sandbox (scenario rp-limit-locked, where a valid apply would
write), each bad input answered by one error line without a traceback, the documented exit code,
and not one write request in the sandbox's log. Also the Python API's unknown playbook ids and
option types, and non-UTF-8 arguments and files."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from azbackup_fix import Remediator, SandboxCredential
from azbackup_fix.cli.main import main
from azbackup_fix.errors import InvalidInputError
from azbackup_sandbox import Sandbox, SandboxServer
from azbackup_sandbox.core.control import subscription_ids
from tests.gateway.sandbox_arm import BROKEN, VM_RG, writes

OTHER_SUB = "00000000-0000-4000-8000-000000000001"
BAD_INPUTS: list[str] = []  # this test's bad inputs, handed to the session count at teardown


@pytest.fixture(autouse=True)
def _count(count_bad_inputs: Callable[[list[str]], None]) -> Iterator[None]:
    yield
    count_bad_inputs(list(BAD_INPUTS))
    BAD_INPUTS.clear()


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Sandbox(), clock_rate=0.0) as running:
        yield running


@pytest.fixture
def sub(server: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    for name in ("AZBACKUP_SUBSCRIPTION", "AZURE_SUBSCRIPTION_ID", "GITHUB_STEP_SUMMARY", "AZBACKUP_CLOUD",
                 "GITHUB_ACTIONS", "TF_BUILD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZBACKUP_ARM_ENDPOINT", server.endpoint)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_file)
    monkeypatch.setenv("IDENTITY_ENDPOINT", server.identity_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", server.identity_header)
    monkeypatch.setenv("AZBACKUP_JOURNAL", str(tmp_path / "journal.sqlite"))
    server.sandbox.load("rp-limit-locked")
    return subscription_ids(server.sandbox)[0]


def vm_id(sub: str, name: str = BROKEN) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{VM_RG}/providers/Microsoft.Compute/virtualMachines/{name}"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def assert_refused(server: SandboxServer, argv: list[str], code: int, message: str) -> None:
    BAD_INPUTS.append(" ".join(argv))
    before = server.sandbox.locks.to_dict()
    got, out, err = run(*argv)
    assert got == code, (argv, got, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("azbackup-fix"), err
    assert message.casefold() in err.casefold() and "Traceback" not in err, err
    assert writes(server.sandbox.requests()) == [], [r.operation for r in writes(server.sandbox.requests())]
    assert server.sandbox.locks.to_dict() == before


def _ids(sub: str) -> list[tuple[str, str]]:
    vm = vm_id(sub)
    base = f"/subscriptions/{sub}/resourceGroups/{VM_RG}"
    return [
        ("", "resource id"),
        ("   ", "resource id"),
        ("/subscriptions/x", "is not a GUID"),
        ("vm-app-01", "must start with '/subscriptions/'"),
        (vm[: vm.rfind("/")], ""),  # truncated: no VM name
        (vm[: vm.find("/providers")], ""),  # truncated to the resource group
        (f"/subscriptions/{sub}", ""),
        (vm + "/extensions/VMSnapshot", ""),  # a child of the VM, not a VM
        (f"{base}/providers/Microsoft.RecoveryServices/vaults/rsv-prod-eastus", ""),  # wrong type
        (f"{base}/providers/Microsoft.Compute/disks/osdisk", ""),
        (f"{base}/providers/Microsoft.Compute/virtualMachineScaleSets/vmss", ""),
        (vm.replace("/resourceGroups/", "/resourceGroups//"), ""),
        (vm.replace(BROKEN, "../vm-app-02"), ""),
        (vm.replace("virtualMachines", "virtualMachines\u200b"), ""),  # zero-width space
        ("/subscriptions/" + "a" * 5000, ""),
    ]


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_malformed_truncated_and_wrong_type_ids(server: SandboxServer, sub: str, command: str) -> None:
    extra = ["--yes"] if command == "apply" else []
    for text, message in _ids(sub):
        server.sandbox.clear_requests()
        argv = [command, *extra, "--vm", text]
        got, out, err = run(*argv)
        BAD_INPUTS.append(" ".join(argv))
        assert got == 2 and out == "", (text, got, out, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, (text, err)
        assert message.casefold() in err.casefold(), (text, err)
        assert writes(server.sandbox.requests()) == [], text


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_unknown_subscription_and_vm_in_another_subscription(server: SandboxServer, sub: str, command: str) -> None:
    extra = ["--yes"] if command == "apply" else []
    server.sandbox.clear_requests()
    assert_refused(server, [command, *extra, "--vm", vm_id(OTHER_SUB)], 2, "could not be found")
    assert_refused(server, [command, *extra, "--vm", vm_id(sub), "--subscription", OTHER_SUB], 2,
                   "not in --subscription")
    assert_refused(server, [command, *extra, "--subscription", OTHER_SUB], 2, "could not be found")
    assert_refused(server, [command, *extra, "--vm", vm_id(sub, "vm-nope")], 2, "does not exist")


HOSTILE_YAML: dict[str, tuple[bytes, str]] = {
    "unknown-playbook": (b"version: 1\nrules:\n  - match: {error_codes: [UserErrorRpCollectionLimitReached]}\n"
                         b"    playbooks: [no-such-playbook]\n", "unknown playbook 'no-such-playbook'"),
    "unknown-key": (b"version: 1\nrulez: []\n", "rulez"),
    "wrong-type": (b"version: 1\nguard_rails: {max_targets: lots}\n", "max_targets"),
    "wrong-option-type": (b"version: 1\ndefaults:\n  trigger-backup: {retention_days: forever}\n",
                          "retention_days"),
    "unknown-option": (b"version: 1\ndefaults:\n  clear-restore-point-limit: {delete_everything: true}\n",
                       "delete_everything"),
    "python-tag": (b"version: 1\ndescription: !!python/object/apply:os.system ['touch /tmp/azbf-pwned']\n",
                   "is not allowed"),
    "alias-bomb": (b'version: 1\na: &a ["x","x"]\nb: &b [*a,*a]\nc: [*b,*b]\n', "alias"),
    "truncated": (b"version: 1\nrules:\n  - match: {error_codes: [A", "invalid YAML"),
    "not-a-mapping": (b"- just\n- a list\n", "mapping"),
    "wrong-version": (b"version: 99\n", "version"),
    "non-utf8": (b"version: 1\ndescription: caf\xe9\n", "UTF-8"),
    "huge": (b"version: 1\ndescription: '" + b"x" * (11 * 1024 * 1024) + b"'\n", "limit"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_YAML))
def test_malformed_and_hostile_playbook_files(server: SandboxServer, sub: str, tmp_path: Path, name: str) -> None:
    data, message = HOSTILE_YAML[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(data)
    server.sandbox.clear_requests()
    assert_refused(server, ["apply", "--yes", "--vm", vm_id(sub), "--playbooks", str(path)], 2, message)
    assert_refused(server, ["plan", "--vm", vm_id(sub), "--playbooks", str(path)], 2, message)
    assert not Path("/tmp/azbf-pwned").exists()


def test_missing_playbook_file_and_directory(server: SandboxServer, sub: str, tmp_path: Path) -> None:
    server.sandbox.clear_requests()
    assert_refused(server, ["apply", "--yes", "--vm", vm_id(sub), "--playbooks", str(tmp_path / "nope.yaml")], 2,
                   "nope.yaml")
    assert_refused(server, ["apply", "--yes", "--vm", vm_id(sub), "--playbooks", str(tmp_path)], 2, str(tmp_path))


def test_conflicting_and_invalid_flags(server: SandboxServer, sub: str) -> None:
    server.sandbox.clear_requests()
    vm = vm_id(sub)
    assert_refused(server, ["apply", "--yes", "--vm", vm, "--sandbox", "healthy", "--arm-endpoint",
                            server.endpoint], 2, "exclude each other")
    assert_refused(server, ["apply", "--yes", "--vm", vm, "--arm-endpoint", "http://127.0.0.1:1"], 2, "https://")
    assert_refused(server, ["apply", "--yes", "--vm", vm, "--max-targets", "many"], 2, "invalid int")
    assert_refused(server, ["apply", "--yes", "--vm", vm, "--output", "yaml"], 2, "invalid choice")
    assert_refused(server, ["apply", "--yes", "--vm", vm, "--max-targets", "0"], 3, "exceed")
    assert_refused(server, ["apply", "--yes", "--vm", vm, "--no-such-flag"], 2, "unrecognized")


def test_non_utf8_arguments(server: SandboxServer, sub: str) -> None:
    # What Python makes of undecodable bytes in argv on a UTF-8 locale: lone surrogates.
    raw = b"/subscriptions/\xff\xfe/resourceGroups/rg".decode("utf-8", "surrogateescape")
    server.sandbox.clear_requests()
    assert_refused(server, ["apply", "--yes", "--vm", raw], 2, "is not a GUID")
    name = vm_id(sub).replace(BROKEN, b"vm-\xe9".decode("utf-8", "surrogateescape"))
    assert_refused(server, ["apply", "--yes", "--vm", name], 2, "")
    path = b"/tmp/pb-\xff.yaml".decode("utf-8", "surrogateescape")
    assert_refused(server, ["apply", "--yes", "--vm", vm_id(sub), "--playbooks", path], 2, "")


def test_python_api_unknown_playbook_and_bad_options_write_nothing(server: SandboxServer, sub: str,
                                                                   tmp_path: Path) -> None:
    server.sandbox.clear_requests()
    with Remediator(SandboxCredential(), sub, base_url=server.endpoint, connection_verify=server.ca_file,
                    journal_path=str(tmp_path / "j.sqlite"), polling_interval=0) as fix:
        for kwargs, message in (
            ({"playbooks": ["no-such-playbook"]}, "no-such-playbook"),
            ({"options": {"clear-restore-point-limit": {"restore_point_limit": "18"}}}, "must be int"),
            ({"options": {"clear-restore-point-limit": {"bogus": 1}}}, "no option 'bogus'"),
        ):
            BAD_INPUTS.append(f"Remediator.run({kwargs})")
            with pytest.raises(InvalidInputError, match=message):
                fix.run(vm_id(sub), apply=True, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            fix.run(vm_id(OTHER_SUB), apply=True)
    assert writes(server.sandbox.requests()) == []

