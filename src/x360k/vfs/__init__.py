"""The guest's file system: host folders mounted as Xbox 360 devices, behind a sandbox.

``x360k.vfs.mount(kernel, title="game/", cache="cache/")`` gives a kernel its
devices; the file exports (:mod:`x360k.exports.files` and its neighbours) resolve
guest paths through the :class:`~x360k.vfs.namespace.Namespace` it stores in ``kernel.ext["vfs"]``.
See docs/files.md.
"""

from x360k.vfs.device import HostFolderDevice, VolumeInfo
from x360k.vfs.mount import DeviceSpec, mount, namespace_of
from x360k.vfs.namespace import CDROM0, HARDDISK0_CACHE0, HARDDISK0_PARTITION1, Namespace

__all__ = [
    "CDROM0",
    "HARDDISK0_CACHE0",
    "HARDDISK0_PARTITION1",
    "DeviceSpec",
    "HostFolderDevice",
    "Namespace",
    "VolumeInfo",
    "mount",
    "namespace_of",
]
