/*
 * Compute only, no kernel calls: an xorshift generator folded into a small
 * table, `rounds` times. Benchmarks patch `rounds` to run longer.
 */
#include "xboxkrnl.h"

X360K_GUEST("compute", "integer work with no kernel calls", "finished");

volatile ULONG rounds = 20000;
static ULONG table[256];

ULONG _start(void)
{
    ULONG x = 2463534242u, sum = 0;
    ULONG n = rounds;
    for (ULONG i = 0; i < n; i++) {
        for (ULONG j = 0; j < 16; j++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            table[x & 255] += x >> 8;
        }
        sum += table[i & 255];
    }
    return sum;
}
