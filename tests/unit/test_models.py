"""Model behaviour and the diagnosis JSON schema round trip."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from azbackup_fix.errors import InvalidInputError
from azbackup_fix.ids import LockRef, ResourceId, VmRef
from azbackup_fix.models import (
    DIAGNOSIS_JSON_SCHEMA,
    DIAGNOSIS_SCHEMA,
    Diagnosis,
    Evidence,
    Extension,
    Finding,
    Lock,
    LockLevel,
    Severity,
    VirtualMachine,
    VmAgentStatus,
)

SUB = "11111111-2222-3333-4444-555555555555"
VM = VmRef(SUB, "rg", "vm1")


def _diagnosis() -> Diagnosis:
    return Diagnosis(
        target=VM.id,
        findings=(
            Finding(
                code="UserErrorRpCollectionLimitReached",
                severity=Severity.ERROR,
                title="18 restore points\nreach the limit",
                evidence=(Evidence("restore points", 18), Evidence("locked", True), Evidence("notes", None),
                          Evidence("ratio", 1.5)),
                guide="000",
                guide_section="usererrorrpcollectionlimitreached---the-restore-point-collection-max-limit-has-reached",
                playbooks=("clear-restore-point-limit",),
            ),
            Finding(code="VmAgentOutOfDate", severity="warning", title="old agent",
                    guest_steps=["Linux: update the agent"], playbooks=["clear-restore-point-limit"]),
        ),
        request_count=7,
        generated_at=datetime(2025, 1, 5, 2, 52, 9, tzinfo=timezone.utc),
    )


def test_diagnosis_json_round_trip() -> None:
    original = _diagnosis()
    text = json.dumps(original.to_dict())
    loaded = Diagnosis.from_dict(json.loads(text))
    assert loaded == original
    assert loaded.findings[0].evidence_value("restore points") == 18
    assert loaded.findings[0].evidence_value("locked") is True


def test_diagnosis_dict_shape_matches_documented_schema() -> None:
    data = _diagnosis().to_dict()
    assert data["schema"] == DIAGNOSIS_SCHEMA == "azbackup-fix/diagnosis/v1"
    assert set(DIAGNOSIS_JSON_SCHEMA["required"]) == set(data)
    finding_schema = DIAGNOSIS_JSON_SCHEMA["properties"]["findings"]["items"]
    for finding in data["findings"]:
        assert set(finding_schema["required"]) == set(finding)
        assert finding["severity"] in finding_schema["properties"]["severity"]["enum"]
    assert data["generated_at"] == "2025-01-05T02:52:09Z"
    assert data["summary"] == {"error": 1, "warning": 1, "info": 0}
    assert data["playbooks"] == ["clear-restore-point-limit"]  # deduplicated, first mention first
    assert data["findings"][0]["title"] == "18 restore points reach the limit"  # one line


def test_from_dict_rejects_other_schema() -> None:
    data = _diagnosis().to_dict()
    data["schema"] = "azbackup-fix/diagnosis/v0"
    with pytest.raises(InvalidInputError, match="expected a 'azbackup-fix/diagnosis/v1' document"):
        Diagnosis.from_dict(data)


def test_health_and_severity_views() -> None:
    d = _diagnosis()
    assert not d.is_healthy
    assert [f.code for f in d.errors] == ["UserErrorRpCollectionLimitReached"]
    assert [f.code for f in d.warnings] == ["VmAgentOutOfDate"]
    info_only = Diagnosis(VM.id, (Finding("BackupJobInProgress", Severity.INFO, "running"),), 0, d.generated_at)
    assert info_only.is_healthy


def test_models_are_frozen_and_use_tuples() -> None:
    f = Finding("X", Severity.INFO, "t", playbooks=["a"], evidence=[Evidence("k", "v")])
    assert isinstance(f.playbooks, tuple) and isinstance(f.evidence, tuple)
    with pytest.raises(AttributeError):
        f.code = "Y"  # type: ignore[misc]
    with pytest.raises(TypeError, match="evidence value must be"):
        Evidence("when", datetime.now())  # type: ignore[arg-type]


def test_backup_extension_found_by_publisher_and_type_not_name() -> None:
    renamed = Extension(name="whatever", publisher="microsoft.azure.recoveryservices", type="vmsnapshotlinux")
    assert renamed.is_backup_extension
    impostor = Extension(name="VMSnapshot", publisher="Contoso", type="VMSnapshot")
    assert not impostor.is_backup_extension
    workload = Extension(name="w", publisher="Microsoft.Azure.RecoveryServices.WorkloadBackup",
                         type="AzureBackupWindowsWorkload")
    assert not workload.is_backup_extension


def test_vm_normalises_power_state_and_reads_provisioning_error() -> None:
    vm = VirtualMachine(
        ref=VM, location="westeurope", power_state="PowerState/Deallocated", provisioning_state="failed",
        provisioning_status_code="ProvisioningState/failed/VMExtensionProvisioningError",
        agent=VmAgentStatus("Not Ready", "Unknown"),
    )
    assert vm.power_state == "deallocated" and not vm.is_running
    assert vm.provisioning_failed
    assert vm.provisioning_error_code == "VMExtensionProvisioningError"
    assert not vm.agent.is_ready and vm.agent.known_version is None


def test_lock_dict_round_trip_keeps_everything_needed_to_restore_it() -> None:
    lock = Lock(
        ref=LockRef(ResourceId(SUB, "AzureBackupRG_westeurope_1"), "keep"),
        level="readonly",  # type: ignore[arg-type]
        notes="do not touch",
        owners=["app-1"],
    )
    assert lock.level is LockLevel.READ_ONLY
    again = Lock.from_dict(json.loads(json.dumps(lock.to_dict())))
    assert again == lock
    assert again.resource_group == "AzureBackupRG_westeurope_1"
    with pytest.raises(InvalidInputError, match="is not CanNotDelete or ReadOnly"):
        LockLevel.parse("Sometimes")


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-02T08:32:40Z", datetime(2026, 11, 2, 8, 32, 40, tzinfo=timezone.utc)),
    ("2026-11-02T08:32:40.1234567+00:00", datetime(2026, 11, 2, 8, 32, 40, 123456, tzinfo=timezone.utc)),  # ARM
    ("2026-11-02T08:32:40.5Z", datetime(2026, 11, 2, 8, 32, 40, 500000, tzinfo=timezone.utc)),
    ("2026-11-02T10:32:40.25+02:00", datetime(2026, 11, 2, 8, 32, 40, 250000, tzinfo=timezone.utc)),
    ("2026-11-02T08:32:40", datetime(2026, 11, 2, 8, 32, 40, tzinfo=timezone.utc)),  # no offset: UTC
])
def test_parse_timestamp_reads_arm_forms_on_every_python(text: str, expected: datetime) -> None:
    from azbackup_fix.models import parse_timestamp

    parsed = parse_timestamp(text)
    assert parsed == expected and parsed is not None and parsed.utcoffset() is not None
