"""Typed Azure resource ids, parsed and validated before any request is sent.

:class:`ResourceId` is the generic form: a subscription, an optional resource
group, a provider namespace with ``(type, name)`` pairs and, for extension
resources such as a lock on a VM, the ``scope`` they hang off. The typed refs
(:class:`VmRef`, :class:`VaultRef`, ...) are what the rest of the library passes
around. Every parse error is an :class:`~azbackup_fix.errors.InvalidResourceIdError`
whose message names exactly what is wrong.

ARM compares names case-insensitively and may answer with a different casing
than it was asked (``resourcegroups``), so equality and hashing of every id here
ignore case. Backup path segments contain ``;`` and arrive percent-encoded
(``%3B``) from the SDK: segments are percent-decoded while parsing.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .errors import InvalidInputError, InvalidResourceIdError

__all__ = [
    "BACKUP_EXTENSION_PUBLISHER",
    "DEFAULT_RESTORE_POINT_RG_PREFIX",
    "BackupJobRef",
    "BackupPolicyRef",
    "LockRef",
    "ProtectedItemRef",
    "ResourceGroupRef",
    "ResourceId",
    "RestorePointCollectionRef",
    "RestorePointRgNaming",
    "ScopeKind",
    "SubscriptionRef",
    "VaultRef",
    "VmRef",
    "backup_container_name",
    "normalize_region",
    "parse_object_id",
    "protected_item_name",
    "vm_names_from_backup_name",
]

BACKUP_EXTENSION_PUBLISHER = "Microsoft.Azure.RecoveryServices"
DEFAULT_RESTORE_POINT_RG_PREFIX = "AzureBackupRG_"

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_NAMESPACE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)+$")
_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
# ARM resource group names: letters (any script), digits, '.', '_', '-', '(' and ')'.
_RG_NAME = re.compile(r"^[-\w.()]+$")
_RG_MAX = 90
# Characters ARM never allows in a name segment; '%' is refused so that ids
# round-trip through percent-decoding unchanged.
_FORBIDDEN_NAME_CHARS = frozenset("/\\?#%")
_SHOW = 80


def parse_object_id(text: str, flag: str) -> str:
    """A principal's object id (a GUID), lower-cased; bad input names ``flag`` in one line."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise InvalidInputError(f"{flag} must be a GUID, got '{_show(text)}'") from None


def _show(text: str) -> str:
    """Quote user text for an error message, bounded and on one line."""
    folded = " ".join(text.split()) if text.strip() else text
    return folded if len(folded) <= _SHOW else folded[: _SHOW - 1] + "…"


class ScopeKind(enum.Enum):
    """What an id (or a lock's scope) points at."""

    SUBSCRIPTION = "subscription"
    RESOURCE_GROUP = "resourceGroup"
    RESOURCE = "resource"


def _check_subscription(value: str) -> None:
    if not isinstance(value, str) or not _GUID.match(value):
        raise InvalidResourceIdError(f"subscription id '{_show(str(value))}' is not a GUID")


