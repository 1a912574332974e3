"""Every ARM error Microsoft.Automation raises in the sandbox, one factory per code."""

from __future__ import annotations

from ...core.errors import ArmError

__all__ = ["account_not_found", "bad_job", "concurrent_jobs_reached", "job_not_found", "not_published",
           "runbook_not_found", "stream_not_found", "submissions_throttled", "webhook_not_found",
           "webhook_token_invalid"]


def account_not_found(name: str, group: str) -> ArmError:
    return ArmError(404, "ResourceNotFound",
                    f"The Resource 'Microsoft.Automation/automationAccounts/{name}' under resource group "
                    f"'{group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix")


def runbook_not_found(name: str) -> ArmError:
    return ArmError(404, "NotFound", f"The Runbook '{name}' was not found.")


def not_published(name: str) -> ArmError:
    return ArmError(400, "BadRequest", f"Runbook '{name}' is not published. Publish the runbook before starting it.")


def job_not_found(name: str) -> ArmError:
    return ArmError(404, "NotFound", f"The job '{name}' was not found.")


def stream_not_found(stream_id: str) -> ArmError:
    return ArmError(404, "NotFound", f"The job stream '{stream_id}' was not found.")


def webhook_not_found(name: str) -> ArmError:
    return ArmError(404, "NotFound", f"The webhook '{name}' was not found.")


def webhook_token_invalid() -> ArmError:
    return ArmError(404, "NotFound", "The webhook was not found, is disabled or has expired.")


def bad_job(message: str) -> ArmError:
    return ArmError(400, "BadRequest", message)


def concurrent_jobs_reached(limit: int) -> ArmError:
    # Automation's limits page: when the account's concurrent-jobs limit is reached, "the subsequent
    # requests to create a job fail. The client receives an error response."
    return ArmError(409, "Conflict",
                    f"The Automation account has reached its limit of {limit} concurrently running jobs. "
                    "Wait for running jobs to finish, or request a quota increase.")


def submissions_throttled(limit: int, window: float, retry_after: str) -> ArmError:
    return ArmError(429, "TooManyRequests",
                    f"More than {limit} jobs were submitted to this Automation account in {window:g} seconds. "
                    "Retry after the time in the Retry-After header.", headers={"Retry-After": retry_after})
