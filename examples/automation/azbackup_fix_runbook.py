#!/usr/bin/env python3
"""Azure Automation runbook (Python 3.10 runtime): azbackup-fix with the account's managed identity.

Parameters (Automation passes them as sys.argv), for example:
    --subscription 00000000-0000-0000-0000-000000000000 --mode diagnose
    --subscription ... --mode apply --vm /subscriptions/.../virtualMachines/vm1
    --subscription S1 --subscription S2 --mode scan-apply --shard 1/4 --journal /mnt/state/azbf.sqlite
    --mode scan-fanout --fan-out 4 --automation-account ID --subscription S1 --journal /mnt/state/azbf.sqlite
    --mode alert --apply --journal ...   (as a webhook's parameters: WEBHOOKDATA is appended by Automation)
Options: --mode diagnose|plan|apply|scan|scan-apply|scan-fanout|alert, --vm ID (repeatable), --allow-disruptive,
--allow-protection-changes, --no-wait, --leave-locks-removed, --max-targets N, --check-permissions ROLE_FILE,
--shard K/N, --workers N, --journal PATH, --debug,
--client-id (user-assigned identity), --cloud.

Output: lines prefixed VERBOSE:/WARNING:, then one JSON line (the report); errors as ERROR: lines on stderr.
"""

import sys

from azbackup_fix.runbook import main

sys.exit(main(sys.argv[1:]))
