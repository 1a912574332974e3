# azbackup-fix guest probe for Windows (read-only). Ends with one JSON line of schema azbackup-guest/v1.
# The line below asks the azbackup sandbox (which runs no PowerShell) for the same facts:
#azsandbox probe
# ENDPOINTS (a Run Command parameter): host:port words to test TCP reachability of (the storage on 443).
param([string]$ENDPOINTS = '')
$ErrorActionPreference = 'SilentlyContinue'
$watched = @('COMSysApp', 'MSDTC', 'msiserver', 'VSS', 'WindowsAzureGuestAgent', 'RdAgent')
$services = @{}
foreach ($name in $watched) {
    $svc = Get-CimInstance -ClassName Win32_Service -Filter "Name='$name'"
    if ($svc) {
        $services[$name] = @{ state = $svc.State.ToLower(); start_type = $svc.StartMode; account = $svc.StartName }
    }
}
$writers = @()
$current = $null
foreach ($line in (vssadmin list writers)) {
    if ($line -match "Writer name: '(.+)'") { $current = @{ name = $Matches[1]; state = ''; last_error = ''; service = '' } }
    elseif ($line -match 'State: \[\d+\] (.+)') { $current.state = $Matches[1].Trim() }
    elseif ($line -match 'Last error: (.+)') { $current.last_error = $Matches[1].Trim(); $writers += $current }
}
$crypto = @{}
foreach ($key in @('HKLM:\SOFTWARE\Microsoft\.NETFramework\v4.0.30319', 'HKLM:\SOFTWARE\Wow6432Node\Microsoft\.NETFramework\v4.0.30319')) {
    $value = (Get-ItemProperty -Path $key -Name SchUseStrongCrypto).SchUseStrongCrypto
    $crypto[$key.Replace(':', '')] = $value
}
$pref = Get-MpPreference
$plugins = @('C:\Packages\Plugins\Microsoft.Azure.RecoveryServices.VMSnapshot', 'C:\WindowsAzure\Logs\Plugins\Microsoft.Azure.RecoveryServices.VMSnapshot')
$faults = @(Get-WinEvent -FilterHashtable @{ LogName = 'Application'; Id = 1000 } -MaxEvents 200 | Where-Object { $_.Message -like '*IaaSBcdrExtension.exe*' }).Count
$wire = @{}
foreach ($port in @(80, 32526)) {
    $wire["$port"] = [bool](Test-NetConnection -ComputerName 168.63.129.16 -Port $port -InformationLevel Quiet)
}
$endpoints = @{}
foreach ($endpoint in @($ENDPOINTS -split '[\s,]+' | Where-Object { $_ })) {
    $at = $endpoint.LastIndexOf(':')
    $endpoints[$endpoint] = [bool](Test-NetConnection -ComputerName $endpoint.Substring(0, $at) -Port ([int]$endpoint.Substring($at + 1)) -InformationLevel Quiet)
}
$dhcp = -not [bool](Get-NetIPInterface -AddressFamily IPv4 | Where-Object { $_.Dhcp -eq 'Disabled' -and $_.InterfaceAlias -notlike 'Loopback*' })
$sql = @(Get-Service -Name 'MSSQLSERVER', 'MSSQL$*' | Where-Object { $_.Status -eq 'Running' } | ForEach-Object { $_.Name })
$copyBackup = (Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\BcdrAgent' -Name USEVSSCOPYBACKUP).USEVSSCOPYBACKUP
# AppLocker's verdict on the VMSnapshot handler's executable (guide 000: application control blocking it).
$exe = Get-ChildItem -Path $plugins[0] -Filter IaaSBcdrExtension.exe -Recurse | Select-Object -First 1
$exePath = $(if ($exe) { $exe.FullName } else { Join-Path -Path $plugins[0] -ChildPath 'IaaSBcdrExtension.exe' })
$policy = Get-AppLockerPolicy -Effective
$enforced = [bool](@($policy.RuleCollections) | Where-Object { $_.RuleCollectionType -eq 'Exe' -and $_.EnforcementMode -eq 'Enabled' })
$verdict = $(if ($enforced) { $policy | Test-AppLockerPolicy -Path $exePath -User Everyone } else { $null })
$decision = $(if ($verdict) { $verdict.PolicyDecision.ToString().Replace('AllowedByDefault', 'Allowed') } else { 'Allowed' })
$rule = $(if ($verdict -and $verdict.MatchingRule) { $verdict.MatchingRule.ToString() } else { $null })
$bitlocker = @(Get-BitLockerVolume | ForEach-Object { @{ volume = $_.MountPoint; lock_status = $_.LockStatus.ToString() } })
$reboot = @()
if (Test-Path -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending') { $reboot += 'Component Based Servicing' }
if (Test-Path -Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired') { $reboot += 'Windows Update' }
if ((Get-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' -Name PendingFileRenameOperations).PendingFileRenameOperations) { $reboot += 'PendingFileRenameOperations' }
# What a removed VMSnapshot leaves behind: its plugin folder and its HandlerState keys.
$handlerState = @(Get-ChildItem -Path 'HKLM:\SOFTWARE\Microsoft\Windows Azure\HandlerState' | Where-Object { $_.PSChildName -like 'Microsoft.Azure.RecoveryServices.VMSnapshot*' } | ForEach-Object { $_.Name.Replace('HKEY_LOCAL_MACHINE', 'HKLM') })
$machineKeys = 'C:\ProgramData\Microsoft\Crypto\RSA\MachineKeys'
$agent = Get-CimInstance -ClassName Win32_Service -Filter "Name='WindowsAzureGuestAgent'"
$agentVersion = (Get-Item 'C:\WindowsAzure\GuestAgent*\WindowsAzureGuestAgent.exe' | Select-Object -Last 1).VersionInfo.FileVersion
$facts = @{
    agent = @{ service = $(if ($agent) { $agent.State.ToLower() } else { 'missing' }); version = $agentVersion }
    services = $services
    vss_writers = $writers
    strong_crypto = $crypto
    msiserver_start = (Get-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Services\msiserver' -Name Start).Start
    defender = @{ realtime = -not $pref.DisableRealtimeMonitoring; exclusions = @($pref.ExclusionPath); plugin_folders = $plugins }
    extension_faults = $faults
    wireserver = $wire
    dhcp = $dhcp
    endpoints = $endpoints
    machine_keys = @{ path = $machineKeys; sddl = (Get-Acl -Path $machineKeys).Sddl }
    sql_server = @{ instances = $sql; usevsscopybackup = $copyBackup }
    applocker = @{ enforced = $enforced; decision = $decision; rule = $rule }
    bitlocker = $bitlocker
    pending_reboot = $reboot
    vmsnapshot_plugin = @{ folder = (Test-Path -Path $plugins[0]); handler_state = $handlerState }
}
$result = @{ schema = 'azbackup-guest/v1'; os = 'windows'; facts = $facts; changes = @(); errors = @() }
Write-Output ($result | ConvertTo-Json -Depth 6 -Compress)
