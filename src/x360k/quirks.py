"""Where Xenia canary departs from the real console: one table, two profiles.

Every departure is a named quirk with both behaviours implemented. The
``canary`` profile turns every quirk on (bug for bug, to match canary's
traces); ``console`` turns every quirk off (NT-family behaviour and the
console's own LIFO handle allocator). Single quirks can be switched on their
own: ``Quirks.for_profile("console", double_close_succeeds=True)``.

The table below is the single source of truth: the :class:`Quirks` record is
built from it, ``docs/semantics.md`` is generated from it, and a test checks
both stay in step. ``source`` points into ``shared/reference/xenia-semantics.md``
(canary) and names the basis of the console claim.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Final, Literal

Profile = Literal["canary", "console"]
PROFILES: Final[tuple[Profile, ...]] = ("canary", "console")


@dataclass(frozen=True, slots=True)
class QuirkInfo:
    """One documented departure: its name, area, both behaviours and where each claim comes from."""

    name: str
    area: str
    canary: str
    console: str
    source: str


QUIRK_TABLE: Final[tuple[QuirkInfo, ...]] = (
    # -- handles and names ---------------------------------------------------------------------
    QuirkInfo(
        "double_close_succeeds",
        "handles",
        "NtClose of an already-closed or never-used slot within capacity returns STATUS_SUCCESS "
        "(the slot's count goes negative); only 0, 0xFFFFFFFF and out-of-range slots are invalid.",
        "NtClose of a handle that is not live returns STATUS_INVALID_HANDLE.",
        "reference 2.7, 3 (NtClose), 11.1; console: NT ObpCloseHandle, appendix A (freeing a free "
        "entry does nothing)",
    ),
    QuirkInfo(
        "pseudo_thread_is_primary_slot",
        "handles",
        "0xFFFFFFFE becomes the calling thread's primary handle everywhere, so NtClose(0xFFFFFFFE) "
        "and DUPLICATE_CLOSE_SOURCE act on the thread's own slot.",
        "0xFFFFFFFE names the calling thread without naming any slot: lookups and duplication "
        "work, NtClose(0xFFFFFFFE) returns STATUS_INVALID_HANDLE and nothing is closed.",
        "reference 2.3, 3, 11.2; console: NT pseudo-handle semantics",
    ),
    QuirkInfo(
        "handle_ignores_base_bits",
        "handles",
        "Only bits 2..26 of a guest handle select the slot: 0x4, 0xF8000004 and 0xF8000007 all "
        "name slot 1.",
        "A handle must carry the table's high byte (0xF8), else it is invalid; its low two bits "
        "are the title's tag bits, masked off by every lookup and close (0xF8000007 names the "
        "same slot as 0xF8000004).",
        "reference 2.3, 11.3; console: appendix A (high byte must match the table); the Xbox "
        "object manager's ObpMaskOffApplicationBits in every handle-table routine",
    ),
    QuirkInfo(
        "lowest_free_slot_allocator",
        "handles",
        "A new handle takes the lowest free slot from the cursor (1 after the first object) "
        "upward, wrapping to 0; the table grows to max(16384, 2C) with the cursor quirk.",
        "The console's allocator: a LIFO free list (the most recently closed handle is reused "
        "first), new offsets handed out in order from 0.",
        "reference 2.4, 11.4, appendix A",
    ),
    QuirkInfo(
        "canary_startup_objects",
        "handles",
        "Start-up consumes slot 0 (a bridged kernel event, untraced), slot 1 (the executable "
        "module) and slot 2 (the main thread), so the title's first handle is 0xF800000C.",
        "Only the main thread exists before title code runs; it takes the first handle.",
        "reference 2.4 (last bullet); console: x360k models no other start-up objects",
    ),
    QuirkInfo(
        "named_open_shares_handle",
        "names",
        "Opening an existing named object (named NtCreate*, ObOpenObjectByName, "
        "ObOpenObjectByPointer) returns the object's existing primary handle value and adds one "
        "to that slot's count; no new slot is made.",
        "Opening an existing named object creates a new handle (new slot) to the same object.",
        "reference 2.8, 4, 5.1, 11.5; console: NT ObOpenObjectByName / ObInsertObject",
    ),
    QuirkInfo(
        "named_create_ignores_openif",
        "names",
        "A named Nt*Create* on an existing name of the same type opens it and returns "
        "STATUS_OBJECT_NAME_EXISTS whatever the attributes say; the new parameters are ignored.",
        "Without OBJ_OPENIF (0x80) the create fails with STATUS_OBJECT_NAME_COLLISION; with it, "
        "the existing object is opened and STATUS_OBJECT_NAME_EXISTS returned.",
        "reference 5.1 step 1, 11.5; console: NT ObInsertObject",
    ),
    QuirkInfo(
        "name_type_clash_invalid_handle",
        "names",
        "Creating a name held by an object of another type returns STATUS_INVALID_HANDLE.",
        "Creating a name held by an object of another type returns STATUS_OBJECT_TYPE_MISMATCH "
        "with OBJ_OPENIF and STATUS_OBJECT_NAME_COLLISION without it (with the object namespace; "
        "under flat names always STATUS_OBJECT_TYPE_MISMATCH).",
        "reference 2.10, 5.1, 11.5; console: NT ObpLookupObjectName, Xbox ObInsertObject",
    ),
    QuirkInfo(
        "name_dropped_with_any_slot",
        "names",
        "A name leaves the name table when any slot of its object is removed (closing a duplicate "
        "unnames the object while the original handle lives on).",
        "A name lives until the object's last handle is closed.",
        "reference 2.6 (RemoveHandle), 2.8, 11.6; console: NT temporary-object rule",
    ),
    QuirkInfo(
        "ob_reference_on_primary_slot",
        "references",
        "Explicit Ob references are extra counts on the object's primary slot: a closed primary "
        "handle stays valid while references remain; DUPLICATE_CLOSE_SOURCE discards them.",
        "Explicit Ob references count on the object; handles come and go independently.",
        "reference 2.5, 11.7; console: NT pointer count vs handle count",
    ),
    QuirkInfo(
        "ob_reference_untyped_marker",
        "references",
        "ObReferenceObjectByHandle on an object without a guest body returns 0xDEADF00D (0 for "
        "mutants and files) and skips the type check; ObDereferenceObject(0xDEADF00D) does "
        "nothing, so that reference is never given back.",
        "Every object has a guest body: its address is returned and dereferencing it releases "
        "the reference.",
        "reference 4, 11.7",
    ),
    QuirkInfo(
        "ob_reference_by_name_double_counts",
        "references",
        "ObReferenceObjectByName takes two counts (name lookup and handle reference) for one "
        "reference, so the object leaks.",
        "ObReferenceObjectByName takes one reference.",
        "reference 4, 11.7",
    ),
    QuirkInfo(
        "dup_failure_writes_invalid",
        "duplicate",
        "NtDuplicateObject writes 0xFFFFFFFF to the out pointer when duplication fails.",
        "A failed duplicate writes NULL (0) to the out pointer.",
        "reference 3 step 3, 11.8; console: the Xbox object manager stores NULL into the "
        "returned handle on every failure path of its open routines (ObInsertObject, "
        "ObOpenObjectByPointer), the routine a duplicate opens its new handle through",
    ),
    QuirkInfo(
        "dup_close_source_exact_option",
        "duplicate",
        "The source is closed only when Options == 1 exactly (Options 3 does not close it).",
        "DUPLICATE_CLOSE_SOURCE is a bit: any Options with bit 0 set closes the source.",
        "reference 3 step 4, 11.8; console: NT DUPLICATE_CLOSE_SOURCE flag",
    ),
    QuirkInfo(
        "failed_semaphore_create_consumes_slot",
        "leaks",
        "NtCreateSemaphore with bad counts makes the object and its slot first, then releases "
        "them (a handle.create and handle.destroy pair) and returns STATUS_INVALID_PARAMETER.",
        "The counts are checked first; no object or slot is made.",
        "reference 2.9, 5.2",
    ),
    QuirkInfo(
        "io_completion_leaks_object",
        "leaks",
        "NtCreateIoCompletion leaks its construction reference: a port object is never "
        "destroyed, only its slots.",
        "A port is destroyed with its last handle.",
        "reference 5.6, 11.10",
    ),
    # -- dispatcher objects --------------------------------------------------------------------
    QuirkInfo(
        "previous_state_always_one",
        "events",
        "NtSetEvent / NtPulseEvent report previous state 1 and KeSetEvent / KeResetEvent / "
        "KePulseEvent return 1, whatever the state was.",
        "The real previous signal state is reported: 0 or 1 by NtSetEvent / NtPulseEvent; "
        "KeSetEvent / KeResetEvent / KePulseEvent return the KEVENT's SignalState LONG as it was "
        "(a title that stored 5 there gets 5).",
        "reference 5.1, 11.11; console: NT KeSetEvent returns the previous Header.SignalState",
    ),
    QuirkInfo(
        "nonzero_event_type_is_synchronization",
        "events",
        "Any non-zero EventType (or TimerType) makes a synchronization (auto-reset) object.",
        "EventType / TimerType must be 0 (notification) or 1 (synchronization); anything else "
        "is STATUS_INVALID_PARAMETER.",
        "reference 5.1, 11.13; console: NT NtCreateEvent parameter check",
    ),
    QuirkInfo(
        "semaphore_over_release_succeeds",
        "semaphores",
        "A release past the maximum (or of a count <= 0) leaves the count unchanged, reports "
        "previous count 0 and returns STATUS_SUCCESS.",
        "It returns STATUS_SEMAPHORE_LIMIT_EXCEEDED (or STATUS_INVALID_PARAMETER for a count "
        "<= 0) and writes nothing.",
        "reference 5.2, 11.14",
    ),
    QuirkInfo(
        "release_mutant_always_succeeds",
        "mutants",
        "NtReleaseMutant returns STATUS_SUCCESS for any valid handle, owned or not, and never "
        "writes the previous count.",
        "A release by a non-owner returns STATUS_MUTANT_NOT_OWNED; the previous count is "
        "written when a pointer is given.",
        "reference 5.3, 11.15",
    ),
    QuirkInfo(
        "timer_resume_ignored_without_arming",
        "timers",
        "NtSetTimerEx with ResumeTimer set returns STATUS_TIMER_RESUME_IGNORED and does not "
        "arm the timer.",
        "The timer is armed and STATUS_TIMER_RESUME_IGNORED returned (no resume support).",
        "reference 5.4, 11.16; console: NT KeSetTimerEx",
    ),
    QuirkInfo(
        "cancel_timer_reports_zero",
        "timers",
        "NtCancelTimer always writes 0 as the current state, even for an invalid handle.",
        "NtCancelTimer writes the timer's signal state, and nothing for an invalid handle.",
        "reference 5.4, 11.16",
    ),
    QuirkInfo(
        "thread_start_delay",
        "threads",
        "A new thread sleeps 10 ms before its start routine runs.",
        "A new thread is ready at once.",
        "reference 5.5, 11.19",
    ),
    QuirkInfo(
        "resume_wraps_suspend_count",
        "threads",
        "NtResumeThread on a thread that is not suspended decrements the u8 suspend count to "
        "255 (and reports previous 0); the suspend exports report that guest byte, so the next "
        "NtSuspendThread reports previous 255 (and really suspends).",
        "Resuming a thread that is not suspended reports previous 0 and changes nothing.",
        "reference 5.5, 11.19",
    ),
    # -- waits ---------------------------------------------------------------------------------
    QuirkInfo(
        "tls_alloc_beyond_storage",
        "threads",
        "KeTlsAlloc hands out indices 0..2047 from its bitmap although threads have storage for "
        "1024 only: setting a higher index fails and reading it gives 0; KeTlsFree returns 1 even "
        "for an index that was never allocated.",
        "KeTlsAlloc hands out only indices with storage; KeTlsFree of an index that is not "
        "allocated returns 0.",
        "reference 5.5 (TLS)",
    ),
    QuirkInfo(
        "wait_timeout_milliseconds",
        "waits",
        "Wait timeouts become whole milliseconds: relative ones are truncated (below 1 ms polls) "
        "and positive (absolute) ones are misread as a millisecond count.",
        "Timeouts keep 100 ns precision; positive values are absolute system times.",
        "reference 6.1, 11.20",
    ),
    QuirkInfo(
        "delay_ignores_absolute",
        "waits",
        "KeDelayExecutionThread treats a positive (absolute) interval as 0 ms.",
        "A positive interval is an absolute system time to sleep until.",
        "reference 6.5, 11.20",
    ),
    QuirkInfo(
        "wait_all_duplicate_abandoned",
        "waits",
        "The same object twice in a wait-all (e.g. a handle and its duplicate) returns "
        "STATUS_ABANDONED_WAIT_0 (0x80).",
        "It returns STATUS_INVALID_PARAMETER_MIX.",
        "reference 6.3, 10",
    ),
    QuirkInfo(
        "multi_wait_invalid_handle_parameter",
        "waits",
        "An invalid handle in NtWaitForMultipleObjectsEx returns STATUS_INVALID_PARAMETER.",
        "It returns STATUS_INVALID_HANDLE.",
        "reference 6.3, 11.22",
    ),
    QuirkInfo(
        "unwaitable_objects_satisfy_single_waits",
        "waits",
        "Objects with no wait handle (I/O completion, symbolic links) satisfy a single wait at "
        "once, and break a multiple wait (wait-any STATUS_UNSUCCESSFUL, wait-all 0x80).",
        "An object with no dispatcher header that NT waits on through its always-signalled "
        "default object (a symbolic link) satisfies any wait at once, also inside a multiple "
        "wait; waiting on an I/O completion port returns STATUS_OBJECT_TYPE_MISMATCH.",
        "reference 5.7, 6.3, 11.23; console: NT ObpDefaultObject (a notification event "
        "initialised signalled) is the wait object of types without a dispatcher header",
    ),
    QuirkInfo(
        "yield_always_succeeds",
        "waits",
        "NtYieldExecution always returns STATUS_SUCCESS.",
        "It returns STATUS_NO_YIELD_PERFORMED when no other thread was ready.",
        "reference 6.5, 11.24",
    ),
    QuirkInfo(
        "wait_timeout_yields",
        "waits",
        "A wait that times out (a poll included) yields the processor once before returning "
        "STATUS_TIMEOUT, so a polling thread lets equal-priority threads run.",
        "A timed-out wait returns at once; the thread keeps the rest of its quantum.",
        "reference 6.1 (last bullets); console: NT KeWaitForSingleObject",
    ),
    QuirkInfo(
        "signal_and_wait_failure_abandoned",
        "waits",
        "NtSignalAndWaitForSingleObjectEx returns STATUS_ABANDONED_WAIT_0 (0x80) when the signal "
        "half fails (a timer, thread or other unsignallable object, a semaphore at its limit, a "
        "mutant the caller does not own) or the wait object has no wait handle; nothing waits.",
        "It returns STATUS_OBJECT_TYPE_MISMATCH, STATUS_SEMAPHORE_LIMIT_EXCEEDED or "
        "STATUS_MUTANT_NOT_OWNED respectively (STATUS_OBJECT_TYPE_MISMATCH for an unwaitable "
        "wait object); nothing waits.",
        "reference 6.4, 10; console: NT NtSignalAndWaitForSingleObject",
    ),
    QuirkInfo(
        "remove_io_completion_timeout_truncated",
        "io",
        "NtRemoveIoCompletion truncates its timeout to 32 bits and reads it as positive "
        "milliseconds (a null pointer is about 31.6 days; a negative relative one about 49 days).",
        "The timeout is an ordinary NT timeout (null = forever).",
        "reference 5.6, 11.20",
    ),
    QuirkInfo(
        "io_always_pending_async",
        "io",
        "All I/O completes synchronously, but a handle not opened for synchronous I/O gets "
        "STATUS_PENDING even though the data, event and completion packet are already there.",
        "A synchronously completed request returns its real status.",
        "reference 9, 11.27",
    ),
    QuirkInfo(
        "unsupported_set_information_succeeds",
        "io",
        "NtSetInformationFile with a class it does not implement returns STATUS_SUCCESS.",
        "It returns STATUS_INVALID_INFO_CLASS.",
        "reference 9, 11.28",
    ),
    QuirkInfo(
        "create_file_failure_writes_invalid",
        "io",
        "Once NtCreateFile / NtOpenFile reach the file system, a failure writes 0xFFFFFFFF to "
        "the handle pointer.",
        "The handle pointer is written only on success.",
        "reference 9 (NtCreateFile); console: NT IoCreateFile",
    ),
    QuirkInfo(
        "directory_option_not_checked",
        "io",
        "FILE_DIRECTORY_FILE (CreateOptions 0x1) on an existing regular file opens the file.",
        "It fails with STATUS_NOT_A_DIRECTORY.",
        "reference 9 (only the non-directory option is checked); console: NT IopParseDevice",
    ),
    QuirkInfo(
        "io_apc_requires_context",
        "io",
        "NtReadFile / NtWriteFile queue their APC only when both ApcRoutine (low bit cleared) and "
        "ApcContext are non-zero.",
        "The APC is queued whenever ApcRoutine is non-zero, whatever the context.",
        "reference 9 (NtReadFile); console: NT IopCompleteRequest",
    ),
    QuirkInfo(
        "io_completion_count_capped",
        "io",
        "A port counts packets with a semaphore of maximum 1024: beyond 1024 outstanding packets "
        "the count stops growing while the queue grows, so the extra packets are never removed.",
        "Every queued packet can be removed (the queue has no such limit).",
        "reference 5.6",
    ),
    QuirkInfo(
        "query_information_classes_limited",
        "io",
        "NtQueryInformationFile answers Basic (4) with STATUS_INVALID_PARAMETER after "
        "zero-filling, and does not know Standard (5): STATUS_INVALID_INFO_CLASS.",
        "Basic (4) returns the times and attributes; Standard (5) returns allocation size, end of "
        "file, links, delete pending and directory flag.",
        "reference 9 (query classes); console: NT FILE_BASIC_INFORMATION, "
        "FILE_STANDARD_INFORMATION",
    ),
    QuirkInfo(
        "query_directory_single_entry",
        "io",
        "NtQueryDirectoryFile returns one entry per call whatever the buffer size.",
        "It returns as many entries as fit in the buffer (8-byte aligned, chained by "
        "NextEntryOffset).",
        "not in the reference (section 9 covers the handle parts only): x360k's reading of "
        "canary's XFile::QueryDirectory; console: NT NtQueryDirectoryFile without "
        "ReturnSingleEntry",
    ),
    QuirkInfo(
        "query_symlink_bad_handle_no_such_file",
        "io",
        "NtQuerySymbolicLinkObject with a handle that is not found returns STATUS_NO_SUCH_FILE.",
        "It returns STATUS_INVALID_HANDLE.",
        "reference 9, 11.28",
    ),
    QuirkInfo(
        "query_symlink_truncates_silently",
        "io",
        "NtQuerySymbolicLinkObject copies min(MaximumLength, target length) bytes, sets Length to "
        "that and returns STATUS_SUCCESS even when the target was cut short.",
        "A target longer than MaximumLength returns STATUS_BUFFER_TOO_SMALL with Length set to "
        "the length needed and nothing copied.",
        "reference 9; console: NT NtQuerySymbolicLinkObject",
    ),
    QuirkInfo(
        "guest_signal_state_stale",
        "native",
        "The signal_state of a dispatcher header in guest memory is written at initialisation "
        "and thread exit only; the truth lives in the host object.",
        "The header's signal_state is kept true after every change.",
        "reference 5.1, 7, 11.12",
    ),
    QuirkInfo(
        "ke_mutant_timer_missing",
        "native",
        "KeInitializeMutant, KeReleaseMutant, KeInitializeTimerEx, KeSetTimer(Ex) and "
        "KeCancelTimer are unimplemented (r3 is left as the first argument); a bridged guest "
        "KMUTANT has no lock behind it (every wait on it succeeds, nobody owns it) and guest "
        "KTIMERs cannot be bridged.",
        "They work, and guest KMUTANT / KTIMER structures bridge to working objects.",
        "reference 1, 5.3, 7, 11.17",
    ),
    QuirkInfo(
        "ke_init_semaphore_reuses_stamp",
        "native",
        "KeInitializeSemaphore on memory already stamped as a semaphore reuses the old object "
        "and ignores the new count and limit.",
        "KeInitializeSemaphore always (re)initialises the object with the new count and limit.",
        "reference 5.2, 11.18",
    ),
    QuirkInfo(
        "bridge_stamps_header",
        "native",
        "The first pointer call on a guest dispatcher structure makes a kernel object with an "
        "untraced table slot that is never closed, and stamps 'XEN\\0' (0x58454E00) and that "
        "handle into the header's wait-list words; later calls go through the stamped handle "
        "(a freed slot finds nothing, a reused one its new occupant).",
        "The structure is the object: no slot, no stamp, the wait-list words are left alone, and "
        "a signal state the title stores into the header itself is the object's state (for a "
        "KMUTANT with its OwnerThread and Abandoned fields: 0 with no owner is held by nobody).",
        "reference 7, 11.10; console: NT dispatcher objects live in caller memory",
    ),
    QuirkInfo(
        "critical_section_lock_host_order",
        "native",
        "A critical section's lock count (+0x10) is kept in host (little-endian) byte order; "
        "-1 and 0 look the same either way, other values do not.",
        "The lock count is big-endian like every other field.",
        "reference appendix B, 1",
    ),
    # -- console profile: NT statuses and the native objects (issue 15) -------------------------
    QuirkInfo(
        "wait_parameter_status_generic",
        "waits",
        "A multiple wait with a count of 0 or over 64, or a wait type other than 0 / 1, returns "
        "STATUS_INVALID_PARAMETER (KeWaitForMultipleObjects: the count only).",
        "The count gives STATUS_INVALID_PARAMETER_1 and the wait type STATUS_INVALID_PARAMETER_3, "
        "naming the argument at fault.",
        "reference 6.3; console: NT's NtWaitForMultipleObjects (the issue-15 ask; not verified "
        "on a 360: the original Xbox kernel's NtWaitForMultipleObjectsEx returns "
        "STATUS_INVALID_PARAMETER for both, as canary does, so switch this quirk on if a 360 "
        "shows the same)",
    ),
    QuirkInfo(
        "release_semaphore_handle_before_count",
        "semaphores",
        "NtReleaseSemaphore looks the handle up first: a bad handle with a count <= 0 returns "
        "STATUS_INVALID_HANDLE.",
        "The count is checked before the handle: a count <= 0 returns STATUS_INVALID_PARAMETER "
        "whatever the handle.",
        "reference 5.2; console: NT's NtReleaseSemaphore tests ReleaseCount <= 0 before it "
        "references the handle",
    ),
    QuirkInfo(
        "mutant_recursion_unlimited",
        "mutants",
        "A mutant's owner can acquire it again without limit (canary's host mutex).",
        "A wait by the owner of a mutant whose SignalState is already MINLONG (0x80000000: "
        "recursion 2**31 + 1, e.g. stored by the title into a KMUTANT) returns "
        "STATUS_MUTANT_LIMIT_EXCEEDED and acquires nothing.",
        "reference 5.3; console: NT KeWaitForSingleObject raises STATUS_MUTANT_LIMIT_EXCEEDED",
    ),
    QuirkInfo(
        "dup_close_source_after_allocating",
        "duplicate",
        "With DUPLICATE_CLOSE_SOURCE the duplicate's slot is made first and the source closed "
        "after it (trace: handle.create, then handle.destroy), so the new value differs.",
        "The source is closed first (the object held across it), then the new handle made: the "
        "LIFO allocator hands back the source's own value (trace: handle.destroy, then "
        "handle.create), and a named object's only handle closed this way loses its name "
        "unless it is permanent.",
        "reference 3 step 4; console: appendix A (LIFO free list), issue 15",
    ),
    QuirkInfo(
        "open_by_name_ignores_type",
        "names",
        "ObOpenObjectByName ignores its ObjectType argument: any object of the name is opened.",
        "An ObjectType that is not the object's type returns STATUS_OBJECT_TYPE_MISMATCH and "
        "no handle.",
        "reference 4; console: Xbox ObpReferenceObjectByName checks the found object's type",
    ),
    QuirkInfo(
        "flat_object_names",
        "names",
        "There is no object namespace: a name is a flat string in one table. "
        "OBJECT_ATTRIBUTES.RootDirectory is ignored (a bad root or an event as root succeeds), "
        "a path through a missing directory is just a longer name, an empty name is no name. "
        "NtCreateDirectoryObject, NtOpenDirectoryObject and NtQueryDirectoryObject are not "
        "implemented (r3 is left as the first argument).",
        "The Xbox family's object namespace: `\\` holding `\\??`, `\\Device` and "
        "`\\Win32NamedObjects` (no `\\BaseNamedObjects`; root 0xFFFFFFFC is "
        "`\\Win32NamedObjects`, 0xFFFFFFFD `\\??`). A name without a root must start with "
        "`\\` and one with a root must not, else STATUS_OBJECT_NAME_INVALID (also for an empty "
        "name, an empty last element or two separators in a row; NT's "
        "STATUS_OBJECT_PATH_SYNTAX_BAD is not what this kernel returns); a missing or "
        "non-directory element on the way is STATUS_OBJECT_PATH_NOT_FOUND, a missing last one "
        "STATUS_OBJECT_NAME_NOT_FOUND; a root handle that is not found is STATUS_INVALID_HANDLE "
        "and one that is not a directory STATUS_OBJECT_TYPE_MISMATCH on create "
        "(STATUS_OBJECT_PATH_NOT_FOUND on open). Directories are created, opened and listed "
        "(one entry per NtQueryDirectoryObject call, STATUS_NO_MORE_ENTRIES at the end).",
        "reference 2.8, 8.3; console: the Xbox object manager (obcreate.c ObCreateObject / "
        "ObInsertObject, obdir.c ObpReferenceObjectByName, ObDosDevicesDirectory() = -3, "
        "ObWin32NamedObjectsDirectory() = -4), exports 0xD0, 0xDE, 0xE5 of xboxkrnl_table.inc",
    ),
    QuirkInfo(
        "obj_permanent_ignored",
        "names",
        "OBJ_PERMANENT (0x10) is ignored: a name goes as the name table says; "
        "NtMakeTemporaryObject is not implemented (r3 is left as the handle).",
        "With the object namespace, OBJ_PERMANENT keeps a named object (and its name) after its "
        "last handle closes; NtMakeTemporaryObject clears that, and an object with no handle "
        "left then leaves its directory at once.",
        "reference 2.8; console: Xbox ObInsertObject (OB_FLAG_PERMANENT_OBJECT), NtClose "
        "(detach at handle count 0 unless permanent), export 0xDD",
    ),
    # -- Rtl strings, memory and formatting (exports/rtl_*.py, exports/formatting.py) -------------
    QuirkInfo(
        "init_string_length_wraps",
        "rtl",
        "RtlInitAnsiString / RtlInitUnicodeString store the string's length in 16 bits as it "
        "comes: a string of 0x10001 bytes gets Length 1 and MaximumLength 2.",
        "The length is capped at the largest a STRING can describe (0xFFFE bytes ANSI, 0xFFFC "
        "bytes Unicode), so the record never claims less than a prefix of the string.",
        "reference: canary xboxkrnl_rtl.cc RtlInitAnsiString (uint16 cast of strlen); console: NT "
        "RtlInitAnsiString / RtlInitUnicodeString (MAXUSHORT - 1, MAX_USTRING)",
    ),
    QuirkInfo(
        "upcase_unicode_ascii_only",
        "rtl",
        "RtlUpcaseUnicodeChar (and case-insensitive Unicode compares) upcase only a-z: the host "
        "C locale's toupper leaves every other character as it is.",
        "Every character with a simple upper-case mapping is upcased (U+00E9 -> U+00C9, "
        "U+03B1 -> U+0391), as the NT upcase table does.",
        "reference: canary xboxkrnl_rtl.cc RtlUpcaseUnicodeChar (std::ctype<char16_t> in "
        "the classic locale); console: NT RtlUpcaseUnicodeChar (NLS upcase table)",
    ),
    QuirkInfo(
        "copy_unicode_string_copies_double",
        "rtl",
        "RtlCopyUnicodeString copies twice the byte count it stores in Length (reading and "
        "writing past both buffers) and writes no terminating NUL.",
        "min(Destination.MaximumLength, Source.Length) bytes are copied, Length is that, and a "
        "NUL character follows when the buffer has room for it.",
        "reference: canary xboxkrnl_rtl.cc RtlCopyUnicodeString (memcpy of length * 2); "
        "console: NT RtlCopyUnicodeString",
    ),
    QuirkInfo(
        "unicode_to_ansi_utf8",
        "rtl",
        "RtlUnicodeStringToAnsiString writes UTF-8: a character above U+007F takes two or "
        "three bytes.",
        "Each character becomes one byte of the single-byte code page (U+0000-U+00FF as "
        "themselves, anything wider as '?').",
        "reference: canary xboxkrnl_rtl.cc RtlUnicodeStringToAnsiString (xe::to_utf8); console: NT "
        "RtlUnicodeStringToAnsiString (RtlUnicodeToMultiByteN, ANSI code page)",
    ),
    QuirkInfo(
        "unicode_to_ansi_keeps_length",
        "rtl",
        "Converting into the caller's buffer (AllocateDestinationString FALSE) leaves the "
        "destination's Length as it was, even when the text was cut short.",
        "Length is set to the bytes written (MaximumLength - 1 when cut short, with "
        "STATUS_BUFFER_OVERFLOW).",
        "reference: canary xboxkrnl_rtl.cc RtlUnicodeStringToAnsiString; console: NT "
        "RtlUnicodeStringToAnsiString",
    ),
    QuirkInfo(
        "compare_memory_counts_all",
        "rtl",
        "RtlCompareMemory returns how many byte positions hold equal bytes anywhere in the "
        'range ("abcd" vs "abXd" -> 3).',
        'RtlCompareMemory returns the length of the equal leading run ("abcd" vs "abXd" -> 2).',
        "reference: canary xboxkrnl_rtl.cc RtlCompareMemory (counts every match); console: NT "
        "RtlCompareMemory (documented: bytes that match before the first difference)",
    ),
    QuirkInfo(
        "vsnprintf_overflow_returns_count",
        "formatting",
        "_vsnprintf / _vsnwprintf return the full length of the output when it does not fit "
        "(the buffer holds its first count characters).",
        "They return -1 when the output does not fit, as _snprintf does.",
        "reference: canary xboxkrnl_strings.cc _vsnprintf; console: MSVC CRT _vsnprintf "
        "(documented -1 on truncation)",
    ),
    QuirkInfo(
        "swprintf_narrow_s",
        "formatting",
        "swprintf reads %s and %c as narrow (its formatter is run in narrow mode), unlike "
        "_snwprintf and vswprintf.",
        "swprintf, like every wide function, reads %s and %c as wide; %hs / %S are narrow.",
        "reference: canary xboxkrnl_strings.cc swprintf (format_core(..., false)); "
        "console: MSVC CRT swprintf",
    ),
    QuirkInfo(
        "raise_exception_returns",
        "rtl",
        "RtlRaiseException of any code returns to the caller as if a handler had continued "
        "it (a marker event records the code).",
        "The exception would be dispatched to the title's handlers, which x360k cannot run: "
        "the run stops with a report naming the code (SetThreadName's 0x406D1388 still "
        "returns).",
        "reference: canary xboxkrnl_debug.cc RtlRaiseException; console: NT RtlRaiseException "
        "(RtlDispatchException, then the unhandled-exception path)",
    ),
    QuirkInfo(
        "symlink_open_flat",
        "io",
        "NtOpenSymbolicLinkObject ignores RootDirectory, drops a leading `\\??\\` and looks the "
        "rest up among the file system's links: an unknown one is STATUS_NO_SUCH_FILE.",
        "With the object namespace the path is resolved like any object name (`\\??\\game:` "
        "absolute, or game: relative to root 0xFFFFFFFD): an unknown link is "
        "STATUS_OBJECT_NAME_NOT_FOUND, an object that is not a link STATUS_OBJECT_TYPE_MISMATCH, "
        "a relative name with no root STATUS_OBJECT_NAME_INVALID.",
        "reference 9 (NtOpenSymbolicLinkObject); console: Xbox ObOpenObjectByName with "
        "ObSymbolicLinkObjectType",
    ),
    QuirkInfo(
        "rc4_key_uses_16_bytes",
        "crypto",
        "XeCryptRc4Key and XeCryptRc4 cycle through the key's first 16 bytes whatever its "
        "size says (a 5-byte key reads 11 bytes past it).",
        "The key schedule cycles through exactly key_size bytes (RC4 as defined).",
        "reference: canary xboxkrnl_crypt.cc XeCryptRc4Key (key[x % 0x10]); console: the "
        "export's key-size argument, RC4's key schedule",
    ),
    QuirkInfo(
        "sha512_final_reads_sha256_layout",
        "crypto",
        "XeCryptSha512Final reads the state with XECRYPT_SHA256_STATE's layout (u32 count at 0, "
        "eight u32 words from 4, a 64-byte buffer at 0x24) and writes the digest at 0x24: "
        "the result is not the message's SHA-512.",
        "XeCryptSha512Final finishes the state XeCryptSha512Update left (u64 count, eight u64 "
        "words, 128-byte buffer): the message's SHA-512.",
        "reference: canary xboxkrnl_crypt.cc XeCryptSha512Final (its parameter typed "
        "XECRYPT_SHA256_STATE); console: FIPS 180-4 SHA-512",
    ),
    QuirkInfo(
        "des_parity_counts_low_bit",
        "crypto",
        "XeCryptDesParity counts the low bit itself when choosing it, so a byte whose low bit "
        "was set comes out with even parity (0x01 -> 0x00).",
        "Every byte comes out with odd parity: the low bit is set when bits 1-7 hold an even "
        "number of ones (0x01 -> 0x01, 0x02 -> 0x02).",
        "reference: canary third_party des.h set_parity via XeCryptDesParity; console: FIPS "
        "46-3 key parity",
    ),
    QuirkInfo(
        "crypt_random_fills_fd",
        "crypto",
        "XeCryptRandom fills the buffer with 0xFD bytes.",
        "XeCryptRandom fills it with random bytes (x360k: a per-kernel generator seeded 0, so "
        "runs are reproducible).",
        "reference: canary xboxkrnl_crypt.cc XeCryptRandom (a stub); console: the export's purpose",
    ),
    QuirkInfo(
        "pkcs1_verify_always_true",
        "crypto",
        "XeCryptBnDwLePkcs1Verify returns TRUE for any hash and block.",
        "It returns TRUE only when the block is the PKCS#1 format of the hash (kind chosen by "
        "byte 0x16) and its size is 0x27..0x200.",
        "reference: canary xboxkrnl_crypt.cc XeCryptBnDwLePkcs1Verify (a stub); console: the "
        "XDK's xecrypt.h description of XeCryptBnDwLePkcs1Format / Verify",
    ),
    QuirkInfo(
        "rsa_pub_crypt_any_size",
        "crypto",
        "XeCryptBnQwNeRsaPubCrypt computes with any key size up to BCrypt's 16384 bits "
        "(canary's Windows build; its other builds return 1 and write nothing).",
        "Keys over 0x40 64-bit words (4096 bits) are refused: it returns 0.",
        "reference: canary xboxkrnl_crypt.cc XeCryptBnQwNeRsaPubCrypt; console: the kernel's "
        "size check (cqw 1..0x40) before XeCryptBnQwNeModExp",
    ),
    QuirkInfo(
        "xma_set_loop_data_reads_context_layout",
        "audio",
        "XMASetLoopData reads its XMA_LOOP_DATA argument as a whole 64-byte XMA context: the loop "
        "start comes from bytes 12-15, the end from 16-19, the count from bits 12-19 of the first "
        "word, the subframe end / skip from the second word.",
        "XMASetLoopData reads the 12-byte XMA_LOOP_DATA: u32 loop start, u32 loop end, then "
        "the loop count, subframe end and subframe skip bytes.",
        "reference: canary xboxkrnl_audio_xma.cc XMASetLoopData (its argument typed "
        "XMA_CONTEXT_DATA); console: XMA_LOOP_DATA as XMAInitializeContext reads it",
    ),
    # -- loader, config and Hal (issue 13) ------------------------------------------------------
    QuirkInfo(
        "image_directory_ignores_raw_offset",
        "loader",
        "RtlImageDirectoryEntryToData on a file image (not mapped, or an odd base) returns "
        "base + directory RVA - section RVA, leaving out the section's file offset.",
        "The address is base + RVA - section RVA + the section's PointerToRawData, where the "
        "directory's bytes lie in the file.",
        "reference: canary xboxkrnl_rtl.cc (RtlImageDirectoryEntryToData); console: NT "
        "RtlImageDirectoryEntryToData / RtlAddressInSectionTable",
    ),
    QuirkInfo(
        "xconfig_few_settings",
        "config",
        "ExGetXConfigSetting knows the secured AV region and eleven user settings only; other "
        "settings of those categories are STATUS_INVALID_PARAMETER_2, other categories "
        "STATUS_INVALID_PARAMETER_1.",
        "Every setting of x360k's documented default console (exports/xconfig.py: secured, "
        "user, console and system categories) is answered with its size.",
        "reference: canary xboxkrnl_xconfig.cc; console: the XConfig layout (free60, xkelib "
        "xconfig.h)",
    ),
    QuirkInfo(
        "xconfig_too_small_size_zero",
        "config",
        "When ExGetXConfigSetting refuses the buffer (too small, or NULL with a size) it writes "
        "a required size of 0.",
        "The required size written is the setting's size, so the caller can retry.",
        "reference: canary xboxkrnl_xconfig.cc (the size is set only on success); console: the "
        "required-size contract of the call",
    ),
    QuirkInfo(
        "xconfig_set_missing",
        "config",
        "ExSetXConfigSetting is not implemented: the call returns with r3 still its first "
        "argument and nothing is stored.",
        "A user, console or system setting of the right size is stored (later reads return it); "
        "secured, static and statistic settings are STATUS_ACCESS_DENIED, a wrong size "
        "STATUS_INVALID_PARAMETER.",
        "reference: canary's export table (not registered); console: xboxkrnl exports "
        "ExSetXConfigSetting",
    ),
    QuirkInfo(
        "dbg_break_point_returns",
        "loader",
        "DbgBreakPoint is a stub: with no debugger attached the call returns (a marker event).",
        "The breakpoint is an unhandled exception with no debugger: the title stops (the run "
        "ends with a report).",
        "reference: canary xboxkrnl_debug.cc (a host debug break, caught once); console: a "
        "PowerPC trap with no debugger to take it",
    ),
    # -- Ex / Ke rest: read-write locks, SLists, APCs, DPCs, devices (issue 13) ------------------
    QuirkInfo(
        "rwlock_release_skips_writer",
        "native",
        "ExReleaseReadWriteLock by the exclusive owner with only writers waiting decrements the "
        "zero readers-holding count (to 0xFFFFFFFF) and returns: the waiting writer is never "
        "woken.",
        "The exclusive owner's release hands the lock to the next waiting writer (WritersWaiting "
        "goes down by one, the writer event is set).",
        "reference: canary xboxkrnl_threading.cc ExReleaseReadWriteLock; console: the NT "
        "executive's "
        "ERWLOCK release (ExReleaseReadWriteLock in the original Xbox kernel)",
    ),
    QuirkInfo(
        "slist_flush_clears_sequence",
        "native",
        "InterlockedFlushSList zeroes the whole SLIST_HEADER, sequence number included.",
        "InterlockedFlushSList clears the first entry and the depth and keeps the sequence "
        "number (it guards concurrent pops against reuse).",
        "reference: canary xboxkrnl_threading.cc InterlockedFlushSList; console: NT "
        "ExpInterlockedFlushSList",
    ),
    QuirkInfo(
        "apc_disable_count_host_order",
        "threads",
        "KeEnterCriticalRegion / KeLeaveCriticalRegion keep the KTHREAD's kernel APC disable "
        "count (+0xB0) in host (little-endian) byte order: -1 reads the same either way, -2 "
        "does not.",
        "The count is a big-endian LONG like every other KTHREAD field.",
        "reference: canary xthread.h (X_KTHREAD::apc_disable_count is a plain int32_t), xthread.cc",
    ),
    QuirkInfo(
        "ke_insert_apc_no_alert",
        "threads",
        "KeInsertQueueApc of a user-mode APC queues it without ending an alertable wait already "
        "in progress: it runs at the target's next alertable wait.",
        "Queueing a user-mode APC ends the target's alertable wait with STATUS_USER_APC and the "
        "APC runs at once, as for NtQueueApcThread.",
        "reference: canary xboxkrnl_threading.cc xeKeInsertQueueApc ('todo: ... waking the "
        "target thread "
        "if its alertable'); console: NT KiInsertQueueApc",
    ),
    QuirkInfo(
        "dpc_never_runs",
        "threads",
        "KeInsertQueueDpc queues the DPC and returns 1 but nothing ever dispatches the queue: the "
        "routine never runs and the DPC stays queued until KeRemoveQueueDpc.",
        "A DPC inserted below DISPATCH_LEVEL runs before KeInsertQueueDpc returns, at "
        "DISPATCH_LEVEL on the inserting thread, dequeued before its routine is called; one "
        "inserted at DISPATCH_LEVEL runs when a thread lowers its IRQL below it.",
        "reference: canary xboxkrnl_threading.cc KeInsertQueueDpc ('DPC does not dispatch yet'); "
        "console: "
        "NT KeInsertQueueDpc requests a DPC interrupt taken as the IRQL drops",
    ),
    QuirkInfo(
        "save_fp_state_unregistered",
        "threads",
        "KeSaveFloatingPointState is compiled out (inside #if 0): the call reaches canary's "
        "unimplemented-export stub and r3 keeps what the caller left there.",
        "KeSaveFloatingPointState returns the PCR's floating-point owner word (+0x10), makes the "
        "caller's KTHREAD the owner and marks its floating-point state saved (PCR +0xA = 1); "
        "x360k models no floating-point registers to copy.",
        "reference: canary xboxkrnl_misc.cc (#if 0 around KeSaveFloatingPointState); console: the "
        "disassembly notes there",
    ),
    QuirkInfo(
        "device_ioctl_unchecked",
        "io",
        "NtDeviceIoControlFile never looks at its handle, event, APC or IO_STATUS_BLOCK: it "
        "answers the two disk IOCTLs for any handle value and returns the status only.",
        "The handle must name an open file (STATUS_INVALID_HANDLE / "
        "STATUS_OBJECT_TYPE_MISMATCH); the answer completes the request like any other: "
        "IO_STATUS_BLOCK, event and APC.",
        "reference: canary xboxkrnl_io.cc NtDeviceIoControlFile ('todo: this should fill in the "
        "io status "
        "block and queue the apc'); console: NT IoCompleteRequest",
    ),
    QuirkInfo(
        "fsc_cache_count_stub",
        "io",
        "FscGetCacheElementCount always returns 0; FscSetCacheElementCount returns "
        "STATUS_SUCCESS and keeps nothing.",
        "FscSetCacheElementCount sets the file-system cache's element count, which "
        "FscGetCacheElementCount then returns (0 until one is set: x360k's documented default).",
        "reference: canary xboxkrnl_io.cc (both kStub); console: x360k keeps the count it was "
        "given",
    ),
    QuirkInfo(
        "ob_create_named_fatal",
        "objects",
        "ObCreateObject with an ObjectName stops the emulator: its name splitter is a fatal "
        "'unimplemented' error. x360k stops the run with a report.",
        "The name's last path component is copied into a name-info block allocated in front of "
        "the object header; an empty or trailing-backslash name gives STATUS_OBJECT_NAME_INVALID.",
        "reference: canary xboxkrnl_ob.cc (xeObSplitName: FatalError); console: Xbox "
        "ObCreateObject",
    ),
    # -- memory manager --------------------------------------------------------------------------
    QuirkInfo(
        "virtual_null_pointer_invalid_parameter",
        "memory",
        "NtAllocateVirtualMemory and NtProtectVirtualMemory with a null BaseAddress or "
        "RegionSize pointer return STATUS_INVALID_PARAMETER.",
        "The pointers are probed like any other: a null one is STATUS_ACCESS_VIOLATION.",
        "reference: canary xboxkrnl_memory.cc (NtAllocateVirtualMemory, NtProtectVirtualMemory); "
        "console: "
        "NT NtAllocateVirtualMemory probes its in/out parameters",
    ),
    QuirkInfo(
        "negative_region_size_negated",
        "memory",
        "A RegionSize that is negative as a signed 32-bit value is negated before rounding "
        "(-0x10000 allocates 64 KiB).",
        "Such a size is larger than any heap: STATUS_INVALID_PARAMETER.",
        "reference: canary xboxkrnl_memory.cc (NtAllocateVirtualMemory: 'some games pass in "
        "negative "
        "sizes'); console: NT rejects a RegionSize past the user address range",
    ),
    QuirkInfo(
        "virtual_commit_beyond_physical",
        "memory",
        "Commits in the virtual heaps are host memory, not the console's 512 MiB: they "
        "succeed while the heap has address space, and MmQueryStatistics counts only physical "
        "allocations as used.",
        "Every committed page is one of the 512 MiB of RAM: a commit (or physical allocation) "
        "that would pass it fails with STATUS_NO_MEMORY (MmAllocatePhysicalMemory returns 0), "
        "and MmQueryStatistics counts every commit.",
        "reference: canary memory.cc (virtual heaps backed by a 4 GiB host mapping); console: "
        "512 MiB "
        "unified memory, no paging",
    ),
    QuirkInfo(
        "fixed_allocation_overlays",
        "memory",
        "A fixed-address NtAllocateVirtualMemory with MEM_COMMIT takes the pages out of "
        "whatever reservations held them (reserving free ones) into a new region; MEM_RESERVE "
        "alone over used pages fails with STATUS_NO_MEMORY.",
        "Reserving over used pages, or committing pages that are not all inside one "
        "reservation, fails with STATUS_CONFLICTING_ADDRESSES.",
        "reference: canary memory.cc (BaseHeap::AllocFixed); console: NT NtAllocateVirtualMemory",
    ),
    QuirkInfo(
        "protect_reported_normalized",
        "memory",
        "Protections are kept as host access: they read back as PAGE_NOACCESS, PAGE_READONLY "
        "or PAGE_READWRITE plus NOCACHE/WRITECOMBINE (EXECUTE_READ reads as READONLY, "
        "WRITECOPY and EXECUTE as NOACCESS, and give that access); any value is accepted (one "
        "with no access bit becomes NOACCESS); MmQueryAddressProtect of a PAGE_NOACCESS page "
        "is 0.",
        "A page keeps the PAGE_* value it was given, and reads it back; NtAllocateVirtualMemory "
        "and NtProtectVirtualMemory refuse a value without exactly one base protection "
        "(STATUS_INVALID_PAGE_PROTECTION).",
        "reference: canary xboxkrnl_memory.cc (FromXdkProtectFlags, ToXdkProtectFlags); console: "
        "NT "
        "keeps the protection code per page",
    ),
    QuirkInfo(
        "virtual_free_canary_statuses",
        "memory",
        "NtFreeVirtualMemory treats any FreeType but MEM_DECOMMIT as a release; a release not "
        "at a region's base is STATUS_UNSUCCESSFUL; a decommit succeeds over any range. "
        "NtProtectVirtualMemory over several regions or uncommitted pages is "
        "STATUS_ACCESS_DENIED.",
        "FreeType must be MEM_DECOMMIT or MEM_RELEASE (else STATUS_INVALID_PARAMETER); an "
        "address in no allocation is STATUS_MEMORY_NOT_ALLOCATED, a release not at the base "
        "STATUS_FREE_VM_NOT_AT_BASE; a protect over several regions is "
        "STATUS_CONFLICTING_ADDRESSES, over uncommitted pages STATUS_NOT_COMMITTED.",
        "reference: canary xboxkrnl_memory.cc (NtFreeVirtualMemory, NtProtectVirtualMemory), "
        "memory.cc "
        "(Decommit, Release, Protect); console: NT NtFreeVirtualMemory, NtProtectVirtualMemory",
    ),
    QuirkInfo(
        "query_region_unrounded",
        "memory",
        "NtQueryVirtualMemory reports BaseAddress as the address passed (not rounded down to "
        "its page); a free range has Type MEM_PRIVATE and protections PAGE_NOACCESS.",
        "BaseAddress is the page of the address; a free range has Type and protections 0.",
        "reference: canary xboxkrnl_memory.cc (NtQueryVirtualMemory); console: NT "
        "MEMORY_BASIC_INFORMATION",
    ),
    QuirkInfo(
        "reserved_pages_report_protection",
        "memory",
        "MmIsAddressValid and MmQueryAddressProtect answer a reserved, uncommitted page with "
        "the protection it was reserved with (so it reads as valid).",
        "An uncommitted page is not valid: MmIsAddressValid 0, MmQueryAddressProtect 0.",
        "reference: canary memory.cc (QueryProtect, QueryRangeAccess read the page table's "
        "protection); "
        "console: NT MmIsAddressValid checks the page is present",
    ),
    QuirkInfo(
        "kernel_stack_failure_returns_size",
        "memory",
        "MmCreateKernelStack that cannot allocate returns the requested size (a null base "
        "plus the size).",
        "It returns NULL.",
        "reference: canary xboxkrnl_memory.cc (xeMmCreateKernelStack); console: a failed "
        "allocation is NULL",
    ),
)

#: Departures x360k does not reproduce because canary's behaviour is undefined
#: (it uses an object as the wrong class): both profiles give the console's answer.
DIVERGENCES: Final[tuple[QuirkInfo, ...]] = (
    QuirkInfo(
        "wrong_type_handles",
        "handles",
        "Most exports do not check the object type in release builds: the object is used as "
        "the expected class (undefined behaviour, typically a crash or silent corruption).",
        "STATUS_OBJECT_TYPE_MISMATCH. x360k returns this under both profiles.",
        "reference 2.10, 11.9",
    ),
    QuirkInfo(
        "remove_io_completion_invalid_handle",
        "io",
        "NtRemoveIoCompletion with an invalid handle dereferences a null port and crashes.",
        "STATUS_INVALID_HANDLE. x360k returns this under both profiles.",
        "reference 5.6",
    ),
    QuirkInfo(
        "create_file_invalid_root_handle",
        "io",
        "NtCreateFile with a RootDirectory handle that is not found dereferences a null file and "
        "crashes.",
        "STATUS_INVALID_HANDLE (STATUS_OBJECT_TYPE_MISMATCH for a handle that is not a file). "
        "x360k returns this under both profiles.",
        "reference 9",
    ),
)


@dataclass(frozen=True, slots=True)
class Quirks:
    """The switches in force for one kernel; every field is one row of :data:`QUIRK_TABLE`."""

    double_close_succeeds: bool
    pseudo_thread_is_primary_slot: bool
    handle_ignores_base_bits: bool
    lowest_free_slot_allocator: bool
    canary_startup_objects: bool
    named_open_shares_handle: bool
    named_create_ignores_openif: bool
    name_type_clash_invalid_handle: bool
    name_dropped_with_any_slot: bool
    ob_reference_on_primary_slot: bool
    ob_reference_untyped_marker: bool
    ob_reference_by_name_double_counts: bool
    dup_failure_writes_invalid: bool
    dup_close_source_exact_option: bool
    failed_semaphore_create_consumes_slot: bool
    io_completion_leaks_object: bool
    previous_state_always_one: bool
    nonzero_event_type_is_synchronization: bool
    semaphore_over_release_succeeds: bool
    release_mutant_always_succeeds: bool
    timer_resume_ignored_without_arming: bool
    cancel_timer_reports_zero: bool
    thread_start_delay: bool
    resume_wraps_suspend_count: bool
    tls_alloc_beyond_storage: bool
    wait_timeout_milliseconds: bool
    delay_ignores_absolute: bool
    wait_all_duplicate_abandoned: bool
    multi_wait_invalid_handle_parameter: bool
    unwaitable_objects_satisfy_single_waits: bool
    yield_always_succeeds: bool
    wait_timeout_yields: bool
    signal_and_wait_failure_abandoned: bool
    remove_io_completion_timeout_truncated: bool
    io_always_pending_async: bool
    unsupported_set_information_succeeds: bool
    create_file_failure_writes_invalid: bool
    directory_option_not_checked: bool
    io_apc_requires_context: bool
    io_completion_count_capped: bool
    query_information_classes_limited: bool
    query_directory_single_entry: bool
    query_symlink_bad_handle_no_such_file: bool
    query_symlink_truncates_silently: bool
    guest_signal_state_stale: bool
    ke_mutant_timer_missing: bool
    ke_init_semaphore_reuses_stamp: bool
    bridge_stamps_header: bool
    critical_section_lock_host_order: bool
    wait_parameter_status_generic: bool
    release_semaphore_handle_before_count: bool
    mutant_recursion_unlimited: bool
    dup_close_source_after_allocating: bool
    open_by_name_ignores_type: bool
    flat_object_names: bool
    obj_permanent_ignored: bool
    init_string_length_wraps: bool
    upcase_unicode_ascii_only: bool
    copy_unicode_string_copies_double: bool
    unicode_to_ansi_utf8: bool
    unicode_to_ansi_keeps_length: bool
    compare_memory_counts_all: bool
    vsnprintf_overflow_returns_count: bool
    swprintf_narrow_s: bool
    raise_exception_returns: bool
    symlink_open_flat: bool
    rc4_key_uses_16_bytes: bool
    sha512_final_reads_sha256_layout: bool
    des_parity_counts_low_bit: bool
    crypt_random_fills_fd: bool
    pkcs1_verify_always_true: bool
    rsa_pub_crypt_any_size: bool
    xma_set_loop_data_reads_context_layout: bool
    image_directory_ignores_raw_offset: bool
    xconfig_few_settings: bool
    xconfig_too_small_size_zero: bool
    xconfig_set_missing: bool
    dbg_break_point_returns: bool
    rwlock_release_skips_writer: bool
    slist_flush_clears_sequence: bool
    apc_disable_count_host_order: bool
    ke_insert_apc_no_alert: bool
    dpc_never_runs: bool
    save_fp_state_unregistered: bool
    device_ioctl_unchecked: bool
    fsc_cache_count_stub: bool
    ob_create_named_fatal: bool
    virtual_null_pointer_invalid_parameter: bool
    negative_region_size_negated: bool
    virtual_commit_beyond_physical: bool
    fixed_allocation_overlays: bool
    protect_reported_normalized: bool
    virtual_free_canary_statuses: bool
    query_region_unrounded: bool
    reserved_pages_report_protection: bool
    kernel_stack_failure_returns_size: bool

    @classmethod
    def for_profile(cls, profile: Profile = "canary", **overrides: bool) -> Quirks:
        """Every quirk on for ``canary``, off for ``console``, then ``overrides`` applied.

        Raises ``ValueError`` naming an unknown profile or quirk.
        """
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
        names = {q.name for q in QUIRK_TABLE}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"unknown quirk(s): {', '.join(unknown)}")
        on = profile == "canary"
        values = {name: overrides.get(name, on) for name in names}
        return cls(**values)

    def enabled(self) -> list[str]:
        """Names of the quirks switched on, in table order."""
        return [q.name for q in QUIRK_TABLE if getattr(self, q.name)]

    def replace(self, **changes: bool) -> Quirks:
        return dataclasses.replace(self, **changes)


def render_semantics_table() -> str:
    """The quirk table as Markdown, as embedded in ``docs/semantics.md``."""
    lines = [
        "| quirk | area | canary (profile `canary`) | console (profile `console`) | source |",
        "|---|---|---|---|---|",
    ]
    for q in QUIRK_TABLE:
        lines.append(f"| `{q.name}` | {q.area} | {q.canary} | {q.console} | {q.source} |")
    lines += [
        "",
        "Departures not reproduced (canary's behaviour is undefined there; both profiles give "
        "the console's answer):",
        "",
        "| divergence | area | canary | x360k | source |",
        "|---|---|---|---|---|",
    ]
    for q in DIVERGENCES:
        lines.append(f"| `{q.name}` | {q.area} | {q.canary} | {q.console} | {q.source} |")
    return "\n".join(lines) + "\n"
