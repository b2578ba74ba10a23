"""The xboxkrnl exports the reference covers, by ordinal (reference section 8.4).

``x360k exports`` compares the registry against this list to say which of
them x360k implements completely, partly, or not at all. ``canary`` is False
for the exports the reference marks as unimplemented in canary itself.
The ordinals were checked against xenia's ``xboxkrnl_table.inc``.
"""

from __future__ import annotations

from typing import Final, NamedTuple


class ReferenceExport(NamedTuple):
    name: str
    ordinal: int
    area: str
    #: Whether canary implements it (the reference marks the others "unimpl.").
    canary: bool = True
    #: A data export (a kernel variable such as an object type), not a function.
    variable: bool = False


R = ReferenceExport

REFERENCE_EXPORTS: Final[tuple[ReferenceExport, ...]] = (
    # Handles and Ob
    R("NtClose", 0xCF, "handles"),
    R("NtDuplicateObject", 0xDA, "handles"),
    R("ObReferenceObjectByHandle", 0x110, "handles"),
    R("ObReferenceObjectByName", 0x111, "handles"),
    R("ObReferenceObject", 0x10F, "handles"),
    R("ObDereferenceObject", 0x105, "handles"),
    R("ObOpenObjectByName", 0x10D, "handles"),
    R("ObOpenObjectByPointer", 0x10E, "handles"),
    R("ObLookupThreadByThreadId", 0x10B, "handles"),
    R("ObLookupAnyThreadByThreadId", 0x10A, "handles"),
    R("ObCreateObject", 0x102, "handles"),
    R("ObCreateSymbolicLink", 0x103, "handles"),
    R("ObDeleteSymbolicLink", 0x104, "handles"),
    # The object namespace (console only; not in the reference, ordinals from the table)
    R("NtCreateDirectoryObject", 0xD0, "handles", canary=False),
    R("NtOpenDirectoryObject", 0xDE, "handles", canary=False),
    R("NtQueryDirectoryObject", 0xE5, "handles", canary=False),
    R("NtMakeTemporaryObject", 0xDD, "handles", canary=False),
    R("ObMakeTemporaryObject", 0x10C, "handles", canary=False),
    # Events
    R("NtCreateEvent", 0xD1, "events"),
    R("NtSetEvent", 0xF6, "events"),
    R("NtPulseEvent", 0xE2, "events"),
    R("NtClearEvent", 0xCE, "events"),
    R("NtQueryEvent", 0xE6, "events"),
    R("KeInitializeEvent", 0x70, "events"),
    R("KeSetEvent", 0x9D, "events"),
    R("KeResetEvent", 0x8F, "events"),
    R("KePulseEvent", 0x7F, "events"),
    # Semaphores, mutants, timers
    R("NtCreateSemaphore", 0xD5, "semaphores"),
    R("NtReleaseSemaphore", 0xF3, "semaphores"),
    R("NtQuerySemaphore", 0xEB, "semaphores", canary=False),
    R("KeInitializeSemaphore", 0x74, "semaphores"),
    R("KeReleaseSemaphore", 0x88, "semaphores"),
    R("NtCreateMutant", 0xD4, "mutants"),
    R("NtReleaseMutant", 0xF2, "mutants"),
    R("NtQueryMutant", 0xEA, "mutants", canary=False),
    R("KeInitializeMutant", 0x72, "mutants", canary=False),
    R("KeReleaseMutant", 0x87, "mutants", canary=False),
    R("NtCreateTimer", 0xD7, "timers"),
    R("NtSetTimerEx", 0xFA, "timers"),
    R("NtCancelTimer", 0xCD, "timers"),
    R("NtQueryTimer", 0xED, "timers", canary=False),
    R("KeInitializeTimerEx", 0x75, "timers", canary=False),
    R("KeSetTimer", 0xA6, "timers", canary=False),
    R("KeSetTimerEx", 0xA7, "timers", canary=False),
    R("KeCancelTimer", 0x54, "timers", canary=False),
    # Waits and scheduling
    R("KeWaitForSingleObject", 0xB0, "waits"),
    R("KeWaitForMultipleObjects", 0xAF, "waits"),
    R("NtWaitForSingleObjectEx", 0xFD, "waits"),
    R("NtWaitForMultipleObjectsEx", 0xFE, "waits"),
    R("NtSignalAndWaitForSingleObjectEx", 0xFB, "waits"),
    R("KeDelayExecutionThread", 0x5A, "waits"),
    R("NtYieldExecution", 0x101, "waits"),
    R("NtQueueApcThread", 0xE3, "waits"),
    R("KeInitializeApc", 0x6D, "waits"),
    R("KeInsertQueueApc", 0x7A, "waits"),
    R("KeRemoveQueueApc", 0x2F0, "waits"),
    # Threads and TLS
    R("ExCreateThread", 0x0D, "threads"),
    R("ExTerminateThread", 0x19, "threads"),
    R("NtResumeThread", 0xF5, "threads"),
    R("NtSuspendThread", 0xFC, "threads"),
    R("KeResumeThread", 0x92, "threads"),
    R("KeSuspendThread", 0xA9, "threads"),
    R("KeTlsAlloc", 0x152, "threads"),
    R("KeTlsFree", 0x153, "threads"),
    R("KeTlsGetValue", 0x154, "threads"),
    R("KeTlsSetValue", 0x155, "threads"),
    # Files and I/O completion
    R("NtCreateFile", 0xD2, "files"),
    R("NtOpenFile", 0xDF, "files"),
    R("NtReadFile", 0xF0, "files"),
    R("NtReadFileScatter", 0xF1, "files"),
    R("NtWriteFile", 0xFF, "files"),
    R("NtWriteFileGather", 0x100, "files", canary=False),
    R("NtQueryInformationFile", 0xE8, "files"),
    R("NtSetInformationFile", 0xF7, "files"),
    R("NtQueryVolumeInformationFile", 0xEF, "files"),
    R("NtQueryDirectoryFile", 0xE4, "files"),
    R("NtQueryFullAttributesFile", 0xE7, "files"),
    R("NtFlushBuffersFile", 0xDB, "files"),
    R("NtOpenSymbolicLinkObject", 0xE0, "files"),
    R("NtQuerySymbolicLinkObject", 0xEC, "files"),
    R("NtCreateIoCompletion", 0xD3, "io completion"),
    R("NtSetIoCompletion", 0xF8, "io completion"),
    R("NtRemoveIoCompletion", 0xF4, "io completion"),
    R("NtQueryIoCompletion", 0xE9, "io completion", canary=False),
    # Object-type variables
    R("ExEventObjectType", 0x0E, "object types", variable=True),
    R("ExMutantObjectType", 0x12, "object types", variable=True),
    R("ExSemaphoreObjectType", 0x17, "object types", variable=True),
    R("ExThreadObjectType", 0x1B, "object types", variable=True),
    R("ExTimerObjectType", 0x1C, "object types", variable=True),
    R("IoCompletionObjectType", 0x36, "object types", variable=True),
    R("IoDeviceObjectType", 0x3A, "object types", variable=True),
    R("IoFileObjectType", 0x3E, "object types", variable=True),
    R("ObDirectoryObjectType", 0x106, "object types", variable=True),
    R("ObSymbolicLinkObjectType", 0x112, "object types", variable=True),
    # Rtl, formatting and bug-checks (canary: xboxkrnl_rtl.cc, _strings.cc, _error.cc,
    # _debug.cc; ordinals from xboxkrnl_table.inc)
    R("DbgPrint", 0x3, "formatting"),
    R("KeBugCheck", 0x52, "rtl exceptions"),
    R("KeBugCheckEx", 0x53, "rtl exceptions"),
    R("RtlAnsiStringToUnicodeString", 0x114, "rtl strings", canary=False),
    R("RtlAppendStringToString", 0x115, "rtl strings", canary=False),
    R("RtlAppendUnicodeStringToString", 0x116, "rtl strings", canary=False),
    R("RtlAppendUnicodeToString", 0x117, "rtl strings", canary=False),
    R("RtlAssert", 0x118, "rtl exceptions", canary=False),
    R("RtlCaptureContext", 0x119, "rtl exceptions", canary=False),
    R("RtlCompareMemory", 0x11A, "rtl memory"),
    R("RtlCompareMemoryUlong", 0x11B, "rtl memory"),
    R("RtlCompareString", 0x11C, "rtl strings"),
    R("RtlCompareStringN", 0x11D, "rtl strings"),
    R("RtlCompareUnicodeString", 0x11E, "rtl strings", canary=False),
    R("RtlCompareUnicodeStringN", 0x11F, "rtl strings", canary=False),
    R("RtlCompareUtf8ToUnicode", 0x120, "rtl strings", canary=False),
    R("RtlCopyString", 0x121, "rtl strings"),
    R("RtlCopyUnicodeString", 0x122, "rtl strings"),
    R("RtlCreateUnicodeString", 0x123, "rtl strings", canary=False),
    R("RtlDowncaseUnicodeChar", 0x124, "rtl strings", canary=False),
    R("RtlFillMemoryUlong", 0x126, "rtl memory"),
    R("RtlFreeAnsiString", 0x127, "rtl strings"),
    R("RtlFreeUnicodeString", 0x128, "rtl strings"),
    R("RtlGetCallersAddress", 0x129, "rtl exceptions", canary=False),
    R("RtlGetStackLimits", 0x12A, "rtl exceptions"),
    R("RtlInitAnsiString", 0x12C, "rtl strings"),
    R("RtlInitUnicodeString", 0x12D, "rtl strings"),
    R("RtlLookupFunctionEntry", 0x131, "rtl exceptions", canary=False),
    R("RtlLowerChar", 0x132, "rtl strings"),
    R("RtlMultiByteToUnicodeN", 0x133, "rtl strings"),
    R("RtlMultiByteToUnicodeSize", 0x134, "rtl strings", canary=False),
    R("RtlNtStatusToDosError", 0x135, "rtl errors"),
    R("RtlRaiseException", 0x136, "rtl exceptions"),
    R("RtlRaiseStatus", 0x137, "rtl exceptions", canary=False),
    R("RtlRip", 0x138, "rtl exceptions"),
    R("_scprintf", 0x139, "formatting", canary=False),
    R("_snprintf", 0x13A, "formatting"),
    R("sprintf", 0x13B, "formatting"),
    R("_scwprintf", 0x13C, "formatting", canary=False),
    R("_snwprintf", 0x13D, "formatting"),
    R("swprintf", 0x13E, "formatting"),
    R("RtlTimeFieldsToTime", 0x13F, "rtl time"),
    R("RtlTimeToTimeFields", 0x140, "rtl time"),
    R("RtlUnicodeStringToAnsiString", 0x142, "rtl strings"),
    R("RtlUnicodeToMultiByteN", 0x143, "rtl strings"),
    R("RtlUnicodeToMultiByteSize", 0x144, "rtl strings", canary=False),
    R("RtlUnicodeToUtf8", 0x145, "rtl strings", canary=False),
    R("RtlUnicodeToUtf8Size", 0x146, "rtl strings", canary=False),
    R("RtlUnwind", 0x147, "rtl exceptions", canary=False),
    R("RtlUnwind2", 0x148, "rtl exceptions", canary=False),
    R("RtlUpcaseUnicodeChar", 0x149, "rtl strings"),
    R("RtlUpperChar", 0x14A, "rtl strings"),
    R("RtlVirtualUnwind", 0x14B, "rtl exceptions", canary=False),
    R("_vscprintf", 0x14C, "formatting", canary=False),
    R("_vsnprintf", 0x14D, "formatting"),
    R("vsprintf", 0x14E, "formatting"),
    R("_vscwprintf", 0x14F, "formatting"),
    R("_vsnwprintf", 0x150, "formatting"),
    R("vswprintf", 0x151, "formatting"),
    R("__C_specific_handler", 0x1A5, "rtl exceptions", canary=False),
    R("RtlImageDirectoryEntryToData", 0x1A8, "rtl exceptions"),
    R("RtlImageNtHeader", 0x1A9, "rtl exceptions"),
    R("RtlComputeCrc32", 0x27B, "rtl memory"),
    R("RtlCaptureStackBackTrace", 0x2CD, "rtl exceptions", canary=False),
    R("RtlSetVectoredExceptionHandler", 0x36D, "rtl exceptions", canary=False),
    R("RtlClearVectoredExceptionHandler", 0x36E, "rtl exceptions", canary=False),
)

