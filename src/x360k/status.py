"""NTSTATUS values used by xboxkrnl, with lookup in both directions.

Values are unsigned 32-bit, as they appear in r3 after truncation. A status
succeeds when its top bit is clear (``NT_SUCCESS``: the value is non-negative
as a signed 32-bit number), so informational 0x4xxxxxxx codes succeed and
0x8xxxxxxx warnings and 0xCxxxxxxx errors do not.
"""

from __future__ import annotations

from typing import Final

STATUS_SUCCESS: Final = 0x00000000
STATUS_WAIT_0: Final = 0x00000000
STATUS_ABANDONED_WAIT_0: Final = 0x00000080
STATUS_USER_APC: Final = 0x000000C0
STATUS_ALERTED: Final = 0x00000101
STATUS_TIMEOUT: Final = 0x00000102
STATUS_PENDING: Final = 0x00000103
STATUS_MORE_ENTRIES: Final = 0x00000105
STATUS_OBJECT_NAME_EXISTS: Final = 0x40000000
STATUS_NO_YIELD_PERFORMED: Final = 0x40000024
STATUS_TIMER_RESUME_IGNORED: Final = 0x40000025
STATUS_BUFFER_OVERFLOW: Final = 0x80000005
STATUS_NO_MORE_FILES: Final = 0x80000006
STATUS_NO_MORE_ENTRIES: Final = 0x8000001A
STATUS_UNSUCCESSFUL: Final = 0xC0000001
STATUS_NOT_IMPLEMENTED: Final = 0xC0000002
STATUS_INVALID_INFO_CLASS: Final = 0xC0000003
STATUS_INFO_LENGTH_MISMATCH: Final = 0xC0000004
STATUS_ACCESS_VIOLATION: Final = 0xC0000005
STATUS_INVALID_HANDLE: Final = 0xC0000008
STATUS_INVALID_PARAMETER: Final = 0xC000000D
STATUS_NO_SUCH_FILE: Final = 0xC000000F
STATUS_END_OF_FILE: Final = 0xC0000011
STATUS_NO_MEMORY: Final = 0xC0000017
STATUS_ACCESS_DENIED: Final = 0xC0000022
STATUS_BUFFER_TOO_SMALL: Final = 0xC0000023
STATUS_OBJECT_TYPE_MISMATCH: Final = 0xC0000024
STATUS_INVALID_PARAMETER_MIX: Final = 0xC0000030
STATUS_OBJECT_NAME_INVALID: Final = 0xC0000033
STATUS_OBJECT_NAME_NOT_FOUND: Final = 0xC0000034
STATUS_OBJECT_NAME_COLLISION: Final = 0xC0000035
STATUS_OBJECT_PATH_NOT_FOUND: Final = 0xC000003A
STATUS_OBJECT_PATH_SYNTAX_BAD: Final = 0xC000003B
STATUS_SHARING_VIOLATION: Final = 0xC0000043
STATUS_MUTANT_NOT_OWNED: Final = 0xC0000046
STATUS_SEMAPHORE_LIMIT_EXCEEDED: Final = 0xC0000047
STATUS_THREAD_IS_TERMINATING: Final = 0xC000004B
STATUS_INSUFFICIENT_RESOURCES: Final = 0xC000009A
STATUS_MEDIA_WRITE_PROTECTED: Final = 0xC00000A2
STATUS_INVALID_PARAMETER_1: Final = 0xC00000EF
STATUS_INVALID_PARAMETER_2: Final = 0xC00000F0
STATUS_INVALID_PARAMETER_3: Final = 0xC00000F1
STATUS_FILE_IS_A_DIRECTORY: Final = 0xC00000BA
STATUS_NOT_A_DIRECTORY: Final = 0xC0000103
STATUS_DIRECTORY_NOT_EMPTY: Final = 0xC0000101
STATUS_OBJECT_NAME_TOO_LONG: Final = 0xC0000106
STATUS_MUTANT_LIMIT_EXCEEDED: Final = 0xC0000191
STATUS_CONFLICTING_ADDRESSES: Final = 0xC0000018
STATUS_NOT_COMMITTED: Final = 0xC000002D
STATUS_INVALID_PAGE_PROTECTION: Final = 0xC0000045
STATUS_FREE_VM_NOT_AT_BASE: Final = 0xC000009F
STATUS_MEMORY_NOT_ALLOCATED: Final = 0xC00000A0


def _collect() -> dict[str, int]:
    return {k: v for k, v in globals().items() if k.startswith("STATUS_") and isinstance(v, int)}


#: Every name above mapped to its value (STATUS_WAIT_0 and STATUS_SUCCESS share 0).
BY_NAME: Final[dict[str, int]] = _collect()

#: Value -> preferred name. Where two names share a value the first declared wins,
#: except that 0 reads as STATUS_SUCCESS.
BY_VALUE: Final[dict[int, str]] = {}
for _name, _value in BY_NAME.items():
    BY_VALUE.setdefault(_value, _name)
del _name, _value


def nt_success(status: int) -> bool:
    """True for success and informational codes (top bit clear)."""
    return status & 0x80000000 == 0


def status_name(status: int) -> str:
    """A readable name for a status, including the WAIT_0+i and ABANDONED_WAIT_0+i families."""
    status &= 0xFFFFFFFF
    name = BY_VALUE.get(status)
    if name is not None:
        return name
    if 0 < status < 64:
        return f"STATUS_WAIT_{status}"
    if 0x80 < status < 0x80 + 64:
        return f"STATUS_ABANDONED_WAIT_{status - 0x80}"
    return f"0x{status:08X}"


def parse_status(text: str) -> int:
    """Read a status given as a name (with or without ``STATUS_``) or a number.

    Raises ``KeyError`` naming the text when it is neither.
    """
    t = text.strip()
    try:
        return int(t, 0) & 0xFFFFFFFF
    except ValueError:
        pass
    upper = t.upper()
    if not upper.startswith("STATUS_"):
        upper = "STATUS_" + upper
    if upper in BY_NAME:
        return BY_NAME[upper]
    for prefix, base in (("STATUS_WAIT_", 0), ("STATUS_ABANDONED_WAIT_", 0x80)):
        tail = upper.removeprefix(prefix)
        if tail != upper and tail.isdigit() and int(tail) < 64:
            return base + int(tail)
    raise KeyError(text)
