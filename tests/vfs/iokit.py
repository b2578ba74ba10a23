"""A kernel with mounted host folders and shorthands for the file exports, for their tests."""

from __future__ import annotations

import struct
from pathlib import Path

from x360k import vfs
from x360k.kernel import Kernel
from x360k.quirks import Profile
from x360k.status import STATUS_SUCCESS
from x360k.trace.recorder import MemoryRecorder

GENERIC_READ = 0x80000000
GENERIC_WRITE = 0x40000000
RW = GENERIC_READ | GENERIC_WRITE
SYNC = 0x20  # FILE_SYNCHRONOUS_IO_NONALERT
DIRECTORY = 0x1
NON_DIRECTORY = 0x40
OPEN, CREATE, OPEN_IF, OVERWRITE, OVERWRITE_IF, SUPERSEDE = 1, 2, 3, 4, 5, 0
FILL = 0xCCCCCCCC


class IoKit:
    """``title/`` mounted read-only as game:, ``hdd/`` writable as hdd:."""

    def __init__(
        self, root: Path, profile: Profile = "canary", *, title_writable: bool = False, **q: bool
    ) -> None:
        self.title = root / "title"
        self.hdd = root / "hdd"
        self.title.mkdir(exist_ok=True)
        self.hdd.mkdir(exist_ok=True)
        self.rec = MemoryRecorder()
        self.k = Kernel(profile, quirks=q, recorder=self.rec)
        self.mem = self.k.memory
        self.ns = vfs.mount(self.k, self.title, hdd=self.hdd, title_writable=title_writable)

    def canary_or(self, canary_value: int, console_value: int) -> int:
        return canary_value if self.k.profile == "canary" else console_value

    def out(self, size: int = 4) -> int:
        ptr = self.mem.alloc(size, 8)
        self.mem.write_bytes(ptr, b"\xcc" * size)
        return ptr

    def attrs(self, path: bytes | str, root: int = 0) -> int:
        raw = path.encode("latin-1") if isinstance(path, str) else path
        return self.mem.new_object_attributes(raw, root=root)

    def create(
        self,
        path: bytes | str,
        access: int = GENERIC_READ,
        disposition: int = OPEN,
        options: int = SYNC,
        root: int = 0,
    ) -> tuple[int, int, int, int]:
        """(status, handle, iosb status, iosb information)."""
        hp, iosb = self.out(), self.out(8)
        status = self.k.call(
            "NtCreateFile", hp, access, self.attrs(path, root), iosb, 0, 0, 0, disposition, options
        )
        m = self.mem
        return status, m.read_u32(hp), m.read_u32(iosb), m.read_u32(iosb + 4)

    def open(self, path: str, access: int = GENERIC_READ, options: int = SYNC) -> int:
        status, handle, _, _ = self.create(path, access, OPEN, options)
        assert status == 0, hex(status)
        return handle

    def read(
        self,
        handle: int,
        length: int,
        offset: int | None = None,
        *,
        event: int = 0,
        apc: int = 0,
        ctx: int = 0,
    ) -> tuple[int, bytes, int, int]:
        """(status, data read per IOSB.Information, iosb status, iosb information)."""
        iosb, buf = self.out(8), self.out(max(length, 1))
        off = 0
        if offset is not None:
            off = self.mem.alloc(8, 8)
            self.mem.write_s64(off, offset)
        status = self.k.call("NtReadFile", handle, event, apc, ctx, iosb, buf, length, off)
        info = self.mem.read_u32(iosb + 4)
        data = self.mem.read_bytes(buf, info) if info != FILL else b""
        return status, data, self.mem.read_u32(iosb), info

    def write(
        self, handle: int, data: bytes, offset: int | None = None, *, event: int = 0
    ) -> tuple[int, int, int]:
        """(status, iosb status, iosb information)."""
        iosb, buf = self.out(8), self.out(max(len(data), 1))
        self.mem.write_bytes(buf, data)
        off = 0
        if offset is not None:
            off = self.mem.alloc(8, 8)
            self.mem.write_s64(off, offset)
        status = self.k.call("NtWriteFile", handle, event, 0, 0, iosb, buf, len(data), off)
        return status, self.mem.read_u32(iosb), self.mem.read_u32(iosb + 4)

    def close(self, handle: int) -> int:
        return self.k.call("NtClose", handle)

    def set_info(self, handle: int, cls: int, payload: bytes) -> tuple[int, int, int]:
        iosb, buf = self.out(8), self.out(max(len(payload), 1))
        self.mem.write_bytes(buf, payload)
        status = self.k.call("NtSetInformationFile", handle, iosb, buf, len(payload), cls)
        return status, self.mem.read_u32(iosb), self.mem.read_u32(iosb + 4)

    def rename_info(self, name: str, replace: bool = False) -> bytes:
        """A FILE_RENAME_INFORMATION payload for ``name``."""
        text = self.mem.new_ansi_string(name)
        length, maximum, buffer = struct.unpack(">HHI", self.mem.read_bytes(text, 8))
        return struct.pack(">IIHHI", int(replace), 0, length, maximum, buffer)

    def query_info(self, handle: int, cls: int, length: int) -> tuple[int, bytes, int]:
        iosb, buf = self.out(8), self.out(length)
        status = self.k.call("NtQueryInformationFile", handle, iosb, buf, length, cls)
        return status, self.mem.read_bytes(buf, length), self.mem.read_u32(iosb + 4)

    def list_dir(
        self, handle: int, pattern: str | None = None, length: int = 4096, restart: bool = False
    ) -> tuple[int, list[str]]:
        """One NtQueryDirectoryFile call: (status, names returned)."""
        iosb, buf = self.out(8), self.out(length)
        name = self.mem.new_ansi_string(pattern) if pattern is not None else 0
        status = self.k.call(
            "NtQueryDirectoryFile", handle, 0, 0, 0, iosb, buf, length, name, int(restart)
        )
        names: list[str] = []
        if status == 0:
            at = buf
            while True:
                n = self.mem.read_u32(at + 60)
                names.append(self.mem.read_bytes(at + 64, n).decode())
                nxt = self.mem.read_u32(at)
                if nxt == 0:
                    break
                at += nxt
        return status, names

    def list_all(self, handle: int, pattern: str | None = None) -> list[str]:
        out: list[str] = []
        first = True
        while True:
            status, names = self.list_dir(handle, pattern if first else None)
            first = False
            if status != 0:
                assert status == 0x80000006, hex(status)
                return out
            out += names

    def new_event(self, manual: bool = True) -> int:
        ptr = self.out()
        self.k.call("NtCreateEvent", ptr, 0, 0 if manual else 1, 0)
        return self.mem.read_u32(ptr)

    def zero_timeout(self) -> int:
        ptr = self.mem.alloc(8, 8)
        self.mem.write_s64(ptr, 0)
        return ptr

    def new_port(self) -> int:
        ptr = self.out()
        assert self.k.call("NtCreateIoCompletion", ptr, 0, 0, 0) == STATUS_SUCCESS
        return self.mem.read_u32(ptr)

    def remove(self, port: int, timeout: int | None = 0) -> tuple[int, int, int, int, int]:
        """NtRemoveIoCompletion: (status, key, apc context, iosb status, iosb information)."""
        key, ctx, iosb = self.out(), self.out(), self.out(8)
        t = 0
        if timeout is not None:
            t = self.mem.alloc(8, 8)
            self.mem.write_s64(t, timeout)
        status = self.k.call("NtRemoveIoCompletion", port, key, ctx, iosb, t)
        m = self.mem
        return status, m.read_u32(key), m.read_u32(ctx), m.read_u32(iosb), m.read_u32(iosb + 4)
