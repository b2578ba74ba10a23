"""Giving a kernel its file system: which host folders it sees, where, and how writable.

The namespace lives in ``kernel.ext["vfs"]``; the file exports find it with
:func:`namespace_of`, which gives a kernel nobody mounted anything for an
empty namespace (every path is then missing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from x360k.vfs.device import HostFolderDevice, VolumeInfo
from x360k.vfs.namespace import CDROM0, HARDDISK0_CACHE0, HARDDISK0_PARTITION1, Namespace

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState

EXT_KEY: Final = "vfs"


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One extra device: guest device path, host folder, writable or not, and its links."""

    path: str
    host: str | Path
    writable: bool = False
    links: tuple[str, ...] = ()
    label: str = ""


def namespace_of(kernel: KernelState | Any) -> Namespace:
    """The kernel's namespace, made empty on first use."""
    ns = kernel.ext.get(EXT_KEY)
    if ns is None:
        ns = Namespace()
        kernel.ext[EXT_KEY] = ns
    if not isinstance(ns, Namespace):
        raise TypeError(f"kernel.ext[{EXT_KEY!r}] is not a vfs Namespace")
    return ns


def mount(
    kernel: KernelState | Any,
    title: str | Path | None = None,
    *,
    title_device: str = CDROM0,
    title_writable: bool = False,
    hdd: str | Path | None = None,
    cache: str | Path | None = None,
    devices: Sequence[DeviceSpec] = (),
) -> Namespace:
    """Mount host folders into ``kernel``'s namespace and return it.

    ``title`` becomes ``title_device`` (``\\Device\\Cdrom0`` by default), read-only
    unless ``title_writable``, reachable as ``game:`` and ``d:``. ``hdd`` becomes
    ``\\Device\\Harddisk0\\Partition1`` (writable, link ``hdd:``), ``cache``
    ``\\Device\\Harddisk0\\Cache0`` (writable, link ``cache:``). Raises
    ``ValueError`` naming a folder that does not exist or a device mounted twice.
    """
    ns = namespace_of(kernel)
    if title is not None:
        ns.add_device(
            HostFolderDevice(title_device, Path(title), title_writable, VolumeInfo(label="title"))
        )
        ns.add_link("game:", title_device)
        ns.add_link("d:", title_device)
    if hdd is not None:
        ns.add_device(HostFolderDevice(HARDDISK0_PARTITION1, Path(hdd), True, VolumeInfo("hdd")))
        ns.add_link("hdd:", HARDDISK0_PARTITION1)
    if cache is not None:
        ns.add_device(HostFolderDevice(HARDDISK0_CACHE0, Path(cache), True, VolumeInfo("cache")))
        ns.add_link("cache:", HARDDISK0_CACHE0)
    for spec in devices:
        ns.add_device(
            HostFolderDevice(spec.path, Path(spec.host), spec.writable, VolumeInfo(spec.label))
        )
        for link in spec.links:
            ns.add_link(link, spec.path)
    return ns
