/*
 * The loader exports and the kernel's variables from real PowerPC code: the
 * title finds its own module (through XexExecutableModuleHandle and
 * XexGetModuleHandle), reads its XEX header, asks the config and the process
 * type, reads kernel variables through variable imports, and calls a kernel
 * export through the address XexGetProcedureAddress hands out. Each check
 * that fails sets one bit of the exit code; 0 means every answer was right.
 */
#include "xboxkrnl.h"

X360K_GUEST("loader", "loader exports, config and kernel variables from guest code", "finished");

X360K_IMPORT_VARIABLE(0x158, XboxKrnlVersion);
X360K_IMPORT_VARIABLE(0x193, XexExecutableModuleHandle);
X360K_IMPORT_VARIABLE(0xAD, KeTimeStampBundle);
X360K_IMPORT_VARIABLE(0x1AE, ExLoadedCommandLine);
X360K_IMPORT_VARIABLE(0x156, XboxHardwareInfo);

ULONG _start(void);

typedef NTSTATUS (*CreateEvent)(HANDLE *, OBJECT_ATTRIBUTES *, ULONG, BOOLEAN);

ULONG _start(void)
{
    ULONG failed = 0, title = 0, kernel = 0, language = 0;
    USHORT size = 0;
    void *found = NULL;
    CreateEvent create = NULL;
    HANDLE event = 0;

    if (XexGetModuleHandle(NULL, &title) != STATUS_SUCCESS || !title)
        failed |= 1 << 0;
    if (*(ULONG *)XexExecutableModuleHandle != title)
        failed |= 1 << 1;
    void *header = (void *)((ULONG *)title)[0x58 / 4]; /* LDR_DATA_TABLE_ENTRY.xex_header_base */
    if (RtlImageXexHeaderField(header, 0x00010100) != (ULONG)_start) /* the entry point */
        failed |= 1 << 2;
    if (((USHORT *)XboxKrnlVersion)[2] != 1888)
        failed |= 1 << 3;
    if (ExGetXConfigSetting(3, 9, &language, 4, &size) != STATUS_SUCCESS || language != 1 || size != 4)
        failed |= 1 << 4;
    if (KeGetCurrentProcessType() != 1 || HalGetCurrentAVPack() != 4)
        failed |= 1 << 5;
    if (XexGetModuleHandle("xboxkrnl.exe", &kernel) != STATUS_SUCCESS || kernel == title)
        failed |= 1 << 6;
    if (XexGetProcedureAddress((void *)kernel, 0x158, (ULONG *)&found) != STATUS_SUCCESS || found != XboxKrnlVersion)
        failed |= 1 << 7;
    if (XexGetProcedureAddress((void *)kernel, 209, (ULONG *)&create) != STATUS_SUCCESS
        || create(&event, NULL, NotificationEvent, 1) != STATUS_SUCCESS || NtClose(event) != STATUS_SUCCESS)
        failed |= 1 << 8;
    /* The bundle's interrupt time: the virtual clock has moved by now. */
    if (((ULONG *)KeTimeStampBundle)[0] == 0 && ((ULONG *)KeTimeStampBundle)[1] == 0)
        failed |= 1 << 9;
    if (((char *)ExLoadedCommandLine)[0] != '"' || ((UCHAR *)XboxHardwareInfo)[4] != 6)
        failed |= 1 << 10;
    if (XexCheckExecutablePrivilege(6) != 0)
        failed |= 1 << 11;
    return failed;
}
