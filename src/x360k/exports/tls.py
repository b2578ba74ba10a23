"""Thread-local storage exports: KeTlsAlloc, KeTlsFree, KeTlsGetValue, KeTlsSetValue.

Indices come from one process-wide bitmap of 2048; each thread stores its
values in a block of ``TLS_SLOTS`` big-endian u32 that PCR+0 points at,
allocated on the thread's first TLS access. Canary hands out indices up to
2047 although only the first 1024 have storage (quirk
``tls_alloc_beyond_storage``): setting such an index fails and getting it
reads 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from x360k.exports.registry import ExportGroup, Param, Returns
from x360k.exports.registry import P as K

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("tls")

TLS_INDICES: Final = 2048
#: Slots with storage per thread (canary's default when the executable declares none).
TLS_SLOTS: Final = 1024
TLS_OUT_OF_INDEXES: Final = 0xFFFFFFFF


@dataclass(slots=True)
class TlsState:
    """The process-wide index bitmap and each thread's storage block.

    A XEX title's TLS info sets ``slots`` (its slot count) and its static TLS:
    ``extended`` bytes in front of the slots, initialised from ``template``;
    PCR+0 then points at the static part, the slots follow it (canary's layout).
    """

    used: list[bool] = field(default_factory=lambda: [False] * TLS_INDICES)
    #: Thread ordinal -> address of its first slot.
    blocks: dict[int, int] = field(default_factory=dict)
    slots: int = TLS_SLOTS
    extended: int = 0
    template: bytes = b""


def _state(k: KernelState) -> TlsState:
    state = k.ext.get("tls")
    if state is None:
        state = k.ext["tls"] = TlsState()
    assert isinstance(state, TlsState)
    return state


def _block(k: KernelState, t: Thread) -> int:
    """The thread's TLS block, made (zeroed) and published at PCR+0 on first use."""
    state = _state(k)
    block = state.blocks.get(t.ordinal)
    if block is None:
        static = k.memory.alloc_system(state.extended + 4 * state.slots, 16)
        if state.template:
            k.memory.write_bytes(static, state.template[: state.extended])
        block = state.blocks[t.ordinal] = static + state.extended
        k.memory.write_u32(t.pcr, static)
    return block


@GROUP.export("KeTlsAlloc", 0x152, returns=Returns.VALUE)
def ke_tls_alloc(k: KernelState, t: Thread) -> int:
    """The lowest free index (its slot zeroed for the caller), or 0xFFFFFFFF when none is left."""
    state = _state(k)
    limit = TLS_INDICES if k.quirks.tls_alloc_beyond_storage else min(state.slots, TLS_INDICES)
    for index in range(limit):
        if not state.used[index]:
            state.used[index] = True
            if index < state.slots:
                k.memory.write_u32(_block(k, t) + 4 * index, 0)
            return index
    return TLS_OUT_OF_INDEXES


@GROUP.export("KeTlsFree", 0x153, Param("index", K.U32), returns=Returns.VALUE)
def ke_tls_free(k: KernelState, t: Thread, index: int) -> int:
    """Free an index and zero it in every thread; 1 on success (canary: even if never allocated)."""
    if index == TLS_OUT_OF_INDEXES or index >= TLS_INDICES:
        return 0
    state = _state(k)
    if not state.used[index] and not k.quirks.tls_alloc_beyond_storage:
        return 0
    state.used[index] = False
    if index < state.slots:
        for block in state.blocks.values():
            k.memory.write_u32(block + 4 * index, 0)
    return 1


@GROUP.export("KeTlsGetValue", 0x154, Param("index", K.U32), returns=Returns.VALUE)
def ke_tls_get_value(k: KernelState, t: Thread, index: int) -> int:
    """The caller's value at ``index`` (0 when out of range)."""
    if index >= _state(k).slots:
        return 0
    return k.memory.read_u32(_block(k, t) + 4 * index)


@GROUP.export(
    "KeTlsSetValue", 0x155, Param("index", K.U32), Param("value", K.U32), returns=Returns.VALUE
)
def ke_tls_set_value(k: KernelState, t: Thread, index: int, value: int) -> int:
    """Store the caller's value at ``index``; 1 on success, 0 when out of range."""
    if index >= _state(k).slots:
        return 0
    k.memory.write_u32(_block(k, t) + 4 * index, value)
    return 1


def thread_block(k: KernelState, t: Thread) -> int:
    """The thread's TLS slots, made now if need be (the CPU runtime, for a XEX's static TLS)."""
    return _block(k, t)
