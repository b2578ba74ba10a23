"""NTSTATUS names and values."""

from __future__ import annotations

import pytest

from x360k.status import (
    STATUS_INVALID_HANDLE,
    STATUS_OBJECT_NAME_EXISTS,
    nt_success,
    parse_status,
    status_name,
)


@pytest.mark.parametrize(
    ("value", "ok"),
    [(0, True), (0x102, True), (0x40000000, True), (0x80000005, False), (0xC0000008, False)],
)
def test_nt_success(value: int, ok: bool) -> None:
    assert nt_success(value) is ok


def test_names_both_ways() -> None:
    assert status_name(STATUS_INVALID_HANDLE) == "STATUS_INVALID_HANDLE"
    assert status_name(0) == "STATUS_SUCCESS"
    assert status_name(3) == "STATUS_WAIT_3"
    assert status_name(0x83) == "STATUS_ABANDONED_WAIT_3"
    assert parse_status("object_name_exists") == STATUS_OBJECT_NAME_EXISTS
    assert parse_status("STATUS_WAIT_2") == 2
    assert parse_status("0xC0000008") == STATUS_INVALID_HANDLE
    with pytest.raises(KeyError):
        parse_status("STATUS_NOPE")
