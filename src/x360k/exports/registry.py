"""The export registry: each export declared once with its name, ordinal and typed parameters.

The declarations drive everything that needs to know an export's shape: the
dispatcher decodes r3..r10 (and the stack) by them, the scenario runner builds
guest memory for pointer parameters by their kind, ``x360k exports`` lists
them, and the diff tool learns which arguments are pointers to mask.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from x360k.memory import GuestMemory
    from x360k.objects.thread import Thread

#: A handler returns this instead of a status when the calling thread must block;
#: the dispatcher then finishes the call when the wait completes.
BLOCKED: Final = -1

Handler = Callable[..., int]


class P(enum.StrEnum):
    """Parameter kinds: how a value is decoded and what a scenario may pass for it."""

    U32 = "u32"  # plain 32-bit value
    S32 = "s32"  # signed 32-bit value
    BOOL = "bool"
    HANDLE = "handle"  # a handle value (pseudo-handles allowed)
    OUT_HANDLE = "out_handle"  # HANDLE* the kernel writes
    OUT_U32 = "out_u32"  # ULONG*/LONG* the kernel writes
    PTR = "ptr"  # a guest pointer to memory the export reads or writes
    ATTRS = "object_attributes"  # OBJECT_ATTRIBUTES*
    ANSI_STRING = "ansi_string"  # ANSI_STRING*
    TIMEOUT = "timeout"  # LARGE_INTEGER* (null = forever)
    LARGE_INTEGER = "large_integer"  # LARGE_INTEGER* in
    HANDLE_ARRAY = "handle_array"  # HANDLE[] for multiple waits
    OBJECT_ARRAY = "object_array"  # dispatcher-object pointers for Ke waits
    KOBJECT = "kobject"  # pointer to a guest dispatcher structure
    IOSB = "io_status_block"  # IO_STATUS_BLOCK* out
    BUFFER = "buffer"  # data buffer
    ROUTINE = "routine"  # guest code address
    CONTEXT = "context"  # opaque value passed to a routine


POINTER_KINDS: Final = frozenset(
    {
        P.OUT_HANDLE,
        P.OUT_U32,
        P.PTR,
        P.ATTRS,
        P.ANSI_STRING,
        P.TIMEOUT,
        P.LARGE_INTEGER,
        P.HANDLE_ARRAY,
        P.OBJECT_ARRAY,
        P.KOBJECT,
        P.IOSB,
        P.BUFFER,
        P.ROUTINE,
    }
)


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    kind: P
    optional: bool = False


class Returns(enum.StrEnum):
    STATUS = "status"  # an NTSTATUS, sign-extended into r3
    VALUE = "value"  # a plain value in r3 (e.g. KeTlsAlloc's index)
    VOID = "void"  # r3 left untouched


class Completeness(enum.StrEnum):
    COMPLETE = "complete"
    PARTIAL = "partial"


@dataclass(frozen=True, slots=True)
class Export:
    name: str
    ordinal: int
    params: tuple[Param, ...]
    handler: Handler
    returns: Returns
    completeness: Completeness
    doc: str
    module: str = "xboxkrnl"
    #: len(params) and returns == STATUS, kept as fields because the dispatcher reads
    #: them on every call.
    nargs: int = 0
    returns_status: bool = True
    #: ``"0x%08x " * nargs``: one %-format and a split render every argument for the trace,
    #: several times faster than formatting them one by one.
    args_format: str = ""
    #: C's ``...`` follows the declared parameters (sprintf, DbgPrint): the handler reads
    #: the rest from r3..r10 and the stack, so a CPU guest's call brings all eight registers.
    variadic: bool = False

    @property
    def register_args(self) -> int:
        """How many of r3..r10 a call from guest code must bring to the handler."""
        return 8 if self.variadic else min(self.nargs, 8)

    def pointer_args(self) -> list[int]:
        """Indices of the parameters that are guest pointers (for masking in diffs)."""
        return [i for i, p in enumerate(self.params) if p.kind in POINTER_KINDS]


class ExportGroup:
    """The exports one handler module declares, collected by its decorator at import."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.exports: list[Export] = []

    def export(
        self,
        name: str,
        ordinal: int,
        *params: Param,
        returns: Returns = Returns.STATUS,
        completeness: Completeness = Completeness.COMPLETE,
        variadic: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            doc = (handler.__doc__ or "").strip().split("\n")[0]
            self.exports.append(
                Export(
                    name,
                    ordinal,
                    tuple(params),
                    handler,
                    returns,
                    completeness,
                    doc,
                    nargs=len(params),
                    returns_status=returns is Returns.STATUS,
                    args_format="0x%08x " * len(params),
                    variadic=variadic,
                )
            )
            return handler

        return register


class UnknownExportError(LookupError):
    """An export name or ordinal x360k does not know, with the closest known names."""

    def __init__(self, key: str | int, suggestions: list[str]) -> None:
        what = f"ordinal {key}" if isinstance(key, int) else repr(key)
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown xboxkrnl export {what}{hint}")
        self.key = key
        self.suggestions = suggestions


class Registry:
    """Exports by name and by ordinal."""

    def __init__(self, exports: Iterable[Export]) -> None:
        self.by_name: dict[str, Export] = {}
        self.by_ordinal: dict[int, Export] = {}
        self._lookup: dict[str | int, Export] = {}
        for ex in exports:
            if ex.name in self.by_name or ex.ordinal in self.by_ordinal:
                raise ValueError(f"export {ex.name} / ordinal {ex.ordinal} declared twice")
            self.by_name[ex.name] = ex
            self.by_ordinal[ex.ordinal] = ex
            self._lookup[ex.name] = ex
            self._lookup[ex.ordinal] = ex

    @property
    def lookup_table(self) -> dict[str | int, Export]:
        """Name-or-ordinal -> export, for the dispatcher's fast path (do not modify)."""
        return self._lookup

    def get(self, key: str | int) -> Export:
        ex = self._lookup.get(key)
        if ex is None:
            raise UnknownExportError(key, self.suggest(str(key)))
        return ex

    def find(self, key: str | int) -> Export | None:
        return self._lookup.get(key)

    def suggest(self, name: str, n: int = 3) -> list[str]:
        import difflib

        return difflib.get_close_matches(name, list(self.by_name), n=n, cutoff=0.5)

    def __iter__(self) -> Any:
        return iter(sorted(self.by_name.values(), key=lambda e: e.ordinal))

    def __len__(self) -> int:
        return len(self.by_name)


def invoke_args(memory: GuestMemory, thread: Thread, export: Export) -> list[int]:
    """Decode an export's arguments the PowerPC way: r3..r10, then the caller's stack.

    Argument k (1-based, k >= 9) is the low word of the k-th 8-byte slot of the
    parameter save area: guest address r1 + 0x54 + 8 * (k - 9).
    """
    n = len(export.params)
    gpr = thread.gpr
    args = [gpr[3 + i] & 0xFFFFFFFF for i in range(min(n, 8))]
    if n > 8:
        sp = gpr[1] & 0xFFFFFFFF
        for k in range(9, n + 1):
            args.append(memory.read_u32(sp + 0x54 + 8 * (k - 9)))
    return args
