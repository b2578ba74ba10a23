"""The running title's XEX header in guest memory, for the loader exports to answer from.

``x360k run TITLE.xex`` copies the title's header (the first ``header_size``
bytes of the file, as canary keeps it) into kernel memory and publishes a
:class:`TitleModule` as ``kernel.ext["xex"]``. ``RtlImageXexHeaderField`` and
``XexGetModuleHandle`` (exports/modules.py) read it: :meth:`TitleModule.header_field`
gives what ``RtlImageXexHeaderField(header, key)`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from x360k.exports.module_table import describe_title
from x360k.kernel_state import KernelState
from x360k.xex.errors import XexError
from x360k.xex.headers import XexHeader
from x360k.xex.reader import XexFile

#: Where the header copy lives (between the kernel's data exports and its trampolines).
HEADER_BASE: Final = 0x80100000


@dataclass(frozen=True, slots=True)
class TitleModule:
    #: Guest address of the header copy.
    header_address: int
    header: XexHeader
    base: int
    entry: int
    image_size: int

    def header_field(self, key: int) -> int:
        """The value for keys ending 0x00, the guest address of the value word for 0x01,
        the guest address of the data otherwise; 0 when the header lacks ``key``."""
        h = self.header.optional.get(key)
        if h is None:
            return 0
        low = key & 0xFF
        if low == 0x00:
            return h.value
        if low == 0x01:
            return self.header_address + h.at + 4
        return self.header_address + h.value


def publish(
    kernel: KernelState, data: bytes, xex: XexFile, name: str = "default.xex"
) -> TitleModule:
    """Copy the header into kernel memory and publish the title as ``kernel.ext["xex"]``.

    The module table's title (``XexExecutableModuleHandle``, the loader exports)
    then answers from this header, under the file's ``name``.

    The copy gets a region of its own at ``HEADER_BASE`` (kernel range, clear of the
    title's) rather than a kernel allocation, so the addresses of everything the kernel
    allocates afterwards, and so a title's trace, are the same as its ELF's.
    """
    size = xex.header.header_size
    try:
        region = kernel.memory.map(HEADER_BASE, (size + 0xFFFF) & ~0xFFFF, "xex header")
    except ValueError as exc:
        raise XexError(f"cannot map the XEX header at 0x{HEADER_BASE:08x}: {exc}", 0) from None
    region.data[:size] = data[:size]
    module = TitleModule(HEADER_BASE, xex.header, xex.base, xex.entry, len(xex.image))
    kernel.ext["xex"] = module
    describe_title(kernel, name, xex.base, xex.entry, xex.security.image_size, HEADER_BASE)
    return module