def _check_resource_group(value: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidResourceIdError("resource id has an empty resource group name")
    if len(value) > _RG_MAX:
        raise InvalidResourceIdError(
            f"resource group name '{_show(value)}' is longer than {_RG_MAX} characters"
        )
    if not _RG_NAME.match(value):
        raise InvalidResourceIdError(
            f"resource group name '{_show(value)}' contains characters other than letters, "
            "digits, '.', '_', '-', '(' and ')'"
        )
    if value.endswith("."):
        raise InvalidResourceIdError(f"resource group name '{_show(value)}' must not end with a period")


def _check_namespace(value: str) -> None:
    if not isinstance(value, str) or not _NAMESPACE.match(value):
        raise InvalidResourceIdError(
            f"provider namespace '{_show(str(value))}' is not of the form 'Company.Service'"
        )


def _check_type(value: str) -> None:
    if not isinstance(value, str) or not _TYPE.match(value):
        raise InvalidResourceIdError(f"resource type '{_show(str(value))}' is not a valid type name")


def _check_name(value: str, type_name: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidResourceIdError(f"resource id is missing a name after type '{type_name}'")
    if value != value.strip():
        raise InvalidResourceIdError(f"{type_name} name '{_show(value)}' has leading or trailing whitespace")
    # Lone surrogates: undecodable bytes from argv or a file; the SDK could not even encode the URL.
    bad = sorted({c for c in value
                  if c in _FORBIDDEN_NAME_CHARS or ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise InvalidResourceIdError(f"{type_name} name '{_show(value)}' contains characters ARM does not allow ({shown})")


class _CaseInsensitive:
    """Equality and hashing by the canonical id string, ignoring case (ARM does)."""

    __slots__ = ()

    @property
    def id(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.id.casefold() == other.id.casefold()  # type: ignore[attr-defined]

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.id.casefold()))

    def __str__(self) -> str:
        return self.id


@dataclass(frozen=True, slots=True, eq=False)
class ResourceId(_CaseInsensitive):
    """A generic ARM resource id.

    ``resources`` holds the ``(type, name)`` pairs under ``provider``; ``scope`` is
    set for extension resources (``<resource id>/providers/<ns>/<type>/<name>``).
    """

    subscription: str
    resource_group: str | None = None
    provider: str | None = None
    resources: tuple[tuple[str, str], ...] = ()
    scope: ResourceId | None = None

    def __post_init__(self) -> None:
        _check_subscription(self.subscription)
        if self.resource_group is not None:
            _check_resource_group(self.resource_group)
        if not isinstance(self.resources, tuple):
            object.__setattr__(self, "resources", tuple(tuple(p) for p in self.resources))
        if self.provider is None:
            if self.resources or self.scope is not None:
                raise InvalidResourceIdError("resource id has resource types but no provider namespace")
        else:
            _check_namespace(self.provider)
            if not self.resources:
                raise InvalidResourceIdError(
                    f"resource id is missing a resource type after provider '{self.provider}'"
                )
        for pair in self.resources:
            if len(pair) != 2:
                raise InvalidResourceIdError("resource id pairs must be (type, name)")
            _check_type(pair[0])
            _check_name(pair[1], pair[0])
        if self.scope is not None:
            if not self.scope.resources:
                raise InvalidResourceIdError("an extension resource's scope must itself be a resource")
            same_rg = (self.scope.resource_group or "").casefold() == (self.resource_group or "").casefold()
            if self.scope.subscription.casefold() != self.subscription.casefold() or not same_rg:
                raise InvalidResourceIdError("an extension resource must share its scope's subscription and group")

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def for_subscription(cls, subscription: str) -> ResourceId:
        return cls(subscription)

    @classmethod
    def for_resource_group(cls, subscription: str, resource_group: str) -> ResourceId:
        return cls(subscription, resource_group)

    @classmethod
    def parse(cls, text: str | ResourceId) -> ResourceId:
        """Parse an ARM id (or a management URL); raise InvalidResourceIdError naming the problem."""
        if isinstance(text, ResourceId):
            return text
        if not isinstance(text, str):
            raise InvalidResourceIdError(f"resource id must be a string, got {type(text).__name__}")
        original = text
        path = text.strip()
        if not path:
            raise InvalidResourceIdError("resource id is empty", text=original)
        lowered = path.lower()
        if lowered.startswith(("https://", "http://")):
            after_host = path.find("/", path.find("://") + 3)
            if after_host < 0:
                raise InvalidResourceIdError("resource URL has no path after the host", text=original)
            path = path[after_host:]
        path = path.split("?", 1)[0].split("#", 1)[0]
        if not path.startswith("/"):
            if path.lower().startswith("subscriptions/"):
                path = "/" + path
            else:
                raise InvalidResourceIdError(
                    f"resource id must start with '/subscriptions/', got '{_show(path)}'", text=original
                )
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        raw = path[1:].split("/")
        if any(not s for s in raw):
            raise InvalidResourceIdError("resource id has an empty segment ('//')", text=original)
        try:
            segments = [unquote(s, errors="strict") for s in raw]
        except UnicodeDecodeError:
            raise InvalidResourceIdError("resource id has an invalid percent-encoding", text=original) from None
        try:
            return cls._from_segments(segments)
        except InvalidResourceIdError as exc:
            exc.text = original
            raise

    @classmethod
    def _from_segments(cls, segments: list[str]) -> ResourceId:
        n = len(segments)
        if segments[0].lower() != "subscriptions":
            raise InvalidResourceIdError(f"resource id must start with '/subscriptions/', got '/{_show(segments[0])}'")
        if n < 2:
            raise InvalidResourceIdError("resource id is missing the subscription id")
        subscription = segments[1]
        _check_subscription(subscription)
        i = 2
        resource_group: str | None = None
        if i < n and segments[i].lower() == "resourcegroups":
            if i + 1 >= n:
                raise InvalidResourceIdError("resource id is missing the resource group name")
            resource_group = segments[i + 1]
            i += 2
        elif i < n and segments[i].lower() != "providers":
            raise InvalidResourceIdError(
                f"unexpected segment '{_show(segments[i])}' after the subscription; "
                "expected 'resourceGroups' or 'providers'"
            )
        current = cls(subscription, resource_group)
        while i < n:
            if segments[i].lower() != "providers":
                raise InvalidResourceIdError(f"unexpected segment '{_show(segments[i])}'; expected 'providers'")
            if i + 1 >= n:
                raise InvalidResourceIdError("resource id is missing the provider namespace after 'providers'")
            namespace = segments[i + 1]
            _check_namespace(namespace)
            j = i + 2
            pairs: list[tuple[str, str]] = []
            while j < n and segments[j].lower() != "providers":
                type_name = segments[j]
                _check_type(type_name)
                if j + 1 >= n:
                    raise InvalidResourceIdError(f"resource id is missing a name after type '{type_name}'")
                pairs.append((type_name, segments[j + 1]))
                j += 2
            if not pairs:
                raise InvalidResourceIdError(f"resource id is missing a resource type after provider '{namespace}'")
            scope = current if current.resources else None
            current = cls(subscription, resource_group, namespace, tuple(pairs), scope)
            i = j
        return current

    # -- views --------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        if self.scope is not None:
            prefix = self.scope.id
        else:
            prefix = f"/subscriptions/{self.subscription.lower()}"
            if self.resource_group is not None:
                prefix += f"/resourceGroups/{self.resource_group}"
        if self.provider is None:
            return prefix
        tail = "/".join(f"{t}/{name}" for t, name in self.resources)
        return f"{prefix}/providers/{self.provider}/{tail}"

    @property
    def kind(self) -> ScopeKind:
        if self.resources:
            return ScopeKind.RESOURCE
        return ScopeKind.RESOURCE_GROUP if self.resource_group is not None else ScopeKind.SUBSCRIPTION

    @property
    def name(self) -> str:
        """The last name in the id (resource, group or subscription)."""
        if self.resources:
            return self.resources[-1][1]
        return self.resource_group if self.resource_group is not None else self.subscription

    @property
    def resource_type(self) -> str:
        """ARM's full type, e.g. ``Microsoft.Compute/virtualMachines/extensions``."""
        if self.provider is None:
            kind = "resourceGroups" if self.resource_group is not None else "subscriptions"
            return f"Microsoft.Resources/{kind}"
        return f"{self.provider}/" + "/".join(t for t, _ in self.resources)

    def is_type(self, resource_type: str) -> bool:
        """Case-insensitive type test, e.g. ``is_type('Microsoft.Compute/virtualMachines')``."""
        return self.resource_type.casefold() == resource_type.casefold()

    @property
    def parent(self) -> ResourceId | None:
        if len(self.resources) > 1:
            return ResourceId(self.subscription, self.resource_group, self.provider, self.resources[:-1], self.scope)
        if self.resources:
            if self.scope is not None:
                return self.scope
            return ResourceId(self.subscription, self.resource_group)
        if self.resource_group is not None:
            return ResourceId(self.subscription)
        return None

    @property
    def resource_group_id(self) -> ResourceId | None:
        return ResourceId(self.subscription, self.resource_group) if self.resource_group is not None else None

    @property
    def subscription_id(self) -> ResourceId:
        return ResourceId(self.subscription)

    def child(self, type_name: str, name: str) -> ResourceId:
        """A child id: ``child('extensions', 'x')`` under a resource, or a namespaced
        ``child('Microsoft.Authorization/locks', 'x')`` for a new provider section."""
        if "/" in type_name:
            namespace, _, leaf = type_name.rpartition("/")
            if self.resources:
                return ResourceId(self.subscription, self.resource_group, namespace, ((leaf, name),), self)
            return ResourceId(self.subscription, self.resource_group, namespace, ((leaf, name),))
        if self.provider is None:
            raise InvalidResourceIdError(
                f"child type '{_show(type_name)}' needs a provider namespace ('Namespace/{type_name}') "
                "at subscription or resource group scope"
            )
        return ResourceId(
            self.subscription, self.resource_group, self.provider, (*self.resources, (type_name, name)), self.scope
        )

    def is_within(self, other: ResourceId) -> bool:
        """True when this id is ``other`` or lies beneath it."""
        mine, theirs = self.id.casefold(), other.id.casefold()
        return mine == theirs or mine.startswith(theirs + "/")


def _kind_label(rid: ResourceId) -> str:
    if rid.kind is ScopeKind.SUBSCRIPTION:
        return "a subscription id"
    if rid.kind is ScopeKind.RESOURCE_GROUP:
        return "a resource group id"
    if rid.scope is not None:
        return f"{rid.resource_type} (an extension of {rid.scope.resource_type})"
    return rid.resource_type


def _expect(text: str | ResourceId, resource_type: str) -> ResourceId:
    """Parse ``text`` and insist on ``resource_type`` in a resource group; messages say what was found."""
    rid = ResourceId.parse(text)
    if rid.resource_group is None:
        raise InvalidResourceIdError("resource id is missing the resource group segment", text=str(text))
    if rid.scope is not None or not rid.is_type(resource_type):
        raise InvalidResourceIdError(f"expected a {resource_type} id, got {_kind_label(rid)}", text=str(text))
    return rid


@dataclass(frozen=True, slots=True, eq=False)
class SubscriptionRef(_CaseInsensitive):
    subscription_id: str

    def __post_init__(self) -> None:
        _check_subscription(self.subscription_id)

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.subscription_id.lower()}"

    @property
    def resource_id(self) -> ResourceId:
        return ResourceId(self.subscription_id)

    @classmethod
    def parse(cls, text: str | ResourceId) -> SubscriptionRef:
        if isinstance(text, str) and _GUID.match(text.strip()):
            return cls(text.strip())
        rid = ResourceId.parse(text)
        if rid.kind is not ScopeKind.SUBSCRIPTION:
            raise InvalidResourceIdError(f"expected a subscription id, got {_kind_label(rid)}", text=str(text))
        return cls(rid.subscription)


@dataclass(frozen=True, slots=True, eq=False)
class ResourceGroupRef(_CaseInsensitive):
    subscription_id: str
    name: str

    def __post_init__(self) -> None:
        _check_subscription(self.subscription_id)
        _check_resource_group(self.name)

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.subscription_id.lower()}/resourceGroups/{self.name}"

    @property
    def resource_id(self) -> ResourceId:
        return ResourceId(self.subscription_id, self.name)

    @property
    def subscription(self) -> SubscriptionRef:
        return SubscriptionRef(self.subscription_id)

    @classmethod
    def parse(cls, text: str | ResourceId) -> ResourceGroupRef:
        rid = ResourceId.parse(text)
        if rid.resource_group is None:
            raise InvalidResourceIdError("resource id is missing the resource group segment", text=str(text))
        if rid.kind is not ScopeKind.RESOURCE_GROUP:
            raise InvalidResourceIdError(f"expected a resource group id, got {_kind_label(rid)}", text=str(text))
        return cls(rid.subscription, rid.resource_group)


@dataclass(frozen=True, slots=True, eq=False)
class _GroupedRef(_CaseInsensitive):
    """A top-level resource in a resource group (VM, vault, collection)."""

    subscription_id: str
    resource_group: str
    name: str

    RESOURCE_TYPE = ""  # overridden; a class constant, not a dataclass field (no annotation)

    def __post_init__(self) -> None:
        # Building the generic id validates every part.
        self.resource_id  # noqa: B018

    @property
    def resource_id(self) -> ResourceId:
        namespace, leaf = self.RESOURCE_TYPE.split("/")
        return ResourceId(self.subscription_id, self.resource_group, namespace, ((leaf, self.name),))

    @property
    def id(self) -> str:
        # Formatted directly (as ResourceId.id would): the parts were validated once, in __post_init__,
        # and refs are hashed and compared by this string in every lookup of a fleet scan.
        return f"/subscriptions/{self.subscription_id.lower()}/resourceGroups/{self.resource_group}" \
               f"/providers/{self.RESOURCE_TYPE}/{self.name}"

    @property
    def resource_group_ref(self) -> ResourceGroupRef:
        return ResourceGroupRef(self.subscription_id, self.resource_group)

    @property
    def subscription(self) -> SubscriptionRef:
        return SubscriptionRef(self.subscription_id)

    @classmethod
    def _parse_grouped(cls, text: str | ResourceId) -> tuple[str, str, str]:
        rid = _expect(text, cls.RESOURCE_TYPE)
        assert rid.resource_group is not None
        return rid.subscription, rid.resource_group, rid.name


@dataclass(frozen=True, slots=True, eq=False)
class VmRef(_GroupedRef):
    """A virtual machine: ``/subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachines/<vm>``."""

    RESOURCE_TYPE = "Microsoft.Compute/virtualMachines"

    @classmethod
    def parse(cls, text: str | ResourceId) -> VmRef:
        return cls(*cls._parse_grouped(text))

    @property
    def backup_container_name(self) -> str:
        return backup_container_name(self)

    @property
    def protected_item_name(self) -> str:
        return protected_item_name(self)


@dataclass(frozen=True, slots=True, eq=False)
class VaultRef(_GroupedRef):
    """A Recovery Services vault."""

    RESOURCE_TYPE = "Microsoft.RecoveryServices/vaults"

    @classmethod
    def parse(cls, text: str | ResourceId) -> VaultRef:
        return cls(*cls._parse_grouped(text))


@dataclass(frozen=True, slots=True, eq=False)
class RestorePointCollectionRef(_GroupedRef):
    """A restore point collection (Azure Backup's instant-restore snapshots live in these)."""

    RESOURCE_TYPE = "Microsoft.Compute/restorePointCollections"

    @classmethod
    def parse(cls, text: str | ResourceId) -> RestorePointCollectionRef:
        return cls(*cls._parse_grouped(text))


_LOCK_TYPE = "Microsoft.Authorization/locks"


@dataclass(frozen=True, slots=True, eq=False)
class LockRef(_CaseInsensitive):
    """A management lock: a scope (subscription, resource group or resource) plus a name."""

    scope: ResourceId
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.scope, ResourceId):
            raise InvalidResourceIdError("lock scope must be a ResourceId")
        _check_name(self.name, "locks")

    @property
    def id(self) -> str:
        return f"{self.scope.id}/providers/{_LOCK_TYPE}/{self.name}"

    @property
    def scope_kind(self) -> ScopeKind:
        return self.scope.kind

    @property
    def resource_group(self) -> str | None:
        return self.scope.resource_group

    @property
    def resource_id(self) -> ResourceId:
        return ResourceId.parse(self.id)

    @classmethod
    def parse(cls, text: str | ResourceId) -> LockRef:
        rid = ResourceId.parse(text)
        if not rid.is_type(_LOCK_TYPE) or len(rid.resources) != 1:
            raise InvalidResourceIdError(f"expected a {_LOCK_TYPE} id, got {_kind_label(rid)}", text=str(text))
        if rid.scope is not None:
            scope = rid.scope
        elif rid.resource_group is not None:
            scope = ResourceId(rid.subscription, rid.resource_group)
        else:
            scope = ResourceId(rid.subscription)
        return cls(scope, rid.name)


