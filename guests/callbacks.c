/*
 * Guest routines the kernel calls on its own, from real PowerPC code: the
 * graphics interrupt callback (one call per vertical blank), a periodic
 * timer's DPC, and an audio render client's callback. Each signals an event
 * after a few calls while the main thread waits on it, so the run only goes
 * on if the kernel really calls them. What each saw goes to observed[] for
 * the tests. Canary has no KeSetTimerEx (quirk ke_mutant_timer_missing): its
 * timer wait times out and the DPC never runs.
 */
#include "xboxkrnl.h"

X360K_GUEST("callbacks", "vsync callback, timer DPC and audio client callback run by the kernel",
            "finished");

typedef struct { ULONG words[7]; } KDPC;
typedef struct { ULONG words[10]; } KTIMER;

/* Vblanks before the callback signals (a test pokes a huge value to see the run wedge). */
volatile ULONG vsync_calls = 5;
#define DPC_CALLS 3
#define AUDIO_CALLS 12

/* What each step saw; the tests read this array after the run. */
volatile ULONG observed[16];
static HANDLE done;
static volatile ULONG vsyncs, dpcs, audio_calls, audio_driver;
static KDPC dpc;
static KTIMER timer;
static ULONG frame[256 * 6];
static ULONG client[2];

static ULONG irql(void)
{
    ULONG value;
    __asm__ volatile("lbz %0, 0x18(13)" : "=r"(value));
    return value;
}

static void vsync(ULONG source, void *user_data)
{
    vsyncs++;
    observed[1] = (source == 0) + ((ULONG)user_data == 0x5678) * 2 + (irql() == 2) * 4;
    if (vsyncs == vsync_calls) NtSetEvent(done, NULL);
}

static void deferred(KDPC *which, void *context, ULONG low, ULONG high)
{
    dpcs++;
    observed[5] = (which == &dpc) + ((ULONG)context == 0x1234) * 2 + (irql() == 2) * 4;
    observed[6] = high; /* the due time's high word: a system time since 1601 */
    observed[7] = low != 0;
    if (dpcs == DPC_CALLS) NtSetEvent(done, NULL);
}

static void audio(ULONG *argument)
{
    audio_calls++;
    observed[9] = *argument;
    XAudioSubmitRenderDriverFrame(audio_driver, frame);
    if (audio_calls == AUDIO_CALLS) NtSetEvent(done, NULL);
}

ULONG _start(void)
{
    NtCreateEvent(&done, NULL, 1, 0);

    /* Vertical blanks: the wait ends only once the callback has run vsync_calls times. */
    VdSetGraphicsInterruptCallback((void *)vsync, (void *)0x5678);
    observed[0] = NtWaitForSingleObjectEx(done, 1, 0, NULL);
    VdSetGraphicsInterruptCallback(NULL, NULL);
    observed[2] = vsyncs;

    /* A timer due now and every 5 ms, with a DPC; at most one second's wait. */
    LARGE_INTEGER second = {-10000000};
    KeInitializeTimerEx(&timer, 1);
    KeInitializeDpc(&dpc, (void *)deferred, (void *)0x1234);
    KeSetTimerEx(&timer, 0, 5, &dpc);
    observed[3] = NtWaitForSingleObjectEx(done, 1, 0, &second);
    KeCancelTimer(&timer);
    observed[4] = dpcs;

    /* An audio client: 8 frames wanted at once, then one each time a frame has played. */
    client[0] = (ULONG)audio;
    client[1] = 0xA0D10;
    observed[8] = XAudioRegisterRenderDriverClient(client, (ULONG *)&audio_driver);
    observed[10] = NtWaitForSingleObjectEx(done, 1, 0, NULL);
    XAudioUnregisterRenderDriverClient(audio_driver);
    observed[11] = audio_calls;
    NtClose(done);
    return 0;
}
