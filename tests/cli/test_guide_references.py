"""Issue 18 item 10: guide references read as the article's title and section, with a link
(not "Guide: 000 #anchor"); JSON keeps guide/guide_section and adds guide_title/guide_url."""

from __future__ import annotations

import io
import json
import re

from azbackup_fix.checks.catalogue import CATALOGUE, GUIDES
from azbackup_fix.cli.main import main
from azbackup_fix.models.guides import _SECTIONS

_AGENT_URL = "https://learn.microsoft.com/en-us/azure/backup/backup-azure-troubleshoot-vm-backup-fails-snapshot-timeout"
_RP = "usererrorrpcollectionlimitreached---the-restore-point-collection-max-limit-has-reached"


def _run(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), stdout=out, stderr=err), out.getvalue()


def test_every_catalogue_guide_and_section_has_a_title_and_url() -> None:
    for entry in CATALOGUE:
        if entry.guide:
            guide = GUIDES[entry.guide]
            assert guide.url.startswith("https://learn.microsoft.com/en-us/azure/backup/"), entry.code
            assert entry.guide_section in _SECTIONS, (entry.code, entry.guide_section)


def test_text_names_the_article_and_section_with_the_url() -> None:
    code, out = _run("diagnose", "--sandbox", "demo")
    assert code == 4
    assert not re.search(r"Guide: \d{3}", out), out
    assert ("Guide: Troubleshoot Azure Backup failure: Issues with the agent or extension, "
            "UserErrorRpCollectionLimitReached - The Restore Point collection max limit has reached") in out
    assert f"{_AGENT_URL}#{_RP}" in out


def test_markdown_links_the_article_and_section() -> None:
    code, out = _run("diagnose", "--sandbox", "demo", "--output", "markdown")
    assert code == 4
    assert not re.search(r"Guide: \d{3}", out)
    assert (f"- guide: [Troubleshoot Azure Backup failure: Issues with the agent or extension, "
            f"UserErrorRpCollectionLimitReached - The Restore Point collection max limit has reached]"
            f"({_AGENT_URL}#{_RP})") in out


def test_json_keeps_guide_fields_and_adds_title_and_url() -> None:
    code, out = _run("diagnose", "--sandbox", "demo", "--output", "json")
    assert code == 4
    findings = [f for d in json.loads(out) for f in d["findings"]]
    rp = next(f for f in findings if f["code"] == "UserErrorRpCollectionLimitReached")
    assert rp["guide"] == "000" and rp["guide_section"] == _RP
    assert rp["guide_url"] == f"{_AGENT_URL}#{_RP}"
    assert rp["guide_title"].startswith("Troubleshoot Azure Backup failure: Issues with the agent or extension, ")
    assert all((f["guide_url"] is None) == (f["guide"] is None) for f in findings)