_VAULT_CHILD = "Microsoft.RecoveryServices/vaults"


def _vault_child(text: str | ResourceId, child_types: tuple[str, ...]) -> tuple[VaultRef, tuple[str, ...]]:
    """Parse a vault child id of the given types; return the vault and the child names."""
    full = "/".join((_VAULT_CHILD, *child_types))
    rid = _expect(text, full)
    vault = VaultRef(rid.subscription, rid.resource_group or "", rid.resources[0][1])
    return vault, tuple(name for _, name in rid.resources[1:])


@dataclass(frozen=True, slots=True, eq=False)
class ProtectedItemRef(_CaseInsensitive):
    """A backup protected item: ``<vault>/backupFabrics/Azure/protectionContainers/<c>/protectedItems/<i>``.

    Container and item names contain ``;`` (``IaasVMContainer;iaasvmcontainerv2;rg;vm``,
    ``VM;iaasvmcontainerv2;rg;vm``); ``.id`` prints them raw, as ARM returns them.
    """

    vault: VaultRef
    container_name: str
    item_name: str
    fabric_name: str = "Azure"

    def __post_init__(self) -> None:
        _check_name(self.fabric_name, "backupFabrics")
        _check_name(self.container_name, "protectionContainers")
        _check_name(self.item_name, "protectedItems")

    @property
    def id(self) -> str:
        return (
            f"{self.vault.id}/backupFabrics/{self.fabric_name}/protectionContainers/{self.container_name}"
            f"/protectedItems/{self.item_name}"
        )

    @property
    def resource_id(self) -> ResourceId:
        return ResourceId.parse(self.id)

    @classmethod
    def parse(cls, text: str | ResourceId) -> ProtectedItemRef:
        vault, (fabric, container, item) = _vault_child(
            text, ("backupFabrics", "protectionContainers", "protectedItems")
        )
        return cls(vault, container, item, fabric)

    @classmethod
    def for_vm(cls, vault: VaultRef, vm: VmRef) -> ProtectedItemRef:
        return cls(vault, backup_container_name(vm), protected_item_name(vm))

    def concerns(self, vm: VmRef) -> bool:
        """True when the item name designates ``vm`` (names carry the lower-cased rg and vm)."""
        try:
            rg, name = vm_names_from_backup_name(self.item_name)
        except InvalidResourceIdError:
            return False
        return rg == vm.resource_group.lower() and name == vm.name.lower()


