"""Issue 18 item 6: progress and waits that speak. ``apply`` prints a line per VM and step as it
happens and, for each wait, what it waits for, since when and its bound; quiet in CI, with
``--output json`` and off a terminal. The job wait polls with a backoff that starts small."""

from __future__ import annotations

import io
import re

import pytest

from azbackup_fix.cli.progress import ProgressLines, progress_wanted
from azbackup_fix.models import parse_timestamp
from azbackup_fix.models.events import RunEvent
from azbackup_sandbox import Sandbox
from tests.gateway.sandbox_arm import Target
from tests.operator_run.helpers import VM, cli


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_apply_with_progress_prints_each_step_and_the_wait_with_its_bound() -> None:
    code, out, err = cli("apply", "--sandbox", "rp-limit-locked", "--vm", VM, "--yes", "--progress")
    assert code == 0, out + err
    lines = err.splitlines()
    assert lines[0] == "== applying to vm-app-01"
    started = [line for line in lines if line.startswith("  -> ")]
    assert [s.split()[1] for s in started] == ["remove", "delete", "trigger", "put"]
    waits = [line for line in lines if "waiting for" in line]
    assert len(waits) == 1
    assert re.search(r"waiting for backup job [0-9a-f-]+ to finish \(since \d\d:\d\d:\d\d UTC, up to 4 h\)",
                     waits[0]), waits
    # The wait line comes between the trigger and the lock's restore: as it happens, not at the end.
    assert lines.index(started[2]) < lines.index(waits[0]) < lines.index(started[3])


def test_apply_without_a_terminal_or_with_json_prints_no_progress() -> None:
    code, out, err = cli("apply", "--sandbox", "rp-limit-locked", "--vm", VM, "--yes")
    assert code == 0 and "waiting for" not in err and "->" not in err, err
    code, out, err = cli("apply", "--sandbox", "rp-limit-locked", "--vm", VM, "--yes", "--progress",
                         "--output", "json")
    assert code == 0 and err == "", err


@pytest.mark.parametrize("env", [{"CI": "true"}, {"GITHUB_ACTIONS": "true"}, {"TF_BUILD": "True"}, {}])
def test_progress_is_on_for_a_terminal_and_quiet_in_ci(env: dict[str, str]) -> None:
    assert progress_wanted(env, "text", _Tty(), None) is (not env)
    assert progress_wanted(env, "json", _Tty(), True) is False
    assert progress_wanted(env, "text", io.StringIO(), None) is False
    assert progress_wanted(env, "text", io.StringIO(), True) is True


def test_library_emits_typed_events_and_prints_nothing(journal_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    target = Target(Sandbox(scenario="rp-limit-locked"))
    events: list[RunEvent] = []
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True, events=events.append)
    assert report.exit_code == 0
    assert [e.kind for e in events][:3] == ["vm", "step", "step-done"]
    wait = next(e for e in events if e.kind == "wait")
    assert wait.bound_seconds == 4 * 3600 and wait.since is not None and "backup job" in wait.message
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    rendered = _Tty()
    for event in events:
        ProgressLines(rendered)(event)
    assert "waiting for backup job" in rendered.getvalue()


def test_the_job_wait_polls_soon_after_the_trigger_then_backs_off_bounded(journal_path: str) -> None:
    """A fast server is seen at once: the first poll of the job comes seconds (virtual) after the
    trigger, not a minute; pauses then grow, bounded at 2 minutes."""
    sandbox = Sandbox(scenario="rp-limit-locked")
    target = Target(sandbox)
    with target.remediator(journal_path=journal_path) as fix:
        report = fix.run(target.vm(), apply=True)
    assert report.exit_code == 0
    (job_id,) = [s.detail_value("job_id") for s in report.changed if s.step == "trigger-backup"]
    records = sandbox.requests()
    (post,) = [r for r in records if r.method == "POST" and r.path.endswith("/backup")]
    polls = [r for r in records if r.method == "GET" and r.path.endswith(f"/backupJobs/{job_id}") and r.seq > post.seq]
    times = [parse_timestamp(post.time), *(parse_timestamp(r.time) for r in polls)]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert len(gaps) >= 3, gaps  # a 20-minute job: several polls
    assert gaps[0] <= 10, gaps
    assert gaps[-2] >= gaps[0] and max(gaps) <= 120, gaps
