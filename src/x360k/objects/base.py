"""The base of every kernel object: lifetime, handles, name, and the dispatcher interface.

Lifetime follows canary's two-level model. ``refs`` is the object reference
count (one per slot that holds the object, plus long-lived kernel holders and,
under the console profile, explicit Ob references); the object is destroyed
exactly when it reaches zero. ``handles`` lists its live handle values, oldest
first: the first is the *primary* handle that canary's object-level
retain/release act on.

Dispatcher objects override :meth:`KernelObject.is_signalled_for` and
:meth:`KernelObject.satisfy`; the wait machinery in :mod:`x360k.dispatcher`
needs nothing else from them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from x360k.dispatcher import WaitBlock
    from x360k.memory import Backing
    from x360k.objects.thread import Thread


class KernelObject:
    """Something a handle can name."""

    #: The type name used in traces (``object_type``) and reports.
    TYPE: ClassVar[str] = "Undefined"
    #: Whether the object can be waited on (has a signal state).
    WAITABLE: ClassVar[bool] = False
    #: An object without a dispatcher header that NT waits on through the object
    #: manager's shared default object, an event that is always signalled
    #: (symbolic links, directories). Used where quirk
    #: ``unwaitable_objects_satisfy_single_waits`` is off.
    DEFAULT_OBJECT: ClassVar[bool] = False

    __slots__ = ("body", "destroyed", "handles", "name", "refs", "serial", "signal_cell", "waiters")

    def __init__(self) -> None:
        self.refs = 0
        self.handles: list[int] = []
        self.name: bytes | None = None
        self.destroyed = False
        #: Guest address of the object's body (KEVENT, KTHREAD...), 0 when it has none.
        self.body = 0
        #: Creation order within its kernel, for stable reports.
        self.serial = 0
        #: Where the body's signal_state lives: (body, region buffer, offset), cached.
        self.signal_cell: tuple[int, Backing, int] | None = None
        #: Wait blocks of the threads waiting on this object, in arrival order.
        self.waiters: list[WaitBlock] = []

    @property
    def primary_handle(self) -> int | None:
        return self.handles[0] if self.handles else None

    def is_signalled_for(self, thread: Thread) -> bool:
        """Whether a wait by ``thread`` on this object would be satisfied now."""
        return False

    def satisfy(self, thread: Thread) -> bool:
        """Apply the side effect of a satisfied wait by ``thread``; True if it was abandoned."""
        return False

    def signal_state(self) -> int:
        """The value a guest dispatcher header's signal_state field holds for this state."""
        return 0

    def describe(self) -> str:
        """A short state description for wedge reports."""
        return ""

    def on_destroy(self) -> None:
        """Release what the object holds; called once, when its last reference goes."""

    def __repr__(self) -> str:
        handles = ",".join(f"0x{h:08X}" for h in self.handles)
        return f"<{self.TYPE} #{self.serial} refs={self.refs} handles=[{handles}]>"


class Module(KernelObject):
    """A loaded module (the title's executable). Not waitable."""

    TYPE = "Module"
    __slots__ = ("module_name",)

    def __init__(self, module_name: str) -> None:
        super().__init__()
        self.module_name = module_name
