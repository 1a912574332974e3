"""The exact wheels to upload to an Azure Automation Python 3.10 runtime environment for azbackup-fix.

    python examples/automation/list_wheels.py                 # build our wheel, resolve, list names
    python examples/automation/list_wheels.py --download DIR  # also download them and print sizes + total
    python examples/automation/list_wheels.py --extra blob    # with an extra: '+' marks the wheels it adds
    python examples/automation/list_wheels.py --extra keyvault  # Key Vault access for encrypted VMs
    python examples/automation/list_wheels.py --extra network   # the network path and its fix
    python examples/automation/list_wheels.py --extra automation  # the fan-out parent

Resolution is pip's own, for the Automation target (``--python-version 3.10 --platform
manylinux2014_x86_64 --only-binary=:all:``), from the core dependencies only (no sandbox), plus the extras named with ``--extra`` (``blob``: the
journal in Azure Blob Storage, azure-storage-blob; ``keyvault``: Key Vault access of encrypted VMs; ``network``: azure-mgmt-network, for the network
path and its fix).
Runs on your machine (it starts pip); the runbook itself never starts a process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The extras an Automation account may need (--extra NAME): what each adds is marked with "+".
EXTRAS = ("blob", "keyvault", "network", "automation")

TARGET = ["--only-binary=:all:", "--python-version", "3.10", "--platform", "manylinux2014_x86_64",
          "--implementation", "cp"]


def _pip(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "pip", *args], check=True, capture_output=True, text=True).stdout


def build_wheel(out: Path) -> Path:
    _pip("wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(REPO))
    return next(out.glob("azbackup_fix-*.whl"))


def _requirement(wheel: Path, extras: list[str]) -> str:
    return f"azbackup-fix[{','.join(extras)}] @ {wheel.resolve().as_uri()}" if extras else str(wheel)


def resolve(wheel: Path, scratch: Path, extras: list[str] | None = None) -> list[dict[str, str]]:
    report = scratch / f"report-{'-'.join(extras or ['core'])}.json"
    _pip("install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
         "--target", str(scratch / "target"), *TARGET, _requirement(wheel, extras or []))
    items = json.loads(report.read_text(encoding="utf-8"))["install"]
    return sorted(({"name": i["metadata"]["name"], "version": i["metadata"]["version"],
                    "file": i["download_info"]["url"].rsplit("/", 1)[-1]} for i in items),
                  key=lambda i: i["name"].lower())


def download(wheel: Path, dest: Path, extras: list[str] | None = None) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    _pip("download", "--quiet", "--dest", str(dest), *TARGET, _requirement(wheel, extras or []))
    return sorted(dest.glob("*.whl"), key=lambda p: p.name.lower())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--download", metavar="DIR", type=Path, help="download the wheels into DIR")
    parser.add_argument("--extra", action="append", default=[], choices=EXTRAS,
                        help="include an optional extra (blob: the Blob Storage journal; keyvault: Key Vault "
                             "access; network: the network path; automation: the fan-out parent); repeatable")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        wheel = build_wheel(scratch / "dist")
        if not args.download:
            core = {item["file"] for item in resolve(wheel, scratch)} if args.extra else set()
            for item in resolve(wheel, scratch, args.extra):
                print(f"{'+ ' if args.extra and item['file'] not in core else ''}{item['file']}")
            return 0
        files = download(wheel, args.download, args.extra)
        total = 0
        for path in files:
            size = path.stat().st_size
            total += size
            print(f"{size / 1024:10.1f} KiB  {path.name}")
        print(f"{total / 1024 / 1024:10.2f} MiB  total, {len(files)} wheels (upload each one to the runtime)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
