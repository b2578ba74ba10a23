"""ExGetXConfigSetting / ExSetXConfigSetting under both profiles."""

from __future__ import annotations

import pytest

from x360k.exports.xconfig import SECURED, SETTINGS, USER
from x360k.kernel import Kernel
from x360k.quirks import PROFILES, Profile
from x360k.status import (
    STATUS_ACCESS_DENIED,
    STATUS_ACCESS_VIOLATION,
    STATUS_BUFFER_TOO_SMALL,
    STATUS_INVALID_PARAMETER,
    STATUS_INVALID_PARAMETER_1,
    STATUS_INVALID_PARAMETER_2,
    STATUS_INVALID_PARAMETER_3,
    STATUS_SUCCESS,
)

from .rtlkit import UNMAPPED


def get(k: Kernel, category: int, setting: int, size: int = 16) -> tuple[int, bytes, int]:
    """(status, the buffer's first ``size`` bytes, required size)."""
    buf, required = k.memory.alloc(max(size, 1), 4), k.memory.alloc(2, 2)
    k.memory.write_u16(required, 0xEEEE)
    status = k.call("ExGetXConfigSetting", category, setting, buf, size, required)
    return status, k.memory.read_bytes(buf, size), k.memory.read_u16(required)


@pytest.mark.parametrize("profile", PROFILES)
def test_the_settings_canary_knows(profile: Profile) -> None:
    k = Kernel(profile)
    assert get(k, SECURED, 2, 4) == (STATUS_SUCCESS, b"\x00\x00\x10\x00", 4)  # AV region
    assert get(k, USER, 9, 4) == (STATUS_SUCCESS, b"\x00\x00\x00\x01", 4)  # English
    assert get(k, USER, 0xA, 4) == (STATUS_SUCCESS, b"\x00\x04\x00\x00", 4)  # video flags
    assert get(k, USER, 0xE, 1) == (STATUS_SUCCESS, bytes([103]), 1)  # United States
    # No buffer and no size: just the size.
    required = k.memory.alloc(2, 2)
    assert k.call("ExGetXConfigSetting", USER, 9, 0, 0, required) == STATUS_SUCCESS
    assert k.memory.read_u16(required) == 4
    assert k.call("ExGetXConfigSetting", USER, 9, 0, 0, 0) == STATUS_SUCCESS
    assert k.call("ExGetXConfigSetting", USER, 9, UNMAPPED, 4, 0) == STATUS_ACCESS_VIOLATION
    assert k.call("ExGetXConfigSetting", USER, 9, 0, 0, UNMAPPED) == STATUS_ACCESS_VIOLATION


@pytest.mark.parametrize("profile", PROFILES)
def test_settings_outside_canarys_few(profile: Profile) -> None:
    k = Kernel(profile)
    mac = get(k, SECURED, 1, 6)
    game_region = get(k, SECURED, 3, 2)
    console = get(k, 7, 2, 2)  # console category: auto shut-off
    if profile == "canary":
        assert mac[0] == game_region[0] == STATUS_INVALID_PARAMETER_2
        assert mac[2] == 0
        assert console[0] == STATUS_INVALID_PARAMETER_1
    else:
        assert mac[0] == STATUS_SUCCESS and mac[2] == 6
        assert game_region == (STATUS_SUCCESS, b"\x00\xff", 2)
        assert console == (STATUS_SUCCESS, b"\x00\x00", 2)
    assert get(k, USER, 0x7F)[0] == STATUS_INVALID_PARAMETER_2
    assert get(k, 0x40, 1)[0] == STATUS_INVALID_PARAMETER_1


@pytest.mark.parametrize("profile", PROFILES)
def test_a_refused_buffer_reports_a_size_per_profile(profile: Profile) -> None:
    k = Kernel(profile)
    expected = 0 if profile == "canary" else 4
    assert get(k, USER, 9, 2) == (STATUS_BUFFER_TOO_SMALL, b"\0\0", expected)
    required = k.memory.alloc(2, 2)
    status = k.call("ExGetXConfigSetting", USER, 9, 0, 4, required)
    assert status == STATUS_INVALID_PARAMETER_3
    assert k.memory.read_u16(required) == expected


def test_every_documented_setting_answers_with_its_size_on_the_console() -> None:
    k = Kernel("console")
    for s in SETTINGS:
        status, data, size = get(k, s.category, s.setting, s.size)
        assert (status, size) == (STATUS_SUCCESS, s.size), s.name
        assert data == s.default, s.name


def test_set_is_missing_under_canary() -> None:
    k = Kernel("canary")
    buf = k.memory.alloc(4)
    k.memory.write_u32(buf, 2)
    assert k.call("ExSetXConfigSetting", USER, 9, buf, 4) == USER  # r3 untouched: category
    assert get(k, USER, 9, 4)[1] == b"\x00\x00\x00\x01"  # nothing stored


def test_set_stores_user_settings_on_the_console() -> None:
    k = Kernel("console")
    buf = k.memory.alloc(4)
    k.memory.write_u32(buf, 2)  # Japanese
    assert k.call("ExSetXConfigSetting", USER, 9, buf, 4) == STATUS_SUCCESS
    assert get(k, USER, 9, 4) == (STATUS_SUCCESS, b"\x00\x00\x00\x02", 4)
    assert k.call("ExSetXConfigSetting", USER, 9, buf, 2) == STATUS_INVALID_PARAMETER
    assert k.call("ExSetXConfigSetting", SECURED, 2, buf, 4) == STATUS_ACCESS_DENIED
    assert k.call("ExSetXConfigSetting", USER, 0x7F, buf, 4) == STATUS_INVALID_PARAMETER_2
    assert k.call("ExSetXConfigSetting", USER, 9, UNMAPPED, 4) == STATUS_ACCESS_VIOLATION
    assert get(Kernel("console"), USER, 9, 4)[1] == b"\x00\x00\x00\x01"  # per kernel