#: Exports outside section 8.4 whose ordinals were checked against ``xboxkrnl_table.inc``
#: (clock and priority queries, critical sections, spin locks and IRQL).
TABLE_CHECKED: Final[tuple[ReferenceExport, ...]] = (
    R("KeQueryBasePriorityThread", 0x81, "threads"),
    R("KeSetBasePriorityThread", 0x99, "threads"),
    R("KeQueryInterruptTime", 0x82, "clock"),
    R("KeQueryPerformanceFrequency", 0x83, "clock"),
    R("KeQuerySystemTime", 0x84, "clock"),
    R("RtlEnterCriticalSection", 0x125, "critical sections"),
    R("RtlInitializeCriticalSection", 0x12E, "critical sections"),
    R("RtlInitializeCriticalSectionAndSpinCount", 0x12F, "critical sections"),
    R("RtlLeaveCriticalSection", 0x130, "critical sections"),
    R("RtlTryEnterCriticalSection", 0x141, "critical sections"),
    R("KeAcquireSpinLockAtRaisedIrql", 0x4D, "spin locks"),
    R("KeReleaseSpinLockFromRaisedIrql", 0x89, "spin locks"),
    R("KeTryToAcquireSpinLockAtRaisedIrql", 0xAE, "spin locks"),
    R("KfAcquireSpinLock", 0xB1, "spin locks"),
    R("KfReleaseSpinLock", 0xB4, "spin locks"),
    R("KeRaiseIrqlToDpcLevel", 0x85, "spin locks"),
    R("KfRaiseIrql", 0xB2, "spin locks"),
    R("KfLowerIrql", 0xB3, "spin locks"),
)

#: Reference exports by name.
BY_NAME: Final[dict[str, ReferenceExport]] = {r.name: r for r in REFERENCE_EXPORTS}
#: Every export whose ordinal is known for certain (the reference's and the checked ones).
KNOWN_ORDINALS: Final[dict[str, int]] = {
    r.name: r.ordinal for r in (*REFERENCE_EXPORTS, *TABLE_CHECKED)
}
