"""The unicorn PowerPC engine the guest threads share, and its fast register paths.

Which CPU: unicorn 2.1's PowerPC build cannot give a working 64-bit core. In
``UC_MODE_PPC64`` the default model (POWER10) faults every instruction fetch
(interrupt 70, hypervisor instruction storage) and ``ctl_set_cpu_model`` looks
the number up in the 32-bit table, so ``UC_CPU_PPC64_970FX_V3_1`` (7) selects a
PowerPC 401G2: an embedded core with no FPU and no 64-bit instructions. We
therefore run ``UC_MODE_PPC32`` big-endian with unicorn's default model for
that mode, the PowerPC 7457A (G4): 32-bit addresses as on the Xbox 360, an FPU
and AltiVec (the ancestor of Xenon's VMX128). Guests are built ``-m32``.

The hot paths (start, stop, reading the call registers, contexts) call
libunicorn through the binding's own ctypes handle with preallocated buffers:
going through ``Uc.reg_read`` per register costs more than the kernel call
it serves.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from typing import Any, Final

import unicorn
from unicorn import ppc_const as R
from unicorn.unicorn_py3.unicorn import uclib

#: The binding's classes, untyped for mypy (its annotations are partial).
_UC: Any = unicorn
#: void (*)(uc_engine *, uint32_t intno, void *user_data)
_INTR_CALLBACK: Any = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)

#: MSR bits a guest thread runs with: floating point and AltiVec available.
MSR_FP: Final = 1 << 13
MSR_VEC: Final = 1 << 25
#: The interrupt number unicorn reports for ``sc``.
INTR_SYSCALL: Final = 8

#: Registers read after every ``sc``, in this order.
CALL_REGS: Final = (
    R.UC_PPC_REG_PC,
    R.UC_PPC_REG_LR,
    R.UC_PPC_REG_0,
    R.UC_PPC_REG_1,
    R.UC_PPC_REG_3,
    R.UC_PPC_REG_4,
    R.UC_PPC_REG_5,
    R.UC_PPC_REG_6,
    R.UC_PPC_REG_7,
    R.UC_PPC_REG_8,
    R.UC_PPC_REG_9,
    R.UC_PPC_REG_10,
)
GPRS: Final = tuple(getattr(R, f"UC_PPC_REG_{i}") for i in range(32))
#: Special registers shown in fault reports.
SPECIAL_REGS: Final = {
    "pc": R.UC_PPC_REG_PC,
    "lr": R.UC_PPC_REG_LR,
    "ctr": R.UC_PPC_REG_CTR,
    "cr": R.UC_PPC_REG_CR,
    "xer": R.UC_PPC_REG_XER,
    "msr": R.UC_PPC_REG_MSR,
}


class Engine:
    """One unicorn instance plus the preallocated buffers of its fast paths."""

    def __init__(self) -> None:
        self.uc: Any = _UC.Uc(_UC.UC_ARCH_PPC, _UC.UC_MODE_PPC32 | _UC.UC_MODE_BIG_ENDIAN)
        self._h = self.uc._uch
        n = len(CALL_REGS)
        self._call_ids = (ctypes.c_int * n)(*CALL_REGS)
        self._call_vals = (ctypes.c_uint32 * n)()
        size = ctypes.sizeof(ctypes.c_uint32)
        base = ctypes.addressof(self._call_vals)
        self._call_ptrs = (ctypes.c_void_p * n)(*(base + i * size for i in range(n)))
        self._n_call = ctypes.c_int(n)
        self._one = ctypes.c_uint32()
        self._one_ref = ctypes.byref(self._one)
        self._mapped: list[Any] = []  # keeps the ctypes views of mapped buffers alive
        self.write_reg(R.UC_PPC_REG_MSR, self.read_reg(R.UC_PPC_REG_MSR) | MSR_FP | MSR_VEC)

    # -- memory -----------------------------------------------------------------------------------

    def map_buffer(self, base: int, data: bytearray) -> None:
        """Map ``data`` itself at ``base``: the CPU and the kernel then share those bytes."""
        view = (ctypes.c_char * len(data)).from_buffer(data)
        self._mapped.append(view)
        self.uc.mem_map_ptr(base, len(data), 7, ctypes.addressof(view))

    # -- running ----------------------------------------------------------------------------------

    def start(self, pc: int, count: int) -> int:
        """Run from ``pc`` for at most ``count`` instructions (0: no limit); 0 or a uc_err."""
        return int(uclib.uc_emu_start(self._h, pc, 0, 0, count))

    def stop(self) -> None:
        uclib.uc_emu_stop(self._h)

    def hook_interrupts(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(interrupt_number)`` on every interrupt (``sc`` is 8).

        Registered straight with libunicorn: the binding's own wrapper costs a
        noticeable share of a kernel call's round trip.
        """

        def trampoline(uc: Any, number: int, data: Any) -> None:
            callback(number)

        c_callback = _INTR_CALLBACK(trampoline)
        self._mapped.append(c_callback)
        handle = ctypes.c_size_t()
        _check(
            uclib.uc_hook_add(
                self._h,
                ctypes.byref(handle),
                _UC.UC_HOOK_INTR,
                ctypes.cast(c_callback, ctypes.c_void_p),
                None,
                1,
                0,
            )
        )

    def hook_invalid_memory(self, callback: Callable[[Any, int, int, int, int, Any], bool]) -> None:
        self.uc.hook_add(_UC.UC_HOOK_MEM_INVALID, callback)

    # -- registers --------------------------------------------------------------------------------

    def call_registers(self) -> list[int]:
        """PC, LR, r0, r1, r3..r10 in one library call."""
        uclib.uc_reg_read_batch(self._h, self._call_ids, self._call_ptrs, self._n_call)
        return self._call_vals[:]

    def read_reg(self, reg: int) -> int:
        uclib.uc_reg_read(self._h, reg, self._one_ref)
        return int(self._one.value)

    def write_reg(self, reg: int, value: int) -> None:
        self._one.value = value & 0xFFFFFFFF
        uclib.uc_reg_write(self._h, reg, self._one_ref)

    def write_regs(self, values: Sequence[tuple[int, int]]) -> None:
        for reg, value in values:
            self.write_reg(reg, value)

    def snapshot(self) -> dict[str, int]:
        """Every general and special register by name (for fault reports)."""
        regs = {f"r{i}": self.read_reg(reg) for i, reg in enumerate(GPRS)}
        for name, reg in SPECIAL_REGS.items():
            regs[name] = self.read_reg(reg)
        return regs

    # -- contexts ---------------------------------------------------------------------------------

    def new_context(self) -> Any:
        handle = ctypes.c_void_p()
        _check(uclib.uc_context_alloc(self._h, ctypes.byref(handle)))
        return handle

    def save_context(self, handle: Any) -> None:
        _check(uclib.uc_context_save(self._h, handle))

    def restore_context(self, handle: Any) -> None:
        _check(uclib.uc_context_restore(self._h, handle))

    @staticmethod
    def free_context(handle: Any) -> None:
        uclib.uc_context_free(handle)


def _check(status: int) -> None:
    if status:
        raise _UC.UcError(status)
