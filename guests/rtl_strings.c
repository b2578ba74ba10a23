/*
 * Rtl strings from real PowerPC code: counted-string records built, widened,
 * narrowed, compared, copied and appended by the kernel, the sprintf family
 * formatting into guest buffers, and DbgPrint. Each check that fails returns
 * its own number, so a wrong answer names the call that gave it; 0 means
 * every answer was the one the kernel documents. Built in the guest's own
 * buffers except one AllocateDestinationString round trip, freed again.
 *
 * Where canary answers differently on purpose (a named quirk), the guest
 * notes it in a bit above the check numbers and goes on, the way a title
 * that survives on canary must: bit 8 is unicode_to_ansi_keeps_length
 * (RtlUnicodeStringToAnsiString leaves the destination's Length alone).
 */
#include "xboxkrnl.h"

X360K_GUEST("rtl_strings", "Rtl strings and the sprintf family from guest code", "finished");

static const char hello[] = "Hello, Xbox";
static const USHORT wide_word[] = {'W', 'i', 'd', 'e', 0};
static USHORT wide_buffer[32];
static char narrow_buffer[32];
static char small_buffer[6];
static char append_buffer[32];
static char text[64];

static int same_bytes(const char *a, const char *b, ULONG n)
{
    for (ULONG i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

ULONG _start(void)
{
    ANSI_STRING a, narrow, upper, small, appended;
    UNICODE_STRING w, wide, allocated;
    ULONG written, quirks = 0;

    /* RtlInitAnsiString counts the bytes before the NUL and keeps the pointer. */
    RtlInitAnsiString(&a, (void *)hello);
    if (a.Length != 11 || a.MaximumLength != 12 || a.Buffer != hello) return 1;
    RtlInitUnicodeString(&w, (void *)wide_word);
    if (w.Length != 8 || w.MaximumLength != 10 || w.Buffer != wide_word) return 2;

    /* Widen into a buffer of ours, then narrow it back: the same bytes. */
    wide.Length = 0;
    wide.MaximumLength = sizeof wide_buffer;
    wide.Buffer = wide_buffer;
    if (RtlAnsiStringToUnicodeString(&wide, &a, 0) != STATUS_SUCCESS) return 3;
    if (wide.Length != 22 || wide_buffer[0] != 'H' || wide_buffer[10] != 'x') return 4;
    narrow.Length = 0;
    narrow.MaximumLength = sizeof narrow_buffer;
    narrow.Buffer = narrow_buffer;
    if (RtlUnicodeStringToAnsiString(&narrow, &wide, 0) != STATUS_SUCCESS) return 5;
    if (narrow.Length == 0) {
        quirks |= 0x100;
        narrow.Length = 11;
    }
    if (narrow.Length != 11 || !same_bytes(narrow_buffer, hello, 11)) return 6;
    if (RtlCompareString(&a, &narrow, 0) != 0) return 7;

    /* A kernel-allocated destination, handed back with RtlFreeUnicodeString. */
    if (RtlAnsiStringToUnicodeString(&allocated, &a, 1) != STATUS_SUCCESS) return 8;
    if (allocated.Length != 22 || allocated.Buffer == NULL || allocated.Buffer[4] != 'o') return 9;
    RtlFreeUnicodeString(&allocated);
    if (allocated.Buffer != NULL || allocated.Length != 0) return 10;

    /* Case: insensitive compares equal, sensitive sorts 'H' before 'h'. */
    RtlInitAnsiString(&upper, "HELLO, XBOX");
    if (RtlCompareString(&a, &upper, 1) != 0) return 11;
    if ((LONG)RtlCompareString(&upper, &a, 0) >= 0) return 12;
    if (RtlUpcaseUnicodeChar('q') != 'Q' || RtlUpperChar('z') != 'Z') return 13;

    /* RtlCopyString stops at the destination's MaximumLength. */
    small.Length = 0;
    small.MaximumLength = sizeof small_buffer;
    small.Buffer = small_buffer;
    RtlCopyString(&small, &a);
    if (small.Length != 6 || !same_bytes(small_buffer, "Hello,", 6)) return 14;

    /* Appending, and refusing what would not fit. */
    appended.Length = 0;
    appended.MaximumLength = 16;
    appended.Buffer = append_buffer;
    RtlCopyString(&appended, &upper);
    if (RtlAppendStringToString(&appended, &small) != STATUS_BUFFER_TOO_SMALL) return 15;
    if (appended.Length != 11) return 16;

    /* The N-suffixed conversions report what they wrote. */
    written = 0;
    if (RtlMultiByteToUnicodeN(wide_buffer, 8, &written, (void *)hello, 11) != STATUS_SUCCESS) return 17;
    if (written != 8 || wide_buffer[3] != 'l') return 18;
    written = 0;
    if (RtlUnicodeToMultiByteN(narrow_buffer, 32, &written, (void *)wide_word, 8) != STATUS_SUCCESS) return 19;
    if (written != 4 || !same_bytes(narrow_buffer, "Wide", 4)) return 20;

    /* sprintf writes the text and a NUL and returns the length without the NUL. */
    if (sprintf(text, "%s=%d/%08X", "n", -5, 0xBEEFu) != 13) return 21;
    if (!same_bytes(text, "n=-5/0000BEEF", 14)) return 22;
    DbgPrint("rtl_strings: %s, %u checks, quirks %03X\n", hello, 22u, quirks);
    return quirks;
}
