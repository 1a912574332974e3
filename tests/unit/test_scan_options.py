"""Pure parts of the fleet scan: shard parsing and assignment, the default worker count."""

from __future__ import annotations

import pytest

from azbackup_fix import InvalidInputError
from azbackup_fix.ids import VmRef
from azbackup_fix.scanner import ScanOptions, default_fix_workers, default_workers, in_shard, parse_shard

SUB = "00000000-0000-0000-0000-000000000001"


@pytest.mark.parametrize(("subscriptions", "workers"), [(1, 32), (4, 32), (5, 40), (10, 80), (16, 128), (50, 128)])
def test_default_workers_are_eight_per_subscription_within_bounds(subscriptions: int, workers: int) -> None:
    assert default_workers(subscriptions) == workers
    subs = tuple(f"00000000-0000-0000-0000-{i:012d}" for i in range(subscriptions))
    assert ScanOptions(subscriptions=subs).worker_count == workers
    assert ScanOptions(subscriptions=subs, workers=5).worker_count == 5


@pytest.mark.parametrize(("subscriptions", "workers"), [(1, 32), (4, 128), (10, 320), (16, 512), (50, 512)])
def test_the_fix_phase_has_more_workers_unless_told(subscriptions: int, workers: int) -> None:
    # A fix waits on long-running operations: 32 per subscription (docs/fleet.md); --workers sets both phases.
    assert default_fix_workers(subscriptions) == workers
    subs = tuple(f"00000000-0000-0000-0000-{i:012d}" for i in range(subscriptions))
    assert ScanOptions(subscriptions=subs).fix_worker_count == workers
    assert ScanOptions(subscriptions=subs, workers=5).fix_worker_count == 5
    assert ScanOptions(subscriptions=subs, workers=5, fix_workers=7).fix_worker_count == 7


@pytest.mark.parametrize("text", ["0/4", "5/4", "a/b", "1-4", "", "1/0"])
def test_a_bad_shard_is_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInputError, match="--shard"):
        parse_shard(text)


def test_shards_split_every_vm_exactly_once_whatever_its_case() -> None:
    vms = [VmRef(SUB, f"rg-{i % 7}", f"vm-{i}") for i in range(400)]
    owners = [[k for k in range(1, 5) if in_shard(vm, (k, 4))] for vm in vms]
    assert all(len(o) == 1 for o in owners)
    assert all(30 < sum(o == [k] for o in owners) < 170 for k in range(1, 5))  # roughly even
    upper = [VmRef(SUB, vm.resource_group.upper(), vm.name.upper()) for vm in vms]
    assert [[k for k in range(1, 5) if in_shard(vm, (k, 4))] for vm in upper] == owners
