"""The unicorn PowerPC engine the guest threads share, and its fast register paths.

Which CPU: unicorn 2.1's PowerPC build cannot give a working 64-bit core. In
``UC_MODE_PPC64`` the default model (POWER10) faults every instruction fetch
(interrupt 70, hypervisor instruction storage) and ``ctl_set_cpu_model`` looks
the number up in the 32-bit table, so ``UC_CPU_PPC64_970FX_V3_1`` (7) selects a
PowerPC 401G2: an embedded core with no FPU and no 64-bit instructions. We
therefore run ``UC_MODE_PPC32`` big-endian with unicorn's default model for
that mode, the PowerPC 7457A (G4): 32-bit addresses as on the Xbox 360, an FPU
and AltiVec (the ancestor of Xenon's VMX128). Guests are built ``-m32``.

The hot paths (start, stop, reading the call registers, writing r3,
contexts) call libunicorn directly with preallocated buffers: going through
``Uc.reg_read`` per register costs more than the kernel call it serves. The
per-call ones are bound in advance with every argument already a ctypes
object and no ``argtypes``, which spares ctypes its per-argument conversion
(about half the cost of a call). They go through ``ctypes.PyDLL``, which keeps
the GIL across the call: x360k runs no other Python threads, and an interrupt
hook then re-enters Python without taking the GIL back.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import unicorn
from unicorn import ppc_const as R
from unicorn.unicorn_py3.unicorn import uclib

from x360k.cpu.register_file import locate

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


@dataclass(frozen=True, slots=True)
class SyscallPaths:
    """What serving a kernel call inside the interrupt hook reads and writes, inline.

    ``regs`` holds r0 at index 0, r1 at 1, r3..r10 at 3..10 and LR at
    ``lr_index``. When it is unicorn's live register file, ``read`` and
    ``write_r3`` are None: reading and storing ``regs[3]`` is all there is.
    Otherwise call ``read()`` first to fill it, and ``write_r3()`` after
    storing ``regs[3]``.
    """

    regs: memoryview
    lr_index: int
    read: Callable[[], object] | None
    write_r3: Callable[[], object] | None


class Engine:
    """One unicorn instance plus the preallocated buffers of its fast paths."""

    #: Stop the run in progress (from a hook: at the end of the current instruction).
    stop: Callable[[], object]

    def __init__(self, *, direct_registers: bool = True) -> None:
        self.uc: Any = _UC.Uc(_UC.UC_ARCH_PPC, _UC.UC_MODE_PPC32 | _UC.UC_MODE_BIG_ENDIAN)
        self._h = h = self.uc._uch
        lib = ctypes.PyDLL(uclib._name, handle=uclib._handle)
        self._emu_start = lib.uc_emu_start
        self._emu_start.argtypes = (
            ctypes.c_void_p,
            ctypes.c_uint64,
            ctypes.c_uint64,
            ctypes.c_uint64,
            ctypes.c_size_t,
        )
        self._emu_start.restype = ctypes.c_int
        self.stop = functools.partial(lib.uc_emu_stop, h)
        n = len(CALL_REGS)
        self._call_ids = (ctypes.c_int * n)(*CALL_REGS)
        self._call_vals = (ctypes.c_uint32 * n)()
        self._call_view = memoryview(self._call_vals).cast("B").cast("I")
        size = ctypes.sizeof(ctypes.c_uint32)
        base = ctypes.addressof(self._call_vals)
        self._call_ptrs = (ctypes.c_void_p * n)(*(base + i * size for i in range(n)))
        read = lib.uc_reg_read_batch
        self._read_call = functools.partial(read, h, self._call_ids, self._call_ptrs, n)
        self._one = ctypes.c_uint32()
        self._one_ref = ctypes.byref(self._one)
        self._mapped: list[Any] = []  # keeps the ctypes views of mapped buffers alive
        self._views: dict[int, Any] = {}  # guest base -> ctypes view of a mapped region
        self.write_reg(R.UC_PPC_REG_MSR, self.read_reg(R.UC_PPC_REG_MSR) | MSR_FP | MSR_VEC)
        #: Unicorn's live register file, when it could be found (see ``register_file``).
        self.register_file = (
            locate(h.value, self.read_reg, self.write_reg) if direct_registers else None
        )
        self._syscall_paths = self._make_syscall_paths(lib)

    def _make_syscall_paths(self, lib: Any) -> SyscallPaths:
        found = self.register_file
        if found is not None:
            live = (ctypes.c_uint32 * (found.lr_index + 1)).from_address(found.address)
            self._mapped.append(live)
            return SyscallPaths(memoryview(live).cast("B").cast("I"), found.lr_index, None, None)
        # Library calls into a buffer laid out the same way (index 2 unused, LR at 11).
        slots = (0, 1, *range(3, 11), 11)
        ids = (R.UC_PPC_REG_0, R.UC_PPC_REG_1, *GPRS[3:11], R.UC_PPC_REG_LR)
        buffer = (ctypes.c_uint32 * 12)()
        base = ctypes.addressof(buffer)
        c_ids = (ctypes.c_int * len(ids))(*ids)
        c_ptrs = (ctypes.c_void_p * len(ids))(*(base + 4 * slot for slot in slots))
        self._mapped += [buffer, c_ids, c_ptrs]
        read = functools.partial(lib.uc_reg_read_batch, self._h, c_ids, c_ptrs, len(ids))
        r3 = ctypes.c_void_p(base + 4 * 3)
        write_r3 = functools.partial(lib.uc_reg_write, self._h, R.UC_PPC_REG_3, r3)
        return SyscallPaths(memoryview(buffer).cast("B").cast("I"), 11, read, write_r3)

    # -- memory -----------------------------------------------------------------------------------

    def map_buffer(self, base: int, data: bytearray | mmap.mmap) -> None:
        """Map ``data`` itself at ``base``: the CPU and the kernel then share those bytes."""
        view = (ctypes.c_char * len(data)).from_buffer(data)
        self._views[base] = view
        self.uc.mem_map_ptr(base, len(data), 7, ctypes.addressof(view))

    def unmap_buffer(self, base: int, size: int) -> None:
        """Unmap what :meth:`map_buffer` mapped at ``base`` and let go of its buffer."""
        self.uc.mem_unmap(base, size)
        self._views.pop(base, None)

    def protect(self, base: int, size: int, access: int) -> None:
        """Set the CPU's access (UC_PROT_* bits) to ``[base, base + size)``."""
        self.uc.mem_protect(base, size, access)

    # -- running ----------------------------------------------------------------------------------

    def start(self, pc: int, count: int, until: int = 0) -> int:
        """Run from ``pc`` for at most ``count`` instructions (0: no limit); 0 or a uc_err.

        ``until``: stop on reaching that address (0: never; benchmarks use it).
        """
        return int(self._emu_start(self._h, pc, until, 0, count))

    def hook_interrupts(self, callback: Callable[[Any, int, Any], None]) -> None:
        """Call ``callback(uc_handle, interrupt_number, None)`` on every interrupt (``sc`` is 8).

        Registered straight with libunicorn, with no Python wrapper in between:
        the binding's own wrapper (or a trampoline) costs a noticeable share of a
        kernel call served inside the hook. An exception escaping ``callback``
        would be printed and swallowed by ctypes, so callbacks must catch their own.
        """
        c_callback = _INTR_CALLBACK(callback)
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
        self._read_call()
        return self._call_view.tolist()

    def syscall_paths(self) -> SyscallPaths:
        return self._syscall_paths

    def write_r3(self, value: int) -> None:
        """Set r3 (a kernel call's result) to the unsigned 32-bit ``value``."""
        self.write_reg(R.UC_PPC_REG_3, value)

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
