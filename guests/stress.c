/* 100,000 kernel calls in a tight loop: the round-trip cost of an import thunk. */
#include "xboxkrnl.h"

X360K_GUEST("stress", "100k kernel calls", "finished");

volatile ULONG calls = 100000;

ULONG _start(void)
{
    ULONG wrong = 0;
    for (ULONG i = 0; i < calls; i++)
        if (KeQueryPerformanceFrequency() != 50000000u) wrong++;
    return wrong;
}