@dataclass(frozen=True, slots=True, eq=False)
class BackupJobRef(_CaseInsensitive):
    """A backup job in a vault: ``<vault>/backupJobs/<job guid>``."""

    vault: VaultRef
    name: str

    def __post_init__(self) -> None:
        _check_name(self.name, "backupJobs")

    @property
    def id(self) -> str:
        return f"{self.vault.id}/backupJobs/{self.name}"

    @classmethod
    def parse(cls, text: str | ResourceId) -> BackupJobRef:
        vault, (name,) = _vault_child(text, ("backupJobs",))
        return cls(vault, name)


@dataclass(frozen=True, slots=True, eq=False)
class BackupPolicyRef(_CaseInsensitive):
    """A backup policy in a vault: ``<vault>/backupPolicies/<name>``."""

    vault: VaultRef
    name: str

    def __post_init__(self) -> None:
        _check_name(self.name, "backupPolicies")

    @property
    def id(self) -> str:
        return f"{self.vault.id}/backupPolicies/{self.name}"

    @classmethod
    def parse(cls, text: str | ResourceId) -> BackupPolicyRef:
        vault, (name,) = _vault_child(text, ("backupPolicies",))
        return cls(vault, name)


# -- Azure Backup naming -------------------------------------------------------------------------

_BACKUP_CONTAINER_KINDS = ("iaasvmcontainerv2", "iaasvmcontainer")


