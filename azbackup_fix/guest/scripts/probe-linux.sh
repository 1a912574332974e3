#!/bin/bash
# azbackup-fix guest probe for Linux (read-only). Ends with one JSON line of schema azbackup-guest/v1.
# Every path is under ${GUEST_ROOT:-} (empty on a real VM) and each can be overridden, so the tests and
# the sandbox run this very script against a fake root.
set -u
root="${GUEST_ROOT:-}"
conf="${WAAGENT_CONF:-$root/etc/waagent.conf}"
wireserver="${WIRESERVER:-168.63.129.16}"

option() {
    # The last assignment of $1 in waagent.conf wins, as the agent reads it.
    grep -E "^[[:space:]]*$1=" "$conf" 2>/dev/null | tail -n 1 | cut -d= -f2- | tr -d '[:space:]'
}

unit=walinuxagent
if ! systemctl cat "$unit" >/dev/null 2>&1 && ! systemctl is-active "$unit" >/dev/null 2>&1; then
    if systemctl is-active waagent >/dev/null 2>&1; then unit=waagent; fi
fi
state=$(systemctl is-active "$unit" 2>/dev/null | head -n 1)
version=$(waagent --version 2>/dev/null | head -n 1 | sed -n 's/^WALinuxAgent-\([0-9.]*\).*/\1/p')

reach() {
    if curl -s -o /dev/null -m 5 "http://$wireserver:$1/?comp=versions" >/dev/null 2>&1; then
        printf 'true'
    else
        printf 'false'
    fi
}

conf_present=false
if [ -r "$conf" ]; then conf_present=true; fi

printf '{"schema":"azbackup-guest/v1","os":"linux","facts":{"agent":{"service":"%s","unit":"%s","version":"%s"},' \
    "${state:-unknown}" "$unit" "$version"
printf '"waagent_conf":{"present":%s,"Extensions.Enable":"%s","Provisioning.Agent":"%s"},' \
    "$conf_present" "$(option Extensions.Enable)" "$(option Provisioning.Agent)"
printf '"wireserver":{"80":%s,"32526":%s}},"changes":[],"errors":[]}\n' "$(reach 80)" "$(reach 32526)"
