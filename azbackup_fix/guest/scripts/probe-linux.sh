#!/bin/bash
# azbackup-fix guest probe for Linux (read-only). Ends with one JSON line of schema azbackup-guest/v1.
# Every path is under ${GUEST_ROOT:-} (empty on a real VM) and each can be overridden, so the tests and
# the sandbox run this very script against a fake root. ENDPOINTS (a Run Command parameter, so an
# environment variable here): the host:port words to test TCP reachability of, e.g. the storage on 443.
set -u
root="${GUEST_ROOT:-}"
conf="${WAAGENT_CONF:-$root/etc/waagent.conf}"
wireserver="${WIRESERVER:-168.63.129.16}"
mounts="${PROC_MOUNTS:-$root/proc/mounts}"
audit="${AUDIT_LOG:-$root/var/log/audit/audit.log}"
ENDPOINTS="${ENDPOINTS:-}"

js() {
    # A JSON string body: backslashes and quotes escaped, control characters dropped.
    printf '%s' "$1" | tr -d '\000-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'
}

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

opens() {
    # TCP to host:port opens: any answer, even a TLS or HTTP error, counts; no name (6), refused (7) and
    # timed out (28) do not. Direct, not through a proxy.
    local rc=0
    curl -s -o /dev/null -m 5 --noproxy '*' "https://$1/" >/dev/null 2>&1 || rc=$?
    case $rc in
        6 | 7 | 28) printf 'false' ;;
        *) printf 'true' ;;
    esac
}

conf_present=false
if [ -r "$conf" ]; then conf_present=true; fi

# DHCP on the primary interface (eth0), from the first network configuration found.
dhcp=null
dhcp_source=""
for file in "$root"/etc/netplan/*.yaml; do
    [ -r "$file" ] || continue
    value=$(grep -E '^[[:space:]]*dhcp4:' "$file" | head -n 1 | cut -d: -f2- | tr -d '[:space:]' | tr '[:upper:]' '[:lower:]')
    if [ -n "$value" ]; then
        case $value in true | yes | on) dhcp=true ;; *) dhcp=false ;; esac
        dhcp_source=${file#"$root"}
        break
    fi
done
if [ "$dhcp" = null ]; then
    for file in "$root"/etc/systemd/network/*.network; do
        [ -r "$file" ] || continue
        value=$(grep -E '^[[:space:]]*DHCP=' "$file" | head -n 1 | cut -d= -f2- | tr -d '[:space:]' | tr '[:upper:]' '[:lower:]')
        if [ -n "$value" ]; then
            case $value in yes | true | ipv4 | both) dhcp=true ;; *) dhcp=false ;; esac
            dhcp_source=${file#"$root"}
            break
        fi
    done
fi
ifcfg="$root/etc/sysconfig/network-scripts/ifcfg-eth0"
if [ "$dhcp" = null ] && [ -r "$ifcfg" ]; then
    value=$(grep -E '^[[:space:]]*BOOTPROTO=' "$ifcfg" | tail -n 1 | cut -d= -f2- | tr -d '"[:space:]' | tr '[:upper:]' '[:lower:]')
    if [ -n "$value" ]; then
        if [ "$value" = dhcp ]; then dhcp=true; else dhcp=false; fi
        dhcp_source=${ifcfg#"$root"}
    fi
fi
interfaces="$root/etc/network/interfaces"
if [ "$dhcp" = null ] && [ -r "$interfaces" ]; then
    value=$(awk '$1 == "iface" && $2 == "eth0" && $3 == "inet" { print $4; exit }' "$interfaces")
    if [ -n "$value" ]; then
        if [ "$value" = dhcp ]; then dhcp=true; else dhcp=false; fi
        dhcp_source=${interfaces#"$root"}
    fi
fi

# Proxy settings: /etc/environment (login sessions and the services that read it) and the agent's own.
env_value() {
    grep -iE "^[[:space:]]*$1=" "$root/etc/environment" 2>/dev/null | tail -n 1 | cut -d= -f2- | tr -d "\"'"
}
http_proxy_value=$(env_value http_proxy)
https_proxy_value=$(env_value https_proxy)
no_proxy_value=$(env_value no_proxy)

# SELinux: the mode, and AVC denials that name waagent.
selinux=$(getenforce 2>/dev/null | head -n 1)
denials=0
if [ -r "$audit" ]; then
    denials=$(grep 'avc:' "$audit" | grep 'denied' | grep -c 'waagent')
fi

# Mount points: a device or a mount point listed twice, and ext* file systems that are not clean.
duplicates=""
not_clean=""
if [ -r "$mounts" ]; then
    while read -r item; do
        [ -n "$item" ] && duplicates="$duplicates${duplicates:+,}\"$(js "$item")\""
    done < <(awk '$1 ~ /^\/dev\// { if (seen_dev[$1]++) print $1; if (seen_dir[$2]++) print $2 }' "$mounts" | sort -u)
    while read -r device; do
        [ -n "$device" ] || continue
        fs_state=$(tune2fs -l "$device" 2>/dev/null | sed -n 's/^Filesystem state:[[:space:]]*//p' | head -n 1)
        if [ -n "$fs_state" ] && [ "$fs_state" != clean ]; then
            not_clean="$not_clean${not_clean:+,}\"$(js "$device")\""
        fi
    done < <(awk '$1 ~ /^\/dev\// && $3 ~ /^ext/ { print $1 }' "$mounts" | sort -u)
fi

# Free space under /var, in MB.
var_free=$(df -Pk "$root/var" 2>/dev/null | awk 'NR == 2 { print int($4 / 1024) }')

endpoints=""
for endpoint in $ENDPOINTS; do
    endpoints="$endpoints${endpoints:+,}\"$(js "$endpoint")\":$(opens "$endpoint")"
done

printf '{"schema":"azbackup-guest/v1","os":"linux","facts":{"agent":{"service":"%s","unit":"%s","version":"%s"},' \
    "${state:-unknown}" "$unit" "$version"
printf '"waagent_conf":{"present":%s,"Extensions.Enable":"%s","Provisioning.Agent":"%s"},' \
    "$conf_present" "$(option Extensions.Enable)" "$(option Provisioning.Agent)"
printf '"wireserver":{"80":%s,"32526":%s},' "$(reach 80)" "$(reach 32526)"
printf '"dhcp":{"interface":"eth0","configured":%s,"source":"%s"},' "$dhcp" "$(js "$dhcp_source")"
printf '"proxy":{"http_proxy":"%s","https_proxy":"%s","no_proxy":"%s","agent_host":"%s","agent_port":"%s"},' \
    "$(js "$http_proxy_value")" "$(js "$https_proxy_value")" "$(js "$no_proxy_value")" \
    "$(js "$(option HttpProxy.Host)")" "$(js "$(option HttpProxy.Port)")"
printf '"selinux":{"mode":"%s","waagent_denials":%s},' "$(js "$selinux")" "${denials:-0}"
printf '"mounts":{"duplicates":[%s],"not_clean":[%s]},' "$duplicates" "$not_clean"
printf '"var":{"free_mb":%s},' "${var_free:-null}"
printf '"endpoints":{%s}},"changes":[],"errors":[]}\n' "$endpoints"
