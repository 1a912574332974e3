"""The client-side budget: token buckets matching ARM's, adapting to the remaining-requests headers,
against the sandbox's throttling on its virtual clock (no wall-clock sleep anywhere)."""

from __future__ import annotations

from pathlib import Path

from azbackup_fix.fleet import ARM_RATES, BucketRate, Budget, Outcome
from azbackup_sandbox.core.faults import FaultRule
from tests.fleet.fleet_sandbox import ALL_KINDS, Fleet, fleet


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_burst_beyond_the_bucket_waits_for_the_refill_rate() -> None:
    clock = FakeClock()
    budget = Budget(clock=clock, sleep=clock.sleep, headroom=0)
    for _ in range(250):
        budget.acquire("sub", "reads")
    assert clock.now == 0.0  # the bucket's capacity goes at once
    for _ in range(50):
        budget.acquire("sub", "reads")
    assert abs(clock.now - 50 / 25) < 1e-6  # then 25 per second
    for _ in range(10):
        budget.acquire("sub", "deletes")
    assert abs(clock.now - 2.0) < 1e-6  # deletes have their own bucket
    assert budget.minimum_seconds({("sub", "reads"): 300}) == 2.0


def test_remaining_headers_pull_the_bucket_down_and_429_pauses_it() -> None:
    clock = FakeClock()
    budget = Budget(clock=clock, sleep=clock.sleep, headroom=0)
    budget.acquire("sub", "writes")
    budget.observe("sub", "writes", status=200, remaining=3, retry_after=None)  # another client spends it
    for _ in range(3):
        budget.acquire("sub", "writes")
    assert clock.now == 0.0
    budget.acquire("sub", "writes")
    assert abs(clock.now - 0.1) < 1e-6  # 10 writes per second from here
    budget.observe("sub", "reads", status=429, remaining=None, retry_after=7)
    budget.acquire("sub", "reads")
    assert abs(clock.now - 7.1) < 1e-6 and budget.throttled == 1


def test_no_429_at_the_configured_budget_and_429s_without_it(tmp_path: Path) -> None:
    mix = "healthy=1,rp-limit-locked=1,failed-vmsnapshot=1,agent-not-ready=1"  # read-heavy: 3 in 4 are candidates
    sb = fleet(220, mix, subscriptions=1)
    f = Fleet(sb, tmp_path / "j.sqlite")
    report = f.scan(workers=8)
    assert report.request_count > 2 * ARM_RATES["reads"].capacity  # far beyond one bucket: the limiter waited
    assert sb.throttle.throttled == 0 and report.throttled == 0 and f.budget.waited > 0
    assert {v.outcome for v in report.vms} <= {Outcome.NEEDS_FIX, Outcome.REPORT_ONLY, Outcome.REFUSED}

    # The same scan with a budget that does not know ARM's limits provokes the sandbox's 429s.
    sb2 = fleet(220, mix, subscriptions=1)
    f2 = Fleet(sb2, tmp_path / "j2.sqlite")
    unlimited = Budget({k: BucketRate(10**9, 10**9) for k in ARM_RATES}, clock=f2.budget.clock,
                       sleep=f2.budget.sleep)
    f2.scanner(budget=unlimited).scan(f2.options(workers=8))
    assert sb2.throttle.throttled > 0 and unlimited.throttled > 0


def test_a_retry_after_beyond_the_cap_ends_that_vm_only(tmp_path: Path) -> None:
    sb = fleet(120, ALL_KINDS, subscriptions=1)
    f = Fleet(sb, tmp_path / "j.sqlite")
    f.budget.retry_after_cap = 30.0
    start = sb.clock.now()
    sb.faults.add(FaultRule(operation="VirtualMachines_Get", status=429, code="SubscriptionRequestsThrottled",
                            retry_after=3600, times=1))
    report = f.scan(workers=2)
    throttled = [v for v in report.vms if v.outcome == Outcome.THROTTLED]
    assert len(throttled) == 1 and "3600" in (throttled[0].detail or "") and "cap" in (throttled[0].detail or "")
    assert len(report.vms) == report.candidates and report.exit_code == 1
    assert (sb.clock.now() - start).total_seconds() < 600  # nobody waited the hour
