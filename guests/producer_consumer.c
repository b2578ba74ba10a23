/*
 * Producer and consumer on a bounded queue of 2 slots: two semaphores count
 * free slots and items, a critical section guards the queue itself. The
 * consumer adds up what it takes; main waits for both (wait-all) and exits
 * with 0 only if every item arrived once, in order.
 */
#include "xboxkrnl.h"

X360K_GUEST("producer_consumer", "a bounded queue on semaphores and a critical section",
            "finished");

#define ITEMS 20
#define SLOTS 2

static HANDLE items, slots;
static RTL_CRITICAL_SECTION lock;
static ULONG queue[SLOTS];
static ULONG head, tail, consumed_sum, out_of_order;

static ULONG producer(void *context)
{
    (void)context;
    for (ULONG i = 1; i <= ITEMS; i++) {
        NtWaitForSingleObjectEx(slots, 1, 0, NULL);
        RtlEnterCriticalSection(&lock);
        queue[tail % SLOTS] = i;
        tail++;
        RtlLeaveCriticalSection(&lock);
        NtReleaseSemaphore(items, 1, NULL);
    }
    return 0;
}

static ULONG consumer(void *context)
{
    (void)context;
    for (ULONG i = 1; i <= ITEMS; i++) {
        NtWaitForSingleObjectEx(items, 1, 0, NULL);
        RtlEnterCriticalSection(&lock);
        ULONG value = queue[head % SLOTS];
        head++;
        RtlLeaveCriticalSection(&lock);
        if (value != i) out_of_order++;
        consumed_sum += value;
        NtReleaseSemaphore(slots, 1, NULL);
    }
    return 0;
}

ULONG _start(void)
{
    HANDLE threads[2];
    RtlInitializeCriticalSection(&lock);
    NtCreateSemaphore(&items, NULL, 0, SLOTS);
    NtCreateSemaphore(&slots, NULL, SLOTS, SLOTS);
    ExCreateThread(&threads[0], 0, NULL, NULL, (void *)producer, NULL, 0);
    ExCreateThread(&threads[1], 0, NULL, NULL, (void *)consumer, NULL, 0);
    if (NtWaitForMultipleObjectsEx(2, threads, WaitAll, 1, 0, NULL) != STATUS_WAIT_0) return 1;
    NtClose(threads[0]);
    NtClose(threads[1]);
    NtClose(items);
    NtClose(slots);
    if (out_of_order) return 2;
    return consumed_sum == ITEMS * (ITEMS + 1) / 2 ? 0 : 3;
}
