"""The sprintf family and DbgPrint: MSVC's printf over PowerPC varargs, output in the trace."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from x360k.exports.formatting import debug_output
from x360k.exports.printf_format import RegisterArgs
from x360k.kernel import Kernel
from x360k.quirks import PROFILES, Profile
from x360k.status import STATUS_ACCESS_VIOLATION, STATUS_INVALID_PARAMETER, STATUS_SUCCESS

from ..threadkit import World
from .rtlkit import UNMAPPED, cstr, double_bits, signed, wstr

FAILED = 0xFFFFFFFF


@pytest.fixture(params=PROFILES)
def k(request: pytest.FixtureRequest) -> Kernel:
    return Kernel(request.param)


def sprintf(k: Kernel, fmt: bytes, *args: int) -> tuple[int, bytes]:
    buf = k.memory.alloc(256, 1)
    n = k.call("sprintf", buf, cstr(k, fmt), *args)
    return signed(n), k.memory.read_cstring(buf)


def test_integers_and_flags(k: Kernel) -> None:
    assert sprintf(k, b"%d %i %u", 0xFFFFFFFF, 42, 0xFFFFFFFF) == (16, b"-1 42 4294967295")
    assert sprintf(k, b"[%5d|%-5d|%05d|%+d|% d]", 42, 42, -42, 7, 7)[1] == (
        b"[   42|42   |-0042|+7| 7]"
    )
    assert sprintf(k, b"%x %X %#x %#o %o", 255, 255, 255, 8, 0)[1] == b"ff FF 0xff 010 0"
    assert sprintf(k, b"%.3d|%.0d|%8.3x", 5, 0, 0xA)[1] == b"005||     00a"
    assert sprintf(k, b"%hd %hu", 0x18000, 0xFFFF)[1] == b"-32768 65535"
    assert sprintf(k, b"%*d|%-*d|%.*d", 4, 1, 3, 2, 2, 3)[1] == b"   1|2  |03"
    assert sprintf(k, b"%p %%", 0x82001234)[1] == b"82001234 %"


def test_64_bit_values_from_registers_and_the_stack(k: Kernel) -> None:
    big = 0xFFFFFFFFFFFFFFFE
    # r5 holds a whole 64-bit value; the ninth and tenth arguments come from the caller's
    # parameter save area (r1 + 0x50 + 8 * n).
    fmt = b"%lld %d %d %d %d %d %u %x"
    n, text = sprintf(k, fmt, big, 2, 3, 4, 5, 6, 7, 0x89)
    assert text == b"-2 2 3 4 5 6 7 89"
    assert n == len(text)


def test_64_bit_values_in_stack_slots(k: Kernel) -> None:
    t = k.main_thread
    sp = t.gpr[1] & 0xFFFFFFFF
    k.memory.write_u64(sp + 0x50, 0x123456789)
    k.memory.write_u64(sp + 0x58, double_bits(0.25))
    args = RegisterArgs(k.memory, t, 8)
    assert (args.next64(), args.next64()) == (0x123456789, double_bits(0.25))


def test_floats(k: Kernel) -> None:
    _, text = sprintf(k, b"%f %.2f %e %g %8.3f", *map(double_bits, (1.5, 3.14159, 1e-5, 0.5, 2)))
    assert text == b"1.500000 3.14 1.000000e-05 0.5    2.000"


def test_strings_and_chars(k: Kernel) -> None:
    s = cstr(k, b"name")
    assert sprintf(k, b"<%s|%6s|%-6s|%.2s|%c>", s, s, s, s, 0x41)[1] == b"<name|  name|name  |na|A>"
    assert sprintf(k, b"%s", 0)[1] == b"(null)"
    assert sprintf(k, b"%S|%ls|%ws", wstr(k, "wide"), wstr(k, "w2"), wstr(k, "w3"))[1] == (
        b"wide|w2|w3"
    )
    # A wide character the narrow output cannot hold fails the call.
    assert sprintf(k, b"%S", wstr(k, "\u4e2d"))[0] == -1


def test_percent_n_writes_the_count(k: Kernel) -> None:
    out = k.memory.alloc(4, 4)
    assert sprintf(k, b"abc%n!", out)[1] == b"abc!"
    assert k.memory.read_u32(out) == 3


def test_bad_pointers_never_raise(k: Kernel) -> None:
    buf = k.memory.alloc(16, 1)
    assert k.call("sprintf", buf, UNMAPPED) == STATUS_ACCESS_VIOLATION
    assert k.call("sprintf", buf, cstr(k, b"%s"), UNMAPPED) == STATUS_ACCESS_VIOLATION
    assert k.memory.read_bytes(buf, 1) == b"\0"
    assert k.call("sprintf", 0, cstr(k, b"x")) == FAILED
    assert k.call("_snprintf", buf, 0, cstr(k, b"x")) == FAILED
    # A width beyond any buffer is refused by the write, not allocated without bound.
    huge = k.call("sprintf", buf, cstr(k, b"%999999999d"), 1)
    assert huge == STATUS_ACCESS_VIOLATION


def test_snprintf_truncation(k: Kernel) -> None:
    buf = k.memory.alloc(16, 1)
    k.memory.fill(buf, 16, 0xEE)
    fmt = cstr(k, b"%s")
    assert k.call("_snprintf", buf, 4, fmt, cstr(k, b"abcd")) == 4
    assert k.memory.read_bytes(buf, 5) == b"abcd\xee"  # exact fit: no NUL
    assert k.call("_snprintf", buf, 3, fmt, cstr(k, b"wxyz")) == FAILED
    assert k.memory.read_bytes(buf, 4) == b"wxyd"
    assert k.call("_snprintf", buf, 8, fmt, cstr(k, b"ok")) == 2
    assert k.memory.read_bytes(buf, 3) == b"ok\0"


def _va_list(k: Kernel, *values: int) -> int:
    ap = k.memory.alloc(8 * len(values) + 8, 8)
    for i, v in enumerate(values):
        k.memory.write_u64(ap + 8 * i, v)
    return ap


@pytest.mark.parametrize("profile", PROFILES)
def test_va_list_functions(profile: Profile) -> None:
    k = Kernel(profile)
    buf = k.memory.alloc(64, 2)
    ap = _va_list(k, 7, cstr(k, b"seven"))
    assert k.call("vsprintf", buf, cstr(k, b"%d=%s"), ap) == 7
    assert k.memory.read_cstring(buf) == b"7=seven"
    n = k.call("_vsnprintf", buf, 3, cstr(k, b"%d=%s"), ap)
    assert n == (7 if profile == "canary" else FAILED)
    assert k.call("_vscprintf", cstr(k, b"%d=%s"), ap) == 7
    wap = _va_list(k, wstr(k, "wide"))
    assert k.call("vswprintf", buf, wstr(k, "<%s>"), wap) == 6
    assert k.memory.read_bytes(buf, 14) == "<wide>\0".encode("utf-16-be")
    assert k.call("_vscwprintf", wstr(k, "%s!"), wap) == 5
    assert k.call("_vsnwprintf", buf, 2, wstr(k, "%s"), wap) == (
        4 if profile == "canary" else FAILED
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_swprintf_percent_s(profile: Profile) -> None:
    k = Kernel(profile)
    buf = k.memory.alloc(64, 2)
    arg = cstr(k, b"ab") if profile == "canary" else wstr(k, "ab")
    assert k.call("swprintf", buf, wstr(k, "[%s]"), arg) == 4
    assert k.memory.read_bytes(buf, 10) == "[ab]\0".encode("utf-16-be")
    assert k.call("_snwprintf", buf, 8, wstr(k, "%hs%d"), cstr(k, b"x"), 5) == 2


@pytest.mark.parametrize("profile", PROFILES)
def test_dbgprint_output_is_a_marker_and_kept_for_the_run(profile: Profile) -> None:
    w = World(profile)
    status = w.k.call("DbgPrint", cstr(w.k, b"loaded %s in %d ms\n"), cstr(w.k, b"map1"), 12)
    assert status == STATUS_SUCCESS
    assert debug_output(w.k) == [(0, "loaded map1 in 12 ms")]
    events = w.rec.thread(0)
    marker = [e for e in events if e.kind == "marker"]
    assert [e.text for e in marker] == ["DbgPrint: loaded map1 in 12 ms"]
    kinds = [e.kind for e in events if e.kind != "marker" or e.text.startswith("DbgPrint")]
    assert kinds[-3:] == ["kernel.call", "marker", "kernel.return"]
    assert w.k.call("DbgPrint", 0) == STATUS_INVALID_PARAMETER


def test_formatting_output_is_on_the_return_event() -> None:
    w = World("console")
    buf = w.m.alloc(32, 1)
    w.k.call("sprintf", buf, cstr(w.k, b"slot %02d"), 3)
    ret = [e for e in w.rec.thread(0) if e.kind == "kernel.return"][-1]
    assert (ret.name, ret.text, ret.ret) == ("sprintf", "slot 03", 7)


@settings(max_examples=60, deadline=None)
@given(
    value=st.integers(-(2**31), 2**31 - 1),
    flags=st.sampled_from(["", "-", "+", " ", "0", "#"]),
    width=st.sampled_from(["", "1", "8", "12"]),
    precision=st.sampled_from(["", ".0", ".3", ".10"]),
    conv=st.sampled_from("dixXo"),
)
def test_integers_agree_with_c(
    value: int, flags: str, width: str, precision: str, conv: str
) -> None:
    # Python's %-formatting follows C here except where C's rules are special: "#o"
    # (Python writes 0o), a sign on x/o, "0" with a precision (C ignores the 0) and ".0"
    # of zero (C: nothing).
    arg = value if conv in "di" else value & 0xFFFFFFFF
    assume(not (conv == "o" and "#" in flags))
    assume(not (flags in ("+", " ") and conv in "xXo"))  # C signs only d and i
    assume(not ("0" in flags and precision))
    assume(not (precision == ".0" and arg == 0))
    spec = f"%{flags}{width}{precision}{conv}"
    k = Kernel("console")
    assert sprintf(k, spec.encode(), value & 0xFFFFFFFF)[1] == (spec % arg).encode()


def test_c_special_cases(k: Kernel) -> None:
    assert sprintf(k, b"%#o|%#o|%05.2d|%3.0d|%#x", 8, 0, 3, 0, 0)[1] == b"010|0|   03|   |0"
