"""Reader for Xenia canary's own log: the kernel-call lines its export shims write.

With kernel logging on, canary logs each guest call of a logged export as
one line ``<c>> <TTTTTTTT> <Export>(<arg>, <arg>, ...)``: ``<c>`` is the log
level character (``i`` for exports tagged important, ``d`` otherwise; ``w``,
``!`` and others appear for other messages and are all accepted), the eight
hex digits are the thread id canary's logger records (for a guest thread,
its kernel handle, e.g. ``F8000008``), and each argument is eight uppercase
hex digits, optionally followed by ``(...)`` showing what a pointer points
at. Everything else in the log (GPU, loader, messages a handler prints) is
counted as ignored.

Each call line becomes one ``kernel.call`` event: ``tid`` numbers threads in
order of first appearance, ``idx`` counts per thread, ``raw_tid`` is the hex
id, ``args`` the hex values as ``0x``-prefixed lowercase (pointee details
dropped; a non-hex argument is kept verbatim). Canary does not log returns,
handles or waits, so a diff against it compares call sequences only.

Canary skips exports tagged high-frequency unless ``log_high_frequency_kernel_calls``
is set; :data:`HIGH_FREQUENCY_EXPORTS` lists the xboxkrnl ones, and the
reader's header masks them unless told they were logged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from x360k.trace.errors import TraceFormatError
from x360k.trace.event import TraceEvent
from x360k.trace.header import TraceHeader
from x360k.trace.reader import LineReader

#: Lines that look like calls but are a handler's own messages, not shim
#: logging: canary prints these from inside exports or the CPU.
HELPER_NAMES: Final[frozenset[str]] = frozenset(
    {
        "Execute",
        "XamApp",
        "PIX",
        "KeDebugMonitorCallback",
        "KeCertMonitorCallback",
        "SetThreadName",
        "GetProcAddress",
        "GetProcAddressByOrdinal",
        "sprintf",
        "vsprintf",
        "swprintf",
        "vswprintf",
        "_snprintf",
        "_snwprintf",
        "_vsnprintf",
        "_vsnwprintf",
        "_vscwprintf",
    }
)

#: xboxkrnl exports canary tags high-frequency (canary commit 263c722a40d2):
#: absent from its log unless ``log_high_frequency_kernel_calls`` is true.
HIGH_FREQUENCY_EXPORTS: Final[frozenset[str]] = frozenset(
    {
        "InterlockedPopEntrySList",
        "InterlockedPushEntrySList",
        "KeAcquireSpinLockAtRaisedIrql",
        "KeDelayExecutionThread",
        "KeEnterCriticalRegion",
        "KeGetCurrentProcessType",
        "KeLeaveCriticalRegion",
        "KePulseEvent",
        "KeQueryPerformanceFrequency",
        "KeRaiseIrqlToDpcLevel",
        "KeReleaseSpinLockFromRaisedIrql",
        "KeSetCurrentStackPointers",
        "KeSetEvent",
        "KeTlsGetValue",
        "KeTryToAcquireSpinLockAtRaisedIrql",
        "KeWaitForMultipleObjects",
        "KeWaitForSingleObject",
        "KfAcquireSpinLock",
        "KfLowerIrql",
        "KfRaiseIrql",
        "KfReleaseSpinLock",
        "MmQueryAddressProtect",
        "MmQueryStatistics",
        "NtClearEvent",
        "NtPulseEvent",
        "NtQueryEvent",
        "NtReadFile",
        "NtReleaseSemaphore",
        "NtRemoveIoCompletion",
        "NtSetEvent",
        "NtSetInformationFile",
        "NtSetIoCompletion",
        "NtSignalAndWaitForSingleObjectEx",
        "NtWaitForMultipleObjectsEx",
        "NtWaitForSingleObjectEx",
        "NtYieldExecution",
        "RtlEnterCriticalSection",
        "RtlLeaveCriticalSection",
        "RtlMultiByteToUnicodeN",
        "RtlNtStatusToDosError",
        "RtlTryEnterCriticalSection",
        "RtlUnicodeToMultiByteN",
        "VdSwap",
    }
)

_PREFIX: Final = re.compile(r"(\S)> ([0-9A-Fa-f]{8}) (.*)")
_CALL: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\((.*)\)")
_HEX_ARG: Final = re.compile(r"([0-9A-Fa-f]{8,16})(\(.*\))?")


def split_args(text: str) -> list[str] | None:
    """Top-level comma separated arguments, or ``None`` when brackets do not balance."""
    args: list[str] = []
    depth = 0
    start = 0
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth < 0:
                return None
        elif char == "," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
    if depth != 0:
        return None
    tail = text[start:].strip()
    if tail or args:
        args.append(tail)
    return args


def _normal_arg(arg: str) -> str:
    match = _HEX_ARG.fullmatch(arg)
    return f"0x{int(match.group(1), 16):08x}" if match else arg


class CanaryLogReader(LineReader):
    """Kernel-call lines of a Xenia canary log file."""

    format = "canary-log"

    def __init__(
        self, path: str | Path, *, lenient: bool = False, high_frequency_logged: bool = False
    ) -> None:
        super().__init__(path, lenient=lenient)
        self.high_frequency_logged = high_frequency_logged

    @property
    def header(self) -> TraceHeader:
        masked = [] if self.high_frequency_logged else sorted(HIGH_FREQUENCY_EXPORTS)
        return TraceHeader(
            emulator="xenia-canary",
            recorded_kinds=["kernel.call"],
            masked_kinds=[
                "import.call",
                "kernel.return",
                "handle.create",
                "handle.destroy",
                "thread.create",
                "thread.exit",
                "wait.begin",
                "wait.end",
                "checkpoint",
                "marker",
            ],
            masked_exports=masked,
            thread_id_style="handle",
        )

    def events(self) -> Iterator[TraceEvent]:
        tids: dict[int, int] = {}
        next_idx: list[int] = []
        try:
            stream = self.path.open("r", encoding="utf-8", errors="replace", newline="")
        except OSError as exc:
            raise TraceFormatError(self.path, exc.strerror or str(exc)) from None
        with stream:
            for lineno, line in enumerate(stream, 1):
                prefixed = _PREFIX.fullmatch(line.rstrip("\r\n"))
                if prefixed is None:
                    self.report.ignored_lines += 1
                    continue
                message = prefixed.group(3).rstrip()
                call = _CALL.fullmatch(message)
                if call is None or call.group(1) in HELPER_NAMES:
                    self.report.ignored_lines += 1
                    continue
                args = split_args(call.group(2))
                if args is None:
                    if not line.endswith("\n"):
                        self.report.partial_last_line = True
                        return
                    if not self.lenient:
                        raise TraceFormatError(
                            self.path,
                            f"unbalanced brackets in {call.group(1)} arguments",
                            line=lineno,
                        )
                    self.report.bad_lines += 1
                    continue
                raw_tid = int(prefixed.group(2), 16)
                tid = tids.setdefault(raw_tid, len(tids))
                if tid == len(next_idx):
                    next_idx.append(0)
                idx = next_idx[tid]
                next_idx[tid] = idx + 1
                yield TraceEvent(
                    tid=tid,
                    idx=idx,
                    kind="kernel.call",
                    name=call.group(1),
                    args=[_normal_arg(a) for a in args],
                    raw_tid=raw_tid,
                )
