"""ExGetXConfigSetting / ExSetXConfigSetting: the console's configuration, as data.

The console keeps its settings in categories (secured, user, console, ...),
each setting a fixed number of bytes. x360k's default console is a retail
US/Canada machine with English as its language; the table below names every
setting x360k answers for, its size and its default bytes (big-endian words).
Layout and sizes follow the community's XConfig documentation (free60,
xkelib's xconfig header); the values for the settings canary knows are
canary's.

Canary (quirk ``xconfig_few_settings``) knows only the secured AV region and
eleven user settings (time zone, language, video and retail flags, country);
any other setting of those categories is STATUS_INVALID_PARAMETER_2, any
other category STATUS_INVALID_PARAMETER_1. It also reports a required size
of 0 when the buffer is too small (quirk ``xconfig_too_small_size_zero``)
and has no ExSetXConfigSetting at all (quirk ``xconfig_set_missing``: the
call returns with r3 still holding its first argument and nothing stored).
The console answers every setting in the table, reports the size a refused
buffer needed, and lets a title change its user settings (the secured,
static and statistic categories are the system's: STATUS_ACCESS_DENIED).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from x360k.exports.registry import ExportGroup, Param
from x360k.exports.registry import P as K
from x360k.status import (
    STATUS_ACCESS_DENIED,
    STATUS_BUFFER_TOO_SMALL,
    STATUS_INVALID_PARAMETER,
    STATUS_INVALID_PARAMETER_1,
    STATUS_INVALID_PARAMETER_2,
    STATUS_INVALID_PARAMETER_3,
    STATUS_SUCCESS,
)

if TYPE_CHECKING:
    from x360k.kernel_state import KernelState
    from x360k.objects.thread import Thread

GROUP = ExportGroup("xconfig")
EXT_KEY: Final = "xconfig"

STATIC: Final = 0x0
STATISTIC: Final = 0x1
SECURED: Final = 0x2
USER: Final = 0x3
CONSOLE: Final = 0x7
SYSTEM: Final = 0xA
#: Categories only the system writes.
READ_ONLY_CATEGORIES: Final = frozenset({STATIC, STATISTIC, SECURED})

#: The default console's language (English) and country (United States, 103).
LANGUAGE_ENGLISH: Final = 1
COUNTRY_US: Final = 103
AV_REGION_NTSC_US: Final = 0x00001000
GAME_REGION_NA: Final = 0x00FF
VIDEO_FLAGS: Final = 0x00040000


@dataclass(frozen=True, slots=True)
class Setting:
    category: int
    setting: int
    name: str
    size: int
    default: bytes
    #: Canary answers it (the few settings xboxkrnl_xconfig.cc has).
    canary: bool = False


def _u32(value: int) -> bytes:
    return struct.pack(">I", value)


def _zero(size: int) -> bytes:
    return bytes(size)


def _s(cat: int, num: int, name: str, size: int, default: bytes | None = None, *,
       canary: bool = False) -> Setting:  # fmt: skip
    return Setting(cat, num, name, size, _zero(size) if default is None else default, canary)


#: x360k's default console configuration.
SETTINGS: Final[tuple[Setting, ...]] = (
    _s(SECURED, 0x1, "MAC_ADDRESS", 6, bytes.fromhex("00225f000001")),
    _s(SECURED, 0x2, "AV_REGION", 4, _u32(AV_REGION_NTSC_US), canary=True),
    _s(SECURED, 0x3, "GAME_REGION", 2, struct.pack(">H", GAME_REGION_NA)),
    _s(SECURED, 0x4, "DVD_REGION", 4, _u32(1)),
    _s(SECURED, 0x5, "RESET_KEY", 4),
    _s(SECURED, 0x6, "SYSTEM_FLAGS", 4),
    _s(SECURED, 0x7, "POWER_MODE", 2),
    _s(SECURED, 0x8, "ONLINE_NETWORK_ID", 4),
    _s(SECURED, 0x9, "POWER_VCS_CONTROL", 2),
    _s(USER, 0x1, "TIME_ZONE_BIAS", 4, canary=True),
    _s(USER, 0x2, "TIME_ZONE_STD_NAME", 4, canary=True),
    _s(USER, 0x3, "TIME_ZONE_DLT_NAME", 4, canary=True),
    _s(USER, 0x4, "TIME_ZONE_STD_DATE", 4, canary=True),
    _s(USER, 0x5, "TIME_ZONE_DLT_DATE", 4, canary=True),
    _s(USER, 0x6, "TIME_ZONE_STD_BIAS", 4, canary=True),
    _s(USER, 0x7, "TIME_ZONE_DLT_BIAS", 4, canary=True),
    _s(USER, 0x8, "DEFAULT_PROFILE", 8),
    _s(USER, 0x9, "LANGUAGE", 4, _u32(LANGUAGE_ENGLISH), canary=True),
    _s(USER, 0xA, "VIDEO_FLAGS", 4, _u32(VIDEO_FLAGS), canary=True),
    _s(USER, 0xB, "AUDIO_FLAGS", 4),
    _s(USER, 0xC, "RETAIL_FLAGS", 4, canary=True),
    _s(USER, 0xD, "DEVKIT_FLAGS", 4),
    _s(USER, 0xE, "COUNTRY", 1, bytes([COUNTRY_US]), canary=True),
    _s(USER, 0xF, "PC_FLAGS", 1),
    _s(USER, 0x10, "SMB_CONFIG", 256),
    _s(USER, 0x11, "LIVE_PUID", 8),
    _s(USER, 0x12, "LIVE_CREDENTIALS", 16),
    _s(USER, 0x13, "AV_COMPOSITE_SCREENSZ", 4),
    _s(USER, 0x14, "AV_COMPONENT_SCREENSZ", 4),
    _s(USER, 0x15, "AV_VGA_SCREENSZ", 4),
    _s(USER, 0x16, "PC_GAME", 4),
    _s(USER, 0x17, "PC_PASSWORD", 4),
    _s(USER, 0x18, "PC_MOVIE", 4),
    _s(USER, 0x19, "PC_GAME_RATING", 4),
    _s(USER, 0x1A, "PC_MOVIE_RATING", 4),
    _s(USER, 0x1B, "PC_HINT", 1),
    _s(USER, 0x1C, "PC_HINT_ANSWER", 32),
    _s(USER, 0x1D, "PC_OVERRIDE", 32),
    _s(USER, 0x1E, "MUSIC_PLAYBACK_MODE", 4),
    _s(USER, 0x1F, "MUSIC_VOLUME", 4),
    _s(USER, 0x20, "MUSIC_FLAGS", 4),
    _s(USER, 0x21, "ARCADE_FLAGS", 4),
    _s(CONSOLE, 0x1, "SCREEN_SAVER", 2),
    _s(CONSOLE, 0x2, "AUTO_SHUT_OFF", 2),
    _s(CONSOLE, 0x4, "CAMERA_SETTINGS", 4),
    _s(CONSOLE, 0x6, "MEDIA_DISABLEAUTOLAUNCH", 2),
    _s(CONSOLE, 0x7, "KEYBOARD_LAYOUT", 2),
    _s(CONSOLE, 0xB, "RETAIL_EX_FLAGS", 4),
    _s(SYSTEM, 0x1, "ALARM_TIME", 8),
    _s(SYSTEM, 0x2, "PREVIOUS_FLASH_VERSION", 4),
)
BY_KEY: Final[dict[tuple[int, int], Setting]] = {(s.category, s.setting): s for s in SETTINGS}
#: Every category x360k's console has (0x0 .. 0xB).
CATEGORY_COUNT: Final = 0xC
CANARY_CATEGORIES: Final = frozenset({SECURED, USER})


def _lookup(k: KernelState, category: int, setting: int) -> Setting | int:
    """The setting, or the status that refuses the pair (canary's set or the console's)."""
    if k.quirks.xconfig_few_settings:
        if category not in CANARY_CATEGORIES:
            return STATUS_INVALID_PARAMETER_1
        found = BY_KEY.get((category, setting))
        return found if found is not None and found.canary else STATUS_INVALID_PARAMETER_2
    if category >= CATEGORY_COUNT:
        return STATUS_INVALID_PARAMETER_1
    found = BY_KEY.get((category, setting))
    return found if found is not None else STATUS_INVALID_PARAMETER_2


def _stored(k: KernelState) -> dict[tuple[int, int], bytes]:
    """Settings a title has changed (console profile), over the defaults."""
    store = k.ext.get(EXT_KEY)
    if not isinstance(store, dict):
        store = {}
        k.ext[EXT_KEY] = store
    return store


@GROUP.export(
    "ExGetXConfigSetting",
    0x10,
    Param("category", K.U32),
    Param("setting", K.U32),
    Param("buffer", K.BUFFER, optional=True),
    Param("buffer_size", K.U32),
    Param("required_size", K.PTR, optional=True),
)
def ex_get_xconfig_setting(
    k: KernelState, t: Thread, category: int, setting: int, buffer: int, size: int, required: int
) -> int:
    """Copy one setting into ``buffer`` and its size into ``*required_size`` (a u16)."""
    category, setting, size = category & 0xFFFF, setting & 0xFFFF, size & 0xFFFF
    mem = k.memory
    if required:
        mem.require(required, 2)
    found = _lookup(k, category, setting)
    if isinstance(found, int):
        if required:
            mem.write_u16(required, 0)
        return found
    needed = found.size
    status = STATUS_SUCCESS
    if buffer:
        if size < needed:
            status = STATUS_BUFFER_TOO_SMALL
        else:
            mem.require(buffer, needed)
            mem.write_bytes(buffer, _stored(k).get((category, setting), found.default))
    elif size:
        status = STATUS_INVALID_PARAMETER_3
    if required:
        report_zero = status != STATUS_SUCCESS and k.quirks.xconfig_too_small_size_zero
        mem.write_u16(required, 0 if report_zero else needed)
    return status


@GROUP.export(
    "ExSetXConfigSetting",
    0x18,
    Param("category", K.U32),
    Param("setting", K.U32),
    Param("buffer", K.BUFFER),
    Param("buffer_size", K.U32),
)
def ex_set_xconfig_setting(
    k: KernelState, t: Thread, category: int, setting: int, buffer: int, size: int
) -> int:
    """Change a user setting (console); canary has no such export (r3 keeps the category)."""
    if k.quirks.xconfig_set_missing:
        return category
    category, setting, size = category & 0xFFFF, setting & 0xFFFF, size & 0xFFFF
    found = _lookup(k, category, setting)
    if isinstance(found, int):
        return found
    if category in READ_ONLY_CATEGORIES:
        return STATUS_ACCESS_DENIED
    if size != found.size or not buffer:
        return STATUS_INVALID_PARAMETER
    _stored(k)[(category, setting)] = k.memory.read_bytes(buffer, size)
    return STATUS_SUCCESS
