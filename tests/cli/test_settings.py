"""Settings: the only reader of the environment, given a mapping here."""

from __future__ import annotations

import pytest

from azbackup_fix import InvalidInputError, Settings


def test_from_env_reads_our_variables() -> None:
    settings = Settings.from_env({
        "AZBACKUP_ARM_ENDPOINT": " https://127.0.0.1:8443 ", "AZBACKUP_CLOUD": "AzureChinaCloud",
        "AZURE_SUBSCRIPTION_ID": "sub-from-azure", "AZBACKUP_RETRY_AFTER_CAP": "5",
        "REQUESTS_CA_BUNDLE": "/tmp/ca.pem", "GITHUB_STEP_SUMMARY": "",
    })
    assert settings == Settings(arm_endpoint="https://127.0.0.1:8443", cloud="AzureChinaCloud",
                                subscription_id="sub-from-azure", retry_after_cap=5.0, ca_bundle="/tmp/ca.pem")
    assert Settings.from_env({"AZBACKUP_SUBSCRIPTION": "ours", "AZURE_SUBSCRIPTION_ID": "theirs"}).subscription_id == "ours"
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize("value", ["soon", "-1"])
def test_bad_retry_after_cap_is_bad_input(value: str) -> None:
    with pytest.raises(InvalidInputError):
        Settings.from_env({"AZBACKUP_RETRY_AFTER_CAP": value})
