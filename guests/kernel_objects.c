/*
 * Kernel structures a title keeps in its own memory, driven from real
 * PowerPC code: an executive read-write lock shared by two threads, an
 * interlocked SList, a DPC whose deferred routine is guest code, and a
 * user-mode KAPC whose kernel routine rewrites what its normal routine gets.
 * Each step stores what it saw in observed[] for the tests to read; the
 * values that differ by profile are the ones the quirk table names
 * (dpc_never_runs, slist_flush_clears_sequence).
 */
#include "xboxkrnl.h"

X360K_GUEST("kernel_objects", "read-write lock, SList, DPC and APC structures in guest memory",
            "finished");

typedef struct { ULONG words[14]; } ERWLOCK;
typedef struct { ULONG next; USHORT depth; USHORT sequence; } SLIST_HEADER;
typedef struct { ULONG words[7]; } KDPC;
typedef struct { ULONG words[10]; } KAPC;

/* What each step saw; the tests read this array after the run. */
volatile ULONG observed[16];
static ERWLOCK lock;
static volatile ULONG shared_value;
static SLIST_HEADER slist;
static ULONG entries[3][2];
static KDPC dpc;
static KAPC apc;
static ULONG alt_stack[256] __attribute__((aligned(16)));

/* Switch r1 to alt_stack through the kernel (as a fiber switch does), read it, switch back. */
static __attribute__((noinline)) ULONG switched_sp(void *self)
{
    ULONG *kthread = self;
    ULONG base = kthread[0x5C / 4], limit = kthread[0x60 / 4], old, now;
    __asm__ volatile("mr %0, 1" : "=r"(old));
    KeSetCurrentStackPointers(&alt_stack[192], self, alt_stack, &alt_stack[256], alt_stack);
    __asm__ volatile("mr %0, 1\n\tmr 1, %1" : "=&r"(now) : "r"(old) : "memory");
    KeSetCurrentStackPointers((void *)old, self, (void *)limit, (void *)base, (void *)limit);
    return now;
}

static ULONG reader(void *context)
{
    (void)context;
    ExAcquireReadWriteLockShared(&lock);
    ULONG seen = shared_value;
    ExReleaseReadWriteLock(&lock);
    return seen;
}

static void deferred(KDPC *which, void *context, ULONG arg1, ULONG arg2)
{
    ULONG irql;
    __asm__("lbz %0, 0x18(13)" : "=r"(irql));
    observed[6] = (which == &dpc) + ((ULONG)context == 0x1234) * 2 + (arg1 == 5) * 4 + (arg2 == 6) * 8;
    observed[7] = irql;
}

static void normal_routine(void *context, void *arg1, void *arg2)
{
    observed[10] = (ULONG)context;
    observed[11] = (ULONG)arg1 + (ULONG)arg2;
}

static void kernel_routine(KAPC *which, void **normal, void **context, void **arg1, void **arg2)
{
    (void)normal;
    (void)arg2;
    observed[9] = (which == &apc) + ((ULONG)*arg1 == 3) * 2;
    *context = (void *)77;
}

ULONG _start(void)
{
    HANDLE thread;
    /* A writer holds the lock while a reader queues behind it. */
    ExInitializeReadWriteLock(&lock);
    ExAcquireReadWriteLockExclusive(&lock);
    ExCreateThread(&thread, 0, NULL, NULL, (void *)reader, NULL, 0);
    LARGE_INTEGER delay = {-200000};
    KeDelayExecutionThread(1, 0, &delay);
    observed[0] = lock.words[2]; /* readers waiting: 1 */
    shared_value = 42;
    ExReleaseReadWriteLock(&lock);
    NtWaitForSingleObjectEx(thread, 1, 0, NULL);
    NtClose(thread);
    observed[1] = ExTryToAcquireReadWriteLockExclusive(&lock);
    ExReleaseReadWriteLock(&lock);

    /* An SList: LIFO, depth and sequence in the header. */
    for (int i = 0; i < 3; i++) InterlockedPushEntrySList(&slist, entries[i]);
    observed[2] = InterlockedPopEntrySList(&slist) == (ULONG)entries[2];
    observed[3] = ((ULONG)slist.depth << 16) | slist.sequence;
    observed[4] = InterlockedFlushSList(&slist) == (ULONG)entries[1];
    observed[5] = ((ULONG)slist.depth << 16) | slist.sequence;

    /* A DPC: its routine is guest code. */
    KeInitializeDpc(&dpc, (void *)deferred, (void *)0x1234);
    observed[8] = KeInsertQueueDpc(&dpc, 5, 6);
    observed[12] = KeRemoveQueueDpc(&dpc);

    /* A user APC on this thread, delivered by the next alertable wait. */
    void *self;
    __asm__("lwz %0, 0x100(13)" : "=r"(self));
    KeInitializeApc(&apc, self, (void *)kernel_routine, NULL, (void *)normal_routine, 1,
                    (void *)5);
    observed[13] = KeInsertQueueApc(&apc, 3, 4, 0);
    observed[14] = KeDelayExecutionThread(1, 1, &delay);
    observed[15] = switched_sp(self) == (ULONG)&alt_stack[192];
    return 0;
}
