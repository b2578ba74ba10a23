"""The kernel's trace stream and the object table's listener.

Every event lands in one thread's stream with that thread's next index
(counted even when tracing is off, so indices and sids never depend on
whether a recorder is attached). The object table reports each slot filled or
emptied here; they become ``handle.create`` / ``handle.destroy`` with their
sids, and an object's last reference going frees the guest memory the kernel
allocated for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from x360k.kernel_state import KernelParts
from x360k.objects.base import KernelObject
from x360k.objects.thread import Thread
from x360k.trace.event import TraceEvent, make_sid

M32: Final = 0xFFFFFFFF


def _path_of(obj: KernelObject) -> str | None:
    path = getattr(obj, "path", None)
    return path if isinstance(path, str) else None


class KernelTrace:
    """Emits a kernel's events; the object table's ``TableListener``."""

    __slots__ = ("_release_thread", "destroyed", "k", "keep_destroyed")

    def __init__(
        self, k: KernelParts, release_thread: Callable[[Thread], None], keep_destroyed: bool
    ) -> None:
        self.k = k
        self._release_thread = release_thread
        self.keep_destroyed = keep_destroyed
        #: With keep_destroyed, every destroyed object in order (off by default: a long run
        #: would keep every object it ever made alive). ``table.destroyed_count`` counts them.
        self.destroyed: list[KernelObject] = []

    def emit(self, thread: Thread, kind: str, **fields: Any) -> int:
        """Record one event in ``thread``'s stream; returns its index (counted even when off)."""
        idx = thread.next_idx
        thread.next_idx = idx + 1
        k = self.k
        rec = k.call_recorder
        if rec is not None:
            rec.record(
                TraceEvent(
                    tid=thread.ordinal,
                    idx=idx,
                    kind=kind,
                    raw_tid=thread.thread_id,
                    ts=k.clock,
                    **fields,
                )
            )
        return idx

    def sid_of(self, handle: int) -> str | None:
        """The sid of a live slot (None for untraced or free slots)."""
        key = self.k.table.sid_key(handle)
        return None if key < 0 else make_sid(key >> 32, key & M32)

    # -- TableListener ------------------------------------------------------------------------

    def _thread(self) -> Thread | None:
        k = self.k
        return k.current or (k.threads[0] if k.threads else None)

    def handle_created(self, handle: int, obj: KernelObject, traced: bool) -> int:
        thread = self._thread()
        if not traced or thread is None:
            return -1
        idx = thread.next_idx
        if self.k.call_recorder is None:
            thread.next_idx = idx + 1
        else:
            self.emit(
                thread,
                "handle.create",
                handle=handle,
                sid=make_sid(thread.ordinal, idx),
                object_type=obj.TYPE,
                path=_path_of(obj),
            )
        return (thread.ordinal << 32) | idx

    def handle_destroyed(self, handle: int, obj: KernelObject, sid_key: int, traced: bool) -> None:
        if not obj.handles:
            for hook in self.k.ext.get("hook:last_handle_closed", ()):
                hook(obj)  # the console's object namespace detaches temporary names
        thread = self._thread()
        if not traced or thread is None or sid_key < 0:
            return
        if self.k.call_recorder is None:
            thread.next_idx += 1
        else:
            self.emit(
                thread,
                "handle.destroy",
                handle=handle,
                sid=make_sid(sid_key >> 32, sid_key & M32),
                object_type=obj.TYPE,
            )

    def object_destroyed(self, obj: KernelObject) -> None:
        if self.keep_destroyed:
            self.destroyed.append(obj)
        k = self.k
        owned = k.owned_bodies.pop(obj.body, None)
        if owned is not None:
            k.bodies.pop(obj.body, None)
            k.memory.free_system(*owned)
        if isinstance(obj, Thread):
            self._release_thread(obj)
