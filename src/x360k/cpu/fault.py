"""Guest faults: what stopped a run, told the way a person debugging the guest needs it.

A fault (an access to unmapped memory, an illegal or trapping instruction, a
jump to nowhere, a call to an export x360k lacks) ends the run. The report
names the thread, the instruction address and symbol, the instruction
disassembled, the registers and the last trace events; the kernel is left as
it was before the faulting instruction (no export call is half done).
"""

from __future__ import annotations

from typing import Final

import msgspec
from capstone import CS_ARCH_PPC, CS_MODE_32, CS_MODE_BIG_ENDIAN, Cs

#: PowerPC interrupt numbers (QEMU's numbering, as unicorn reports them) we name.
INTERRUPT_NAMES: Final = {
    2: "data storage interrupt",
    3: "instruction storage interrupt",
    5: "alignment interrupt",
    6: "program interrupt (trap or privileged instruction)",
    7: "floating-point unavailable",
    73: "vector unit unavailable",
    96: "illegal instruction",
}


class FaultReport(msgspec.Struct, kw_only=True):
    """Everything known about one guest fault (JSON-ready)."""

    reason: str
    tid: int
    thread_id: int
    pc: int
    symbol: str | None
    instruction: str
    registers: dict[str, int]
    last_events: list[str]
    address: int | None = None

    def headline(self) -> str:
        where = f"0x{self.pc:08x}" + (f" ({self.symbol})" if self.symbol else "")
        return f"guest fault in thread {self.tid} (id {self.thread_id}) at {where}: {self.reason}"

    def render_text(self) -> str:
        lines = [self.headline(), f"  instruction: {self.instruction}"]
        regs = self.registers
        gprs = [f"r{i:<2}={regs[f'r{i}']:08x}" for i in range(32) if f"r{i}" in regs]
        for row in range(0, len(gprs), 8):
            lines.append("  " + " ".join(gprs[row : row + 8]))
        special = [
            f"{n}={regs[n]:08x}" for n in ("pc", "lr", "ctr", "cr", "xer", "msr") if n in regs
        ]
        if special:
            lines.append("  " + " ".join(special))
        if self.last_events:
            lines.append("  last events:")
            lines += [f"    {e}" for e in self.last_events]
        return "\n".join(lines)


class GuestFault(Exception):
    """Raised out of a CPU thread's program to stop the run; carries the report."""

    def __init__(self, report: FaultReport) -> None:
        super().__init__(report.headline())
        self.report = report


def disassemble(code: bytes, address: int) -> str:
    """One instruction as ``mnemonic operands`` (or its bytes when capstone cannot say)."""
    if len(code) < 4:
        return "<not readable>"
    md = Cs(CS_ARCH_PPC, CS_MODE_32 | CS_MODE_BIG_ENDIAN)
    for insn in md.disasm(code[:4], address, 1):
        text = f"{insn.mnemonic} {insn.op_str}".strip()
        return f"{text}  ({code[:4].hex()})"
    return f".long 0x{code[:4].hex()}  (not a valid instruction)"


#: X-form extended opcodes (primary 31) of 64-bit instructions, by their 10-bit xo.
_X64: Final = {
    9: "mulhdu", 21: "ldx", 27: "sld", 53: "ldux", 58: "cntlzd", 68: "td", 73: "mulhd",
    84: "ldarx", 149: "stdx", 178: "mtmsrd", 181: "stdux", 214: "stdcx.", 233: "mulld",
    341: "lwax", 373: "lwaux", 457: "divdu", 489: "divd", 539: "srd", 794: "srad",
    986: "extsw", 745: "mulldo", 969: "divduo", 1001: "divdo",
}  # fmt: skip
_PRIMARY64: Final = {2: "tdi", 30: "rld* rotate", 58: "ld/ldu/lwa", 62: "std/stdu"}


def classify(code: bytes) -> str | None:
    """What an instruction unicorn's 32-bit G4 refuses is, when it is a Xenon one.

    Xenon runs 64-bit PowerPC and VMX128 (vector opcodes 4, 5 and 6 extended to
    128 registers); unicorn 2.1 offers no CPU with either (docs/cpu.md).
    """
    if len(code) < 4:
        return None
    word = int.from_bytes(code[:4], "big")
    primary = word >> 26
    if primary in (5, 6):
        return "a VMX128 instruction (Xenon's 128-register vector unit), which unicorn lacks"
    if primary == 4:
        return "a vector instruction the G4's AltiVec refuses (Xenon's VMX128 shares opcode 4)"
    if primary in _PRIMARY64:
        return f"a 64-bit instruction ({_PRIMARY64[primary]}); unicorn's CPU here is 32-bit"
    if primary == 31:
        xo = (word >> 1) & 0x3FF
        name = _X64.get(xo) or ("sradi" if (word >> 2) & 0x1FF == 413 else None)
        if name is not None:
            return f"a 64-bit instruction ({name}); unicorn's CPU here is 32-bit"
    return None
