"""Every ARM error Microsoft.RecoveryServices (IaaS VM backup) raises in the sandbox, one factory per code.

Codes are the service's BMS codes where recordings or docs show them; those marked [K] are our guess
at the service's name (clients should match on HTTP status and code, and the guesses are kept here in
one place to correct). A missing vault is the gateway's ResourceNotFound (`core.errors`)."""

from __future__ import annotations

from ...core.errors import ArmError

__all__ = [
    "object_not_found",
    "fabric_not_found",
    "item_not_found",
    "operation_not_found",
    "policy_not_found",
    "job_not_found",
    "job_not_cancellable",
    "job_not_in_progress",
    "invalid_filter",
    "invalid_input",
    "invalid_source_resource",
    "on_demand_limit_reached",
]


def object_not_found(message: str) -> ArmError:
    return ArmError(404, "BMSUserErrorObjectNotFound", message)


def fabric_not_found(fabric: str) -> ArmError:
    return object_not_found(f"Fabric '{fabric}' was not found in the vault.")


def item_not_found(container: str, name: str) -> ArmError:
    return object_not_found(f"Item not found. Protected item '{name}' does not exist in container '{container}'.")


def operation_not_found(op_id: str) -> ArmError:
    return ArmError(404, "BMSUserErrorOperationNotFound", f"Operation '{op_id}' was not found.")


def policy_not_found(name: str) -> ArmError:
    return ArmError(404, "BMSUserErrorPolicyNotFound", f"Policy '{name}' was not found in the vault.")


def job_not_found(job_id: str) -> ArmError:
    return ArmError(404, "BMSUserErrorJobNotFound", f"Job '{job_id}' was not found in the vault.")


def job_not_cancellable(job_id: str, status: str) -> ArmError:
    return ArmError(
        400, "BMSUserErrorJobNotCancellable",  # code guessed [K]
        f"The job '{job_id}' cannot be cancelled: it is {status} and only a backup in its snapshot phase can "
        "be cancelled.",
    )


def job_not_in_progress(job_id: str) -> ArmError:
    """Guide 001's jobs table: "Backup can't cancel the job because it isn't in progress: Cancellation is
    supported only for jobs in progress" -- a transitory state [D]; the code is our guess [K]."""
    return ArmError(
        400, "BMSUserErrorJobNotInProgress",
        f"Backup can't cancel the job '{job_id}' because it isn't in progress. Cancellation is supported only "
        "for jobs in progress. Try to cancel an in-progress job.",
    )


def invalid_filter(message: str) -> ArmError:
    return ArmError(400, "BMSUserErrorInvalidFilter", message)


def invalid_input(message: str) -> ArmError:
    return ArmError(400, "BMSUserErrorInvalidInput", message)


def invalid_source_resource(source: str) -> ArmError:
    return ArmError(400, "BMSUserErrorInvalidSourceResourceId",
                    f"The source resource '{source}' is not a virtual machine that can be protected.")


def on_demand_limit_reached(item_name: str, limit: int) -> ArmError:
    """The trigger POST refused: the support matrix documents "up to nine on-demand backups per day" for
    Azure VMs [D] (backup-support-matrix-iaas); neither the code nor the wording of the refusal is
    documented, so both are our guess [K], and so is answering the POST (not failing a job)."""
    return ArmError(
        400, "BMSUserErrorOnDemandBackupLimitReached",
        f"The maximum number of on-demand backups per day ({limit}) has been reached for the item "
        f"'{item_name}'. Retry after 00:00 UTC or wait for the scheduled backup.",
    )
