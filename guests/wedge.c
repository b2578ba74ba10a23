/*
 * The seed's wedge (examples/worker_never_signals.yaml): the main thread waits
 * forever on an event the only other thread never sets (it sets a different
 * one and ends). Nothing can run and no timeout can fire: the run wedges.
 */
#include "xboxkrnl.h"

X360K_GUEST("wedge", "a worker that never signals wedges the waiter", "wedge");

static HANDLE other;

static ULONG worker(void *context)
{
    (void)context;
    ULONG previous;
    return NtSetEvent(other, &previous) == STATUS_SUCCESS ? 0 : 1;
}

ULONG _start(void)
{
    HANDLE work_done, dup, worker_thread;
    ULONG worker_id;
    NtCreateEvent(&work_done, NULL, SynchronizationEvent, 0);
    NtCreateEvent(&other, NULL, NotificationEvent, 0);
    NtDuplicateObject(work_done, &dup, 0);
    ExCreateThread(&worker_thread, 0, &worker_id, NULL, (void *)worker, NULL, 0);
    NtWaitForSingleObjectEx(work_done, 0, 0, NULL); /* never returns */
    return 0;
}
