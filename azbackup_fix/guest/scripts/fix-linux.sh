#!/bin/bash
# azbackup-fix guest fixes for Linux. The library puts the fixes to make in FIXES (words: waagent-conf,
# agent-update; the undo's restore-waagent-conf with WAAGENT_RESTORE) above this text. Idempotent: a setting already right is reported unchanged. Ends with one
# JSON line of schema azbackup-guest/v1 listing each change with the value before it.
set -u
root="${GUEST_ROOT:-}"
conf="${WAAGENT_CONF:-$root/etc/waagent.conf}"
FIXES="${FIXES:-}"
changes=""
errors=""
restart=false

add_change() {
    if [ -n "$changes" ]; then changes="$changes,"; fi
    changes="$changes{\"action\":\"$1\",\"target\":\"$2\",\"before\":\"$3\",\"after\":\"$4\"}"
}

add_error() {
    if [ -n "$errors" ]; then errors="$errors,"; fi
    errors="$errors\"$1\""
}

option() {
    grep -E "^[[:space:]]*$1=" "$conf" 2>/dev/null | tail -n 1 | cut -d= -f2- | tr -d '[:space:]'
}

set_option() {
    local name=$1 value=$2 before
    before=$(option "$name")
    if [ "$before" = "$value" ]; then
        return
    fi
    if grep -qE "^[[:space:]]*$name=" "$conf" 2>/dev/null; then
        sed -i "s/^[[:space:]]*$name=.*/$name=$value/" "$conf" || add_error "cannot write $conf"
    else
        printf '%s=%s\n' "$name" "$value" >>"$conf" || add_error "cannot write $conf"
    fi
    add_change set-waagent-option "$name" "$before" "$value"
    restart=true
}

agent_version() {
    waagent --version 2>/dev/null | head -n 1 | sed -n 's/^WALinuxAgent-\([0-9.]*\).*/\1/p'
}

for fix in $FIXES; do
    case "$fix" in
        waagent-conf)
            set_option Extensions.Enable y
            set_option Provisioning.Agent auto
            ;;
        agent-update)
            before=$(agent_version)
            if apt-get install -y --only-upgrade walinuxagent >/dev/null 2>&1; then
                after=$(agent_version)
                if [ "$before" != "$after" ]; then
                    add_change update-agent walinuxagent "$before" "$after"
                    restart=true
                fi
            else
                add_error "apt-get could not update walinuxagent"
            fi
            ;;
        restore-waagent-conf)
            # Undo (recover --undo-guest-changes): WAAGENT_RESTORE holds NAME=VALUE words, the values before
            # the fix; an empty VALUE (or None) means the option was not in the file: its line goes.
            for pair in ${WAAGENT_RESTORE:-}; do
                name=${pair%%=*}
                value=${pair#*=}
                if [ -z "$value" ] || [ "$value" = None ]; then
                    before=$(option "$name")
                    if grep -qE "^[[:space:]]*$name=" "$conf" 2>/dev/null; then
                        sed -i "/^[[:space:]]*$name=/d" "$conf" || add_error "cannot write $conf"
                        add_change delete-waagent-option "$name" "$before" ""
                        restart=true
                    fi
                else
                    set_option "$name" "$value"
                fi
            done
            ;;
        *)
            add_error "unknown fix $fix"
            ;;
    esac
done

if [ "$restart" = true ]; then
    systemctl restart walinuxagent >/dev/null 2>&1 || add_error "systemctl restart walinuxagent failed"
fi

printf '{"schema":"azbackup-guest/v1","os":"linux","changes":[%s],"errors":[%s]}\n' "$changes" "$errors"
