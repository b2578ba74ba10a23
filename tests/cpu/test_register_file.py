"""Finding unicorn's live register file, and the library-call path when it is not used."""

from __future__ import annotations

import ctypes
import os

import pytest
from unicorn import ppc_const as R

import x360k.cpu.runtime as runtime_module
from tests.cpu.test_trace_stability import CASES, _golden, summarise
from x360k.cpu.engine import Engine
from x360k.cpu.register_file import GPR_IDS, RegisterFile, locate

HAS_PROC_MEM = os.path.exists("/proc/self/mem")


@pytest.mark.skipif(not HAS_PROC_MEM, reason="the search reads /proc/self/mem (Linux)")
def test_the_register_file_is_the_live_one() -> None:
    engine = Engine()
    found = engine.register_file
    assert found is not None
    regs = engine.syscall_paths().regs
    engine.write_reg(R.UC_PPC_REG_7, 0xDEADBEEF)
    engine.write_reg(R.UC_PPC_REG_LR, 0x82001234)
    assert regs[7] == 0xDEADBEEF and regs[found.lr_index] == 0x82001234
    regs[3] = 0x0BADF00D
    assert engine.read_reg(R.UC_PPC_REG_3) == 0x0BADF00D


@pytest.mark.skipif(not HAS_PROC_MEM, reason="the search reads /proc/self/mem (Linux)")
def test_the_search_restores_the_registers_it_used() -> None:
    engine = Engine(direct_registers=False)
    for i in range(32):
        engine.write_reg(R.UC_PPC_REG_0 + i, 0x1000 + i)
    engine.write_reg(R.UC_PPC_REG_LR, 0x4321)
    assert locate(engine._h.value, engine.read_reg, engine.write_reg) is not None
    assert [engine.read_reg(R.UC_PPC_REG_0 + i) for i in range(32)] == [
        0x1000 + i for i in range(32)
    ]
    assert engine.read_reg(R.UC_PPC_REG_LR) == 0x4321


@pytest.mark.skipif(not HAS_PROC_MEM, reason="the search reads /proc/self/mem (Linux)")
def test_a_stale_copy_found_first_does_not_hide_the_register_file() -> None:
    """A copy of the first pattern below the real file (as a Python object can be) is skipped.

    Checking the copy writes new values to the registers; the search must put the
    pattern back before it goes on, or the real file never matches (this was flaky
    under pytest, where the heap happened to hold such a copy first).
    """
    # Two arenas larger than the search's read size, so the copy and the file are never
    # read in one piece: the file's bytes are read only after the copy was checked.
    arenas = [ctypes.create_string_buffer(2 << 20) for _ in range(2)]
    low, high = sorted(ctypes.addressof(a) for a in arenas)
    decoy, registers, lr_word = low + 256, high + 256, 40
    engine_struct = (ctypes.c_uint64 * 2048)(low, high)
    stale = [True]

    def cell(reg: int) -> ctypes.c_uint32:
        index = lr_word if reg == R.UC_PPC_REG_LR else GPR_IDS.index(reg)
        return ctypes.c_uint32.from_address(registers + 4 * index)

    def write_reg(reg: int, value: int) -> None:
        cell(reg).value = value
        if stale[0] and reg != R.UC_PPC_REG_LR:
            ctypes.c_uint32.from_address(decoy + 4 * GPR_IDS.index(reg)).value = value
            stale[0] = reg != GPR_IDS[-1]  # only the first fill leaves a copy

    def read_reg(reg: int) -> int:
        return cell(reg).value

    found = locate(ctypes.addressof(engine_struct), read_reg, write_reg)
    assert found == RegisterFile(registers, lr_word)


def test_no_register_file_behind_a_struct_without_pointers_to_it() -> None:
    engine = Engine(direct_registers=False)
    decoy = ctypes.create_string_buffer(64 * 1024)  # all zeros: no pointers to follow
    assert locate(ctypes.addressof(decoy), engine.read_reg, engine.write_reg) is None
    assert engine.syscall_paths().read is not None


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.guest in {"stress", "producer_consumer", "dup_signal", "fault"}],
    ids=lambda c: c.id,
)
def test_library_calls_give_the_recorded_runs(
    case: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Engine] = []

    def library_engine() -> Engine:
        made.append(Engine(direct_registers=False))
        return made[-1]

    monkeypatch.setattr(runtime_module, "Engine", library_engine)
    assert summarise(case) == _golden()[case.id]  # type: ignore[arg-type,attr-defined]
    assert len(made) == 1 and made[0].syscall_paths().read is not None