def backup_container_name(vm: VmRef) -> str:
    """``IaasVMContainer;iaasvmcontainerv2;<rg>;<vm>`` with rg and vm lower-cased, as the service names it."""
    return f"IaasVMContainer;iaasvmcontainerv2;{vm.resource_group.lower()};{vm.name.lower()}"


def protected_item_name(vm: VmRef) -> str:
    """``VM;iaasvmcontainerv2;<rg>;<vm>`` with rg and vm lower-cased."""
    return f"VM;iaasvmcontainerv2;{vm.resource_group.lower()};{vm.name.lower()}"


def vm_names_from_backup_name(name: str) -> tuple[str, str]:
    """The lower-cased ``(resource group, vm)`` in a container or item name.

    Accepts the item form ``VM;iaasvmcontainerv2;rg;vm``, the container form
    ``IaasVMContainer;iaasvmcontainerv2;rg;vm`` and the job/item ``containerName``
    form without the first part (``iaasvmcontainerv2;rg;vm``); ``%3B`` is decoded.
    """
    parts = unquote(name).split(";")
    if len(parts) == 4:
        parts = parts[1:]
    if len(parts) != 3 or parts[0].lower() not in _BACKUP_CONTAINER_KINDS or not parts[1] or not parts[2]:
        raise InvalidResourceIdError(
            f"backup name '{_show(name)}' is not of the form 'VM;iaasvmcontainerv2;<rg>;<vm>'"
        )
    return parts[1].lower(), parts[2].lower()


