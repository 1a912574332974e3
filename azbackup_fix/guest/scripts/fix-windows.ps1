# azbackup-fix guest fixes for Windows. The library puts the fixes above this text twice: as $Fixes for
# PowerShell and as #azsandbox directives for the sandbox (docs/guest-protocol.md). Idempotent; ends with
# one JSON line of schema azbackup-guest/v1 listing each change with the value before it.
$ErrorActionPreference = 'Stop'
# Guide 001: MachineKeys' default permissions, Everyone (R,W) and BUILTIN\Administrators (F).
$MachineKeysDefaultSddl = 'O:SYG:SYD:PAI(A;;0x12019f;;;WD)(A;;FA;;;BA)'
$changes = @()
$errors = @()
foreach ($fix in $Fixes) {
    try {
        switch ($fix.action) {
            'restart-service' {
                $before = (Get-Service -Name $fix.target).Status.ToString().ToLower()
                Restart-Service -Name $fix.target -Force
                $changes += @{ action = $fix.action; target = $fix.target; before = $before; after = 'running' }
            }
            'start-service' {
                $before = (Get-Service -Name $fix.target).Status.ToString().ToLower()
                Start-Service -Name $fix.target
                $changes += @{ action = $fix.action; target = $fix.target; before = $before; after = 'running' }
            }
            'set-service' {
                $name, $key = $fix.target.Split('.')
                $svc = Get-CimInstance -ClassName Win32_Service -Filter "Name='$name'"
                if ($key -eq 'account') {
                    $before = $svc.StartName
                    $null = $svc | Invoke-CimMethod -MethodName Change -Arguments @{ StartName = $fix.value; StartPassword = '' }
                } else {
                    $before = $svc.StartMode
                    Set-Service -Name $name -StartupType $fix.value
                }
                $changes += @{ action = $fix.action; target = $fix.target; before = $before; after = $fix.value }
            }
            'set-registry' {
                $path = 'HKLM:' + (Split-Path -Path $fix.target -Parent).Substring(4)
                $name = Split-Path -Path $fix.target -Leaf
                if (-not (Test-Path -Path $path)) { New-Item -Path $path -Force | Out-Null }
                $before = (Get-ItemProperty -Path $path -Name $name -ErrorAction SilentlyContinue).$name
                # Digits are a DWORD (SchUseStrongCrypto, Start), anything else a string (USEVSSCOPYBACKUP=TRUE).
                if ($fix.value -match '^\d+$') { $data = [int]$fix.value; $kind = 'DWord' } else { $data = $fix.value; $kind = 'String' }
                New-ItemProperty -Path $path -Name $name -Value $data -PropertyType $kind -Force | Out-Null
                $changes += @{ action = $fix.action; target = $fix.target; before = $before; after = $data }
            }
            'add-defender-exclusion' {
                $present = @((Get-MpPreference).ExclusionPath) -contains $fix.target
                if (-not $present) { Add-MpPreference -ExclusionPath $fix.target }
                $changes += @{ action = $fix.action; target = $fix.target; before = $present; after = $true }
            }
            # The undo's actions (recover --undo-guest-changes): a value the fix created, an exclusion it added.
            'delete-registry' {
                $path = 'HKLM:' + (Split-Path -Path $fix.target -Parent).Substring(4)
                $name = Split-Path -Path $fix.target -Leaf
                $before = (Get-ItemProperty -Path $path -Name $name -ErrorAction SilentlyContinue).$name
                if ($null -ne $before) { Remove-ItemProperty -Path $path -Name $name }
                $changes += @{ action = $fix.action; target = $fix.target; before = $before; after = $null }
            }
            'remove-defender-exclusion' {
                $present = @((Get-MpPreference).ExclusionPath) -contains $fix.target
                if ($present) { Remove-MpPreference -ExclusionPath $fix.target }
                $changes += @{ action = $fix.action; target = $fix.target; before = $present; after = $false }
            }
            'set-acl' {
                $acl = Get-Acl -Path $fix.target
                $before = $acl.Sddl
                $sddl = $(if ($fix.value -eq 'default') { $MachineKeysDefaultSddl } else { $fix.value })
                $acl.SetSecurityDescriptorSddlForm($sddl)
                Set-Acl -Path $fix.target -AclObject $acl
                $changes += @{ action = $fix.action; target = $fix.target; before = $before; after = $sddl }
            }
            'remove-item' {
                # The full VMSnapshot reinstall: the extension is already removed through ARM; the agent keeps
                # running (this script reports back through it), only the plugin's leftovers go.
                $path = $(if ($fix.target -like 'HKLM\*') { 'HKLM:' + $fix.target.Substring(4) } else { $fix.target })
                $found = @(Get-Item -Path $path -ErrorAction SilentlyContinue | ForEach-Object { $_.Name })
                if ($found) { Remove-Item -Path $path -Recurse -Force }
                $changes += @{ action = $fix.action; target = $fix.target; before = $(if ($found) { $found -join '; ' } else { $null }); after = $null }
            }
            default { $errors += "unknown fix $($fix.action)" }
        }
    } catch {
        $errors += "$($fix.action) $($fix.target): $($_.Exception.Message)"
    }
}
$result = @{ schema = 'azbackup-guest/v1'; os = 'windows'; changes = $changes; errors = $errors }
Write-Output ($result | ConvertTo-Json -Depth 4 -Compress)
