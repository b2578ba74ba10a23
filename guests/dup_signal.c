/*
 * The seed's duplicate-and-signal case (examples/dup_signal_wakes_source.yaml):
 * a worker signals an event through a duplicated handle while the main thread
 * waits on the source handle. One object, one wait list: the wait ends with
 * STATUS_WAIT_0 and the run finishes with nothing left alive.
 */
#include "xboxkrnl.h"

X360K_GUEST("dup_signal", "a signal on the duplicate wakes a waiter on the source", "finished");

static HANDLE dup;

static ULONG worker(void *context)
{
    (void)context;
    ULONG previous;
    return NtSetEvent(dup, &previous) == STATUS_SUCCESS ? 0 : 1;
}

ULONG _start(void)
{
    HANDLE ev, worker_thread;
    ULONG worker_id;
    if (NtCreateEvent(&ev, NULL, SynchronizationEvent, 0) != STATUS_SUCCESS) return 1;
    if (NtDuplicateObject(ev, &dup, 0) != STATUS_SUCCESS) return 2;
    if (ExCreateThread(&worker_thread, 0, &worker_id, NULL, (void *)worker, NULL, 0) != STATUS_SUCCESS)
        return 3;
    if (NtWaitForSingleObjectEx(ev, 0, 0, NULL) != STATUS_WAIT_0) return 4;
    if (NtWaitForSingleObjectEx(worker_thread, 0, 0, NULL) != STATUS_WAIT_0) return 5;
    NtClose(worker_thread);
    NtClose(dup);
    NtClose(ev);
    return 0;
}
