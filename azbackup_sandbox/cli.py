"""`azbackup-sandbox`: run the ARM emulator as an HTTPS server, list its scenarios, inspect its state.

    azbackup-sandbox serve --scenario healthy --ready-file /tmp/sb.json
    azbackup-sandbox serve --estate my-estate.yaml      # your own estate file (docs/estate-files.md)
    azbackup-sandbox scenarios
    azbackup-sandbox state --scenario healthy            # the seeded estate, no server
    azbackup-sandbox export --scenario demo > demo.yaml  # an estate as an estate file
    azbackup-sandbox requests --endpoint URL --ca-file PEM

`serve` prints one JSON line when it accepts connections (and writes the same to --ready-file):
{"endpoint", "ca_file", "identity_endpoint", "identity_header", "subscription_ids"}."""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["main", "build_parser"]

PROG = "azbackup-sandbox"


class _UsageError(Exception):
    """Bad input: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not the usage block
        raise _UsageError(f"{message} (see {self.prog} --help)")


def _latency(text: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        low, high = (float(parts[0]), float(parts[-1])) if len(parts) in (1, 2) else (-1.0, -1.0)
    except ValueError:
        low = high = -1.0
    if not 0 <= low <= high:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX milliseconds with 0 <= MIN <= MAX, got '{text}'")
    return low, high


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got '{text}'")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port 0-65535, got '{text}'")
    return int(text)


def _estate_options(parser: argparse.ArgumentParser, when: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--scenario", help=f"shipped scenario {when} (see `scenarios`)")
    group.add_argument("--estate", type=Path, metavar="FILE", help=f"estate file (YAML or JSON) {when}")


def build_parser() -> argparse.ArgumentParser:
    from .server import DEFAULT_CLOCK_RATE

    parser = _Parser(prog=PROG, description="Azure Resource Manager emulator for Azure VM Backup.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    serve = commands.add_parser("serve", help="serve the sandbox over HTTPS until SIGTERM/SIGINT")
    _estate_options(serve, "to load first")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_port, default=0, help="0 picks a free port (default)")
    serve.add_argument("--ready-file", type=Path, help="also write the ready JSON line here")
    serve.add_argument("--ca-file", type=Path, help="where to write the CA PEM (default: a temp dir)")
    serve.add_argument("--clock-rate", type=_non_negative, default=DEFAULT_CLOCK_RATE,
                       help=f"virtual seconds per real second (default {DEFAULT_CLOCK_RATE:g})")
    serve.add_argument("--latency-ms", type=_latency, metavar="MIN,MAX", help="real per-request latency")
    serve.add_argument("--throttling", action="store_true", help="enforce ARM throttling (429)")
    serve.add_argument("--rbac", action="store_true", help="enforce RBAC (403 AuthorizationFailed)")
    serve.add_argument("--verbose", action="store_true", help="log every request to stderr")

    commands.add_parser("scenarios", help="list the scenarios with a line of description each")

    for name, text in (("state", "print the estate as JSON"), ("requests", "print the request log as JSON"),
                       ("export", "print the estate as an estate file (YAML; docs/estate-files.md)")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--endpoint", help="a running server (default: a fresh in-process sandbox)")
        sub.add_argument("--ca-file", type=Path, help="the server's CA PEM (with --endpoint)")
        if name in ("state", "export"):
            _estate_options(sub, "without --endpoint: to load")
        else:
            sub.add_argument("--since", type=int, default=0, help="only records after this sequence number")
    return parser


# ---- commands ----------------------------------------------------------------------------------


def _write_ready(path: Path, line: str) -> None:
    # Write then rename, so a watcher never reads a half-written file.
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(line + "\n", encoding="utf-8")
    os.replace(temp, path)


def _serve(args: argparse.Namespace) -> int:
    from .core.config import SandboxConfig
    from .core.control import subscription_ids
    from .core.sandbox import Sandbox
    from .server import SandboxServer, SandboxServerError

    config = SandboxConfig(throttling=args.throttling, rbac=args.rbac)
    if args.latency_ms:
        config.latency_ms = args.latency_ms
    sandbox = Sandbox(config=config)
    _load_chosen(sandbox, args)

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    server = SandboxServer(
        sandbox, host=args.host, port=args.port, ca_file=args.ca_file, clock_rate=args.clock_rate,
        verbose=args.verbose,
    )
    try:
        try:
            server.start()
        except SandboxServerError as exc:
            raise _UsageError(str(exc)) from None
        # load() reset the clock before the server set its rate: the virtual clock starts at the
        # scenario's time and runs from now on.
        ready = json.dumps(
            {
                "endpoint": server.endpoint,
                "ca_file": server.ca_file,
                "identity_endpoint": server.identity_endpoint,
                "identity_header": server.identity_header,
                "subscription_ids": subscription_ids(sandbox),
            }
        )
        if args.ready_file:
            _write_ready(args.ready_file, ready)
        print(ready, flush=True)
        while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals everywhere
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if args.ready_file:
            try:
                args.ready_file.unlink()
            except OSError:
                pass
    return 0


def _load_chosen(sandbox: Any, args: argparse.Namespace) -> None:
    if args.scenario:
        _load_scenario(sandbox, args.scenario)
    elif args.estate:
        from .scenarios.files import EstateFileError

        try:
            sandbox.load_estate(args.estate, source=str(args.estate))
        except EstateFileError as exc:
            raise _UsageError(str(exc)) from None


def _load_scenario(sandbox: Any, name: str) -> None:
    from .scenarios import get_scenario, list_scenarios

    try:
        scenario = get_scenario(name)
    except (KeyError, LookupError, ValueError):
        known = ", ".join(s.name for s in list_scenarios()) or "none"
        raise _UsageError(f"unknown scenario '{name}' (known: {known})") from None
    sandbox.load(scenario)


def _scenarios(args: argparse.Namespace) -> int:
    from .scenarios import list_scenarios

    scenarios = list(list_scenarios())
    width = max((len(s.name) for s in scenarios), default=0)
    for scenario in scenarios:
        first = (scenario.description or "").strip().splitlines()
        print(f"{scenario.name:<{width}}  {first[0] if first else ''}".rstrip())
    return 0


def _fetch(endpoint: str, path: str, ca_file: Path | None) -> Any:
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    url = endpoint.rstrip("/") + path
    if not url.startswith("https://"):
        raise _UsageError(f"the sandbox serves HTTPS only: '{endpoint}'")
    try:
        with urllib.request.urlopen(url, context=context, timeout=30) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise _UsageError(f"{url}: HTTP {exc.code} {exc.read().decode('utf-8', 'replace')}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _UsageError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None


def _local(args: argparse.Namespace) -> Any:
    """A sandbox in this process with the chosen scenario or estate (no --endpoint)."""
    from .core.sandbox import Sandbox

    sandbox = Sandbox()
    _load_chosen(sandbox, args)
    return sandbox


def _state(args: argparse.Namespace) -> int:
    if args.endpoint:
        payload = _fetch(args.endpoint, "/_sandbox/state", args.ca_file)
    else:
        payload = _local(args).snapshot()
    print(json.dumps(payload, indent=2))
    return 0


def _export(args: argparse.Namespace) -> int:
    from .scenarios.files import dump_yaml

    if args.endpoint:
        document = _fetch(args.endpoint, "/_sandbox/estate", args.ca_file)
    else:
        document = _local(args).export_estate()
    sys.stdout.write(dump_yaml(document))
    return 0


def _requests(args: argparse.Namespace) -> int:
    if not args.endpoint:
        raise _UsageError("requests needs --endpoint: the log lives in a running server")
    print(json.dumps(_fetch(args.endpoint, f"/_sandbox/requests?since={args.since}", args.ca_file), indent=2))
    return 0


_COMMANDS = {"serve": _serve, "scenarios": _scenarios, "state": _state, "requests": _requests, "export": _export}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return _COMMANDS[args.command](args)
    except _UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C outside serve's own handler (e.g. while loading a big fleet)
        return 130
    except BrokenPipeError:  # `azbackup-sandbox state | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
