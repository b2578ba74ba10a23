/*
 * Two threads that only meet through memory: the worker spins on a flag
 * that main sets after a stretch of work with no kernel calls. Only the
 * runtime's instruction budget lets them take turns, so this guest checks
 * preemption (and that it is deterministic: the spin count is the exit code).
 */
#include "xboxkrnl.h"

X360K_GUEST("spin", "threads taking turns by instruction budget", "finished");

volatile ULONG work = 300000;
static volatile ULONG flag;
static volatile ULONG spins;

static ULONG worker(void *context)
{
    (void)context;
    while (!flag) spins++;
    return spins;
}

ULONG _start(void)
{
    HANDLE thread;
    ULONG x = 1;
    ExCreateThread(&thread, 0, NULL, NULL, (void *)worker, NULL, 0);
    /* Let the worker start (canary delays new threads by 10 ms). */
    LARGE_INTEGER delay = {-200000};
    KeDelayExecutionThread(1, 0, &delay);
    for (ULONG i = 0; i < work; i++) x = x * 1103515245u + 12345u;
    flag = 1;
    NtWaitForSingleObjectEx(thread, 1, 0, NULL);
    NtClose(thread);
    return x == 0 ? 1 : 0;
}
