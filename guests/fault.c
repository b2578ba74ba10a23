/*
 * Faults on purpose after one kernel call, so the report has events to show.
 * `fault_kind` (patched by tests): 0 writes to unmapped memory, 1 executes an
 * illegal instruction, 2 calls an ordinal x360k does not implement.
 */
#include "xboxkrnl.h"

X360K_GUEST("fault", "a guest that faults", "fault");

volatile ULONG fault_kind = 0;

ULONG _start(void)
{
    HANDLE ev;
    NtCreateEvent(&ev, NULL, NotificationEvent, 0);
    if (fault_kind == 1) __asm__ volatile(".long 0");
    if (fault_kind == 2) __asm__ volatile("li 0,0x7ff\n\tsc" ::: "r0", "r3", "memory");
    *(volatile ULONG *)0x00001000 = ev;
    return 0;
}
