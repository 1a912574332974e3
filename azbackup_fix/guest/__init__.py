"""The guest channel: Run Command probes (read-only) and guarded fixes, their scripts (package data) and
the one JSON line each script ends with (schema ``azbackup-guest/v1``, docs/guest-protocol.md)."""

from .channel import DEFAULT_TIMEOUT, RUN_COMMAND_ACTIONS, GuestChannel, channel_problem
from .endpoints import ENDPOINTS_PARAMETER, parse_endpoint, probe_endpoints
from .fixes import plan_guest_fixes
from .result import GUEST_JSON_SCHEMA, GUEST_SCHEMA, ScriptOutput, parse_output, schema_problems
from .scripts import fix_script, probe_script

__all__ = [
    "DEFAULT_TIMEOUT",
    "ENDPOINTS_PARAMETER",
    "GUEST_JSON_SCHEMA",
    "GUEST_SCHEMA",
    "RUN_COMMAND_ACTIONS",
    "GuestChannel",
    "ScriptOutput",
    "channel_problem",
    "fix_script",
    "parse_endpoint",
    "parse_output",
    "plan_guest_fixes",
    "probe_endpoints",
    "probe_script",
    "schema_problems",
]