def normalize_region(region: str) -> str:
    """ARM's short region name: ``'North Europe'`` -> ``'northeurope'``."""
    return "".join(region.split()).lower()


@dataclass(frozen=True, slots=True)
class RestorePointRgNaming:
    """Which resource groups hold Azure Backup's restore point collections for a policy.

    Default: ``AzureBackupRG_<region>_<n>`` (n from 1), created in the VM's region.

    Custom (policy ``instantRpDetails.azureBackupRGNamePrefix`` / ``...Suffix``): the
    Azure Backup docs ("Azure Backup resource group for Virtual Machines",
    backup-during-vm-creation.md) give the pattern as ``<prefix> n <suffix>``: the
    number is appended to the prefix *directly*, with no separator added, and the
    suffix is optional. So prefix ``Contoso_`` and suffix ``ForVMs`` give
    ``Contoso_1ForVMs``; a prefix without a trailing ``_`` gives ``myrg1``. We
    implement exactly that rule (not ``<prefix>_<n>``), because the names decide
    where locks may be removed: guessing wider would widen the guard rail.
    Comparison ignores case, like ARM.
    """

    region: str | None = None
    prefix: str | None = None
    suffix: str | None = None

    @property
    def is_custom(self) -> bool:
        return bool(self.prefix)

    @property
    def pattern(self) -> re.Pattern[str]:
        number = r"(?P<n>[1-9][0-9]*)"
        if self.is_custom:
            assert self.prefix is not None
            return re.compile(f"^{re.escape(self.prefix)}{number}{re.escape(self.suffix or '')}$", re.IGNORECASE)
        region = re.escape(normalize_region(self.region)) if self.region else "[a-z0-9]+"
        return re.compile(f"^{re.escape(DEFAULT_RESTORE_POINT_RG_PREFIX)}{region}_{number}$", re.IGNORECASE)

    def matches(self, resource_group: str) -> bool:
        return self.number(resource_group) is not None

    def number(self, resource_group: str) -> int | None:
        match = self.pattern.match(resource_group)
        return int(match.group("n")) if match else None

    def name(self, n: int = 1) -> str:
        """The resource group name the service uses for index ``n``."""
        if n < 1:
            raise InvalidInputError(f"restore point resource group index must be >= 1, got {n}")
        if self.is_custom:
            return f"{self.prefix}{n}{self.suffix or ''}"
        if not self.region:
            raise InvalidInputError("the default restore point resource group name needs the VM's region")
        return f"{DEFAULT_RESTORE_POINT_RG_PREFIX}{normalize_region(self.region)}_{n}"

    def describe(self) -> str:
        if self.is_custom:
            return f"{self.prefix}<n>{self.suffix or ''}"
        return f"{DEFAULT_RESTORE_POINT_RG_PREFIX}{normalize_region(self.region) if self.region else '<region>'}_<n>"

    def to_dict(self) -> dict[str, Any]:
        return {"region": self.region, "prefix": self.prefix, "suffix": self.suffix}
