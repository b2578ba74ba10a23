/*
 * Reads game:\data.txt in 64-byte pieces until end of file and exits with
 * the FNV-1a hash of its bytes (the test computes the same on the host).
 */
#include "xboxkrnl.h"

X360K_GUEST("file_reader", "read a title file in pieces and hash it", "finished");

static UCHAR buffer[64];

ULONG _start(void)
{
    ANSI_STRING name;
    OBJECT_ATTRIBUTES attributes;
    IO_STATUS_BLOCK iosb;
    HANDLE file;
    ULONG hash = 2166136261u;
    x360k_init_ansi(&name, "game:\\data.txt");
    x360k_init_attributes(&attributes, &name);
    NTSTATUS status = NtOpenFile(&file, GENERIC_READ | SYNCHRONIZE, &attributes, &iosb,
                                 FILE_SYNCHRONOUS_IO_NONALERT);
    if (!NT_SUCCESS(status)) return 1;
    for (;;) {
        status = NtReadFile(file, 0, NULL, NULL, &iosb, buffer, sizeof buffer, NULL);
        if (status == STATUS_END_OF_FILE) break;
        if (!NT_SUCCESS(status)) return 2;
        for (ULONG i = 0; i < iosb.Information; i++) hash = (hash ^ buffer[i]) * 16777619u;
        if (iosb.Information < sizeof buffer) break;
    }
    NtClose(file);
    return hash;
}
