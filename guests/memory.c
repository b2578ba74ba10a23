/*
 * Exercises the memory manager from real code: reserve, commit part, touch,
 * query, protect, physical memory, a pool block, decommit and release.
 * Returns 0x600D when every step answered as expected, else the failing step.
 * `write_readonly` (patched by tests) stores into the page it made read-only
 * after all checks, which must fault.
 */
#include "xboxkrnl.h"

X360K_GUEST("memory", "allocates, touches, queries, protects and frees memory", "finished");

/*
 * The memory imports under names of their own (the ordinal is what the kernel
 * sees), so this guest builds whether or not guests/xboxkrnl.h lists them yet:
 * regenerating that header changes every committed guest binary.
 */
X360K_IMPORT(204, k_NtAllocateVirtualMemory)
NTSTATUS k_NtAllocateVirtualMemory(ULONG *base, ULONG *size, ULONG type, ULONG protect, BOOLEAN debug);
X360K_IMPORT(220, k_NtFreeVirtualMemory)
NTSTATUS k_NtFreeVirtualMemory(ULONG *base, ULONG *size, ULONG type, BOOLEAN debug);
X360K_IMPORT(238, k_NtQueryVirtualMemory)
NTSTATUS k_NtQueryVirtualMemory(ULONG base, void *info, ULONG region_type);
X360K_IMPORT(225, k_NtProtectVirtualMemory)
NTSTATUS k_NtProtectVirtualMemory(ULONG *base, ULONG *size, ULONG protect, ULONG *old, BOOLEAN debug);
X360K_IMPORT(196, k_MmQueryAddressProtect)
ULONG k_MmQueryAddressProtect(ULONG address);
X360K_IMPORT(186, k_MmAllocatePhysicalMemoryEx)
ULONG k_MmAllocatePhysicalMemoryEx(ULONG flags, ULONG size, ULONG protect, ULONG low, ULONG high, ULONG align);
X360K_IMPORT(190, k_MmGetPhysicalAddress)
ULONG k_MmGetPhysicalAddress(ULONG address);
X360K_IMPORT(189, k_MmFreePhysicalMemory)
void k_MmFreePhysicalMemory(ULONG type, ULONG address);
X360K_IMPORT(10, k_ExAllocatePoolWithTag)
ULONG k_ExAllocatePoolWithTag(ULONG size, ULONG tag);
X360K_IMPORT(15, k_ExFreePool)
void k_ExFreePool(ULONG block);

#define MEM_COMMIT 0x1000
#define MEM_RESERVE 0x2000
#define MEM_DECOMMIT 0x4000
#define MEM_RELEASE 0x8000
#define MEM_FREE 0x10000
#define MEM_LARGE_PAGES 0x20000000
#define PAGE_READONLY 0x02
#define PAGE_READWRITE 0x04

typedef struct {
    ULONG BaseAddress, AllocationBase, AllocationProtect, RegionSize, State, Protect, Type;
} MEMORY_BASIC_INFORMATION;

volatile ULONG write_readonly = 0;

ULONG _start(void)
{
    MEMORY_BASIC_INFORMATION mbi;
    ULONG base = 0, size = 0x30000;
    if (k_NtAllocateVirtualMemory(&base, &size, MEM_RESERVE, PAGE_READWRITE, 0) != 0 || size != 0x30000)
        return 1;
    ULONG commit = base + 0x10000, commit_size = 0x10000;
    if (k_NtAllocateVirtualMemory(&commit, &commit_size, MEM_COMMIT, PAGE_READWRITE, 0) != 0)
        return 2;

    volatile ULONG *words = (volatile ULONG *)commit;
    ULONG sum = 0;
    for (ULONG i = 0; i < 0x4000; i++) {
        if (words[i] != 0)
            return 3; /* committed memory starts zeroed */
        words[i] = i * 2654435761u;
    }
    for (ULONG i = 0; i < 0x4000; i++)
        sum += words[i] ^ (i * 2654435761u);
    if (sum != 0)
        return 4;

    if (k_NtQueryVirtualMemory(commit, &mbi, 0) != 0 || mbi.State != MEM_COMMIT ||
        mbi.RegionSize != 0x10000 || mbi.AllocationBase != base)
        return 5;
    if (k_NtQueryVirtualMemory(base, &mbi, 0) != 0 || mbi.State != MEM_RESERVE || mbi.RegionSize != 0x10000)
        return 6;

    ULONG pbase = commit, psize = 0x1000, old = 0;
    if (k_NtProtectVirtualMemory(&pbase, &psize, PAGE_READONLY, &old, 0) != 0 || old != PAGE_READWRITE)
        return 7;
    if (k_MmQueryAddressProtect(commit) != PAGE_READONLY || words[1] != 2654435761u)
        return 8;

    ULONG phys = k_MmAllocatePhysicalMemoryEx(0, 0x10000, PAGE_READWRITE | MEM_LARGE_PAGES, 0, 0xFFFFFFFF, 0);
    if (phys < 0xA0000000 || phys >= 0xC0000000 || k_MmGetPhysicalAddress(phys) != phys - 0xA0000000)
        return 9;
    ((volatile ULONG *)phys)[0x3FFF] = 0x12345678;
    k_MmFreePhysicalMemory(0, phys);

    ULONG pool = k_ExAllocatePoolWithTag(64, 0x7833366B);
    if (pool == 0)
        return 10;
    ((volatile ULONG *)pool)[15] = 1;
    k_ExFreePool(pool);

    ULONG dbase = commit + 0x1000, dsize = 0x1000;
    if (k_NtFreeVirtualMemory(&dbase, &dsize, MEM_DECOMMIT, 0) != 0)
        return 11;
    if (k_NtQueryVirtualMemory(commit + 0x1000, &mbi, 0) != 0 || mbi.State != MEM_RESERVE)
        return 12;

    if (write_readonly)
        words[0] = 1; /* a store into the read-only page: the CPU faults here */

    ULONG fbase = base, fsize = 0;
    if (k_NtFreeVirtualMemory(&fbase, &fsize, MEM_RELEASE, 0) != 0 || fsize != 0x30000)
        return 13;
    if (k_NtQueryVirtualMemory(base, &mbi, 0) != 0 || mbi.State != MEM_FREE)
        return 14;
    return 0x600D;
}
