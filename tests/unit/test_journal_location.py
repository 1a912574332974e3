"""Which journals are files and which are Blob Storage containers (issue 16, item 1): every supported URL
form, and one line (exit 2, nothing created, nothing sent) for anything else that looks like a URL."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from azbackup_fix.cli.main import main
from azbackup_fix.errors import InvalidInputError
from azbackup_fix.journal import (
    BlobLocation,
    Journal,
    JournalError,
    journal_exists,
    open_journal,
    parse_location,
)
from azbackup_fix.runbook import main as runbook_main

ACCEPTED = {
    "https://acct01.blob.core.windows.net/journal": ("https://acct01.blob.core.windows.net", "acct01", "journal", ""),
    "https://acct01.blob.core.windows.net/journal/prod/eastus/": (
        "https://acct01.blob.core.windows.net", "acct01", "journal", "prod/eastus/"),
    "https://acct01.blob.core.chinacloudapi.cn/journal": (
        "https://acct01.blob.core.chinacloudapi.cn", "acct01", "journal", ""),
    "https://acct01.blob.core.usgovcloudapi.net/j-1": ("https://acct01.blob.core.usgovcloudapi.net", "acct01", "j-1", ""),
    "https://acct01.blob.local.azurestack.external/journal": (
        "https://acct01.blob.local.azurestack.external", "acct01", "journal", ""),
    "https://127.0.0.1:10000/devstoreaccount1/journal/p": (
        "https://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1", "journal", "p/"),
    "https://stack.example.com:443/acct01/journal": ("https://stack.example.com:443/acct01", "acct01", "journal", ""),
    "https://localhost/devstoreaccount1/journal": ("https://localhost/devstoreaccount1", "devstoreaccount1",
                                                  "journal", ""),
}

REFUSED = {
    "http://acct01.blob.core.windows.net/journal": "only https://",
    "https://acct01.blob.core.windows.net/journal?sv=2024&sig=abc": "no query string or SAS",
    "https://acct01.blob.core.windows.net/": "no container",
    "https://acct01.blob.core.windows.net/Journal": "not a container name",
    "https://acct01.blob.core.windows.net/a--b": "not a container name",
    "https://acct01.file.core.windows.net/share/dir": "not a Blob Storage URL",
    "https://example.com/acct01/journal": "not a Blob Storage URL",
    "https://127.0.0.1:10000/devstoreaccount1": "no container",
    "https://127.0.0.1:10000/Dev_Account/journal": "not a storage account name",
    "https://acct01.blob.core.windows.net/journal/../x": "is not allowed",
    "https://user:pw@acct01.blob.core.windows.net/journal": "no user name or password",
    "s3://bucket/journal": "only https://",
    "https:journal.sqlite": "not a Blob Storage URL",
}


@pytest.mark.parametrize("url", sorted(ACCEPTED))
def test_container_urls_are_blob_locations(url: str) -> None:
    where = parse_location(url)
    assert isinstance(where, BlobLocation)
    assert (where.account_url, where.account, where.container, where.prefix) == ACCEPTED[url]
    assert parse_location(where.url) == where  # the normalised URL names the same place


@pytest.mark.parametrize("url", sorted(REFUSED))
def test_anything_else_that_looks_like_a_url_is_refused_in_one_line(url: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse_location(url)
    assert REFUSED[url] in str(refused.value) and "\n" not in str(refused.value)
    assert "sig=abc" not in str(refused.value)  # a SAS signature is never echoed


@pytest.mark.parametrize("path", ["journal.sqlite", "/var/lib/azbackup-fix/journal.sqlite", r"C:\state\journal.sqlite",
                                  "~/journal.sqlite", "./odd:name.sqlite"])
def test_paths_stay_paths(path: str) -> None:
    assert parse_location(path) == path


def test_open_journal_picks_the_backend(tmp_path: Path) -> None:
    with open_journal(tmp_path / "j.sqlite") as journal:
        assert isinstance(journal, Journal)
    assert journal_exists(str(tmp_path / "j.sqlite")) and not journal_exists(str(tmp_path / "none.sqlite"))
    assert journal_exists("https://acct01.blob.core.windows.net/journal")  # a container is asked when opened
    with pytest.raises(InvalidInputError, match="needs a credential"):
        open_journal("https://acct01.blob.core.windows.net/journal")


def test_without_the_blob_extra_the_journal_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azure.storage.blob", None)  # as if azure-storage-blob were not installed
    with pytest.raises(JournalError, match=r"needs the 'blob' extra: pip install 'azbackup-fix\[blob\]'"):
        open_journal("https://acct01.blob.core.windows.net/journal", credential=object())


def test_the_grace_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZBACKUP_JOURNAL_GRACE", "soon")
    with pytest.raises(InvalidInputError, match="AZBACKUP_JOURNAL_GRACE must be a number"):
        open_journal("https://acct01.blob.core.windows.net/journal", credential=object())


def test_the_cli_refuses_a_bad_journal_url_before_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (["recover", "--journal", "https://example.com/journal"],
                 ["diagnose", "--sandbox", "rp-limit-locked", "--journal", "http://acct01.blob.core.windows.net/j1"]):
        out, err = io.StringIO(), io.StringIO()
        assert main(args, stdout=out, stderr=err) == 2
        lines = err.getvalue().splitlines()
        assert len(lines) == 1 and lines[0].startswith("azbackup-fix: error: journal '"), err.getvalue()
        assert out.getvalue() == ""
    monkeypatch.setenv("AZBACKUP_JOURNAL", "https://example.com/journal")
    err = io.StringIO()
    assert main(["diagnose", "--sandbox", "rp-limit-locked"], stdout=io.StringIO(), stderr=err) == 2
    assert "not a Blob Storage URL" in err.getvalue()
    assert list(tmp_path.iterdir()) == []  # no folder named 'https:'


def test_the_runbook_refuses_a_bad_journal_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    code = runbook_main(["--subscription", "00000000-0000-0000-0000-000000000001", "--mode", "scan",
                         "--journal", "https://example.com/journal"], stdout=out, stderr=err)
    assert code == 2 and err.getvalue().count("\n") == 1 and "not a Blob Storage URL" in err.getvalue()
    assert list(tmp_path.iterdir()) == []
