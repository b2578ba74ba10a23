"""Finding unicorn's live register file, and the library-call path when it is not used."""

from __future__ import annotations

import ctypes
import os

import pytest
from unicorn import ppc_const as R

import x360k.cpu.runtime as runtime_module
from tests.cpu.test_trace_stability import CASES, _golden, summarise
from x360k.cpu.engine import Engine
from x360k.cpu.register_file import locate

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
