"""Random file operations through the kernel agree with the same operations on a host folder."""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.vfs.iokit import (
    CREATE,
    GENERIC_READ,
    GENERIC_WRITE,
    OPEN,
    OPEN_IF,
    OVERWRITE,
    OVERWRITE_IF,
    SUPERSEDE,
    IoKit,
)
from x360k.status import (
    STATUS_END_OF_FILE,
    STATUS_NO_SUCH_FILE,
    STATUS_OBJECT_NAME_COLLISION,
    STATUS_SUCCESS,
)

RW = GENERIC_READ | GENERIC_WRITE
NAMES = ["a.bin", "b.bin", "save"]
spelling = st.sampled_from(NAMES).flatmap(
    lambda n: st.lists(st.booleans(), min_size=len(n), max_size=len(n)).map(
        lambda caps: "".join(c.upper() if up else c for c, up in zip(n, caps, strict=True))
    )
)
op = st.one_of(
    st.tuples(
        st.just("create"),
        spelling,
        st.sampled_from([SUPERSEDE, OPEN, CREATE, OPEN_IF, OVERWRITE, OVERWRITE_IF]),
    ),
    st.tuples(st.just("write"), spelling, st.integers(0, 40), st.binary(min_size=0, max_size=24)),
    st.tuples(st.just("read"), spelling, st.integers(0, 48), st.integers(0, 32)),
    st.tuples(st.just("truncate"), spelling, st.integers(0, 40)),
    st.tuples(st.just("delete"), spelling),
    st.tuples(st.just("rename"), spelling, spelling, st.booleans()),
)


class HostModel:
    """The same operations on a plain folder, names stored folded (the Xbox is case-blind)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def p(self, name: str) -> Path:
        return self.root / name.lower()

    def create(self, name: str, disposition: int) -> int:
        path = self.p(name)
        exists = path.exists()
        if disposition == CREATE and exists:
            return STATUS_OBJECT_NAME_COLLISION
        if disposition in (OPEN, OVERWRITE) and not exists:
            return STATUS_NO_SUCH_FILE
        if disposition in (SUPERSEDE, OVERWRITE, OVERWRITE_IF) or not exists:
            path.write_bytes(b"")
        return STATUS_SUCCESS

    def write(self, name: str, offset: int, data: bytes) -> int:
        path = self.p(name)
        if not path.exists():
            return STATUS_NO_SUCH_FILE
        with open(path, "r+b") as f:
            f.seek(offset)
            f.write(data)
        return STATUS_SUCCESS

    def read(self, name: str, offset: int, length: int) -> tuple[int, bytes]:
        path = self.p(name)
        if not path.exists():
            return STATUS_NO_SUCH_FILE, b""
        data = path.read_bytes()[offset : offset + length]
        if length and not data:
            return STATUS_END_OF_FILE, b""
        return STATUS_SUCCESS, data

    def truncate(self, name: str, size: int) -> int:
        path = self.p(name)
        if not path.exists():
            return STATUS_NO_SUCH_FILE
        os.truncate(path, size)
        return STATUS_SUCCESS

    def delete(self, name: str) -> int:
        path = self.p(name)
        if not path.exists():
            return STATUS_NO_SUCH_FILE
        path.unlink()
        return STATUS_SUCCESS

    def rename(self, a: str, b: str, replace: bool) -> int:
        src, dst = self.p(a), self.p(b)
        if not src.exists():
            return STATUS_NO_SUCH_FILE
        if dst.exists() and src != dst and not replace:
            return STATUS_OBJECT_NAME_COLLISION
        os.replace(src, dst)
        return STATUS_SUCCESS

    def state(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in self.root.iterdir()}


def _kernel_op(io: IoKit, step: tuple) -> object:  # type: ignore[type-arg]
    kind, name = step[0], "hdd:\\" + step[1]
    if kind == "create":
        status, h, _, _ = io.create(name, RW, step[2])
        if status == STATUS_SUCCESS:
            io.close(h)
        return status
    status, h, _, _ = io.create(name, RW, OPEN)
    if status != STATUS_SUCCESS:
        return (status, b"") if kind == "read" else status
    try:
        if kind == "write":
            return io.write(h, step[3], offset=step[2])[0]
        if kind == "read":
            s, data, _, _ = io.read(h, step[3], offset=step[2])
            return s, data
        if kind == "truncate":
            return io.set_info(h, 20, struct.pack(">q", step[2]))[0]
        if kind == "delete":
            return io.set_info(h, 13, b"\x01")[0]
        text = io.mem.new_ansi_string(step[2])
        length, maximum, buffer = struct.unpack(">HHI", io.mem.read_bytes(text, 8))
        payload = struct.pack(">IIHHI", int(step[3]), 0, length, maximum, buffer)
        return io.set_info(h, 10, payload)[0]
    finally:
        io.close(h)


def _model_op(model: HostModel, step: tuple) -> object:  # type: ignore[type-arg]
    kind = step[0]
    if kind == "create":
        return model.create(step[1], step[2])
    if kind == "write":
        return model.write(step[1], step[2], step[3])
    if kind == "read":
        return model.read(step[1], step[2], step[3])
    if kind == "truncate":
        return model.truncate(step[1], step[2])
    if kind == "delete":
        return model.delete(step[1])
    return model.rename(step[1], step[2], step[3])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(op, max_size=14), profile=st.sampled_from(["canary", "console"]))
def test_random_operations_match_a_host_folder(steps: list[tuple], profile: str) -> None:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        io = IoKit(root, profile)  # type: ignore[arg-type]
        (root / "model").mkdir()
        model = HostModel(root / "model")
        for step in steps:
            assert _kernel_op(io, step) == _model_op(model, step), step
        got = {p.name.lower(): p.read_bytes() for p in io.hdd.iterdir()}
        assert got == model.state()
        d = io.open("hdd:\\", options=1 | 0x20)
        assert [n.lower() for n in io.list_all(d)] == sorted(model.state())
