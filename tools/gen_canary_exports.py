"""Write src/x360k/xex/canary_exports.json: export names by ordinal, and canary's support.

A developer tool: ``python tools/gen_canary_exports.py CANARY_GIT_DIR [REV]`` reads a
checkout (or bare clone) of xenia-canary at REV (default HEAD) with ``git show``/``git
grep`` and records facts only, no code: for xboxkrnl.exe and xam.xex, each ordinal's
export name from the export tables (``xboxkrnl_table.inc``, ``xam_table.inc``) and
whether canary registers a handler for it (``DECLARE_XBOXKRNL_EXPORTn`` /
``DECLARE_XAM_EXPORTn``: "implemented", or "stub" / "sketchy" when canary tags it so) or
maps it as a kernel variable (``SetVariableMapping``, ``EXPORT_KVAR``), else "absent".
``x360k xex imports`` names imports and says what canary does with them from this file.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "x360k" / "xex" / "canary_exports.json"
TABLES = {
    "xboxkrnl.exe": "src/xenia/kernel/xboxkrnl/xboxkrnl_table.inc",
    "xam.xex": "src/xenia/kernel/xam/xam_table.inc",
}
ENTRY = re.compile(r"XE_EXPORT\(\s*\w+\s*,\s*(0x[0-9A-Fa-f]+)\s*,\s*(\w+)\s*,\s*(\w+)\s*\)")
DECLARE = re.compile(r"DECLARE_(XBOXKRNL|XAM)_EXPORT\d\(\s*(\w+)\s*,\s*\w+((?:\s*,\s*\w+)*)\s*\)")
VARIABLE = re.compile(r"(?:ordinals::|EXPORT_KVAR\()\s*(\w+)")


def _git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                          text=True).stdout  # fmt: skip


def main(repo: str, rev: str = "HEAD") -> None:
    declared: dict[str, dict[str, str]] = {"XBOXKRNL": {}, "XAM": {}}
    sources = _git(repo, "grep", "-l", "DECLARE_\\|SetVariableMapping\\|EXPORT_KVAR", rev, "--",
                   "src/xenia/kernel").split()  # fmt: skip
    variables: set[str] = set()
    for source in sources:
        text = _git(repo, "show", source)
        for module, name, tags in DECLARE.findall(text):
            state = "implemented"
            if "kStub" in tags:
                state = "stub"
            elif "kSketchy" in tags:
                state = "sketchy"
            declared[module][name] = state
        for block in re.findall(r"(?:SetVariableMapping\([^;]*;|EXPORT_KVAR\(\w+\))", text):
            variables.update(VARIABLE.findall(block))
    out: dict[str, dict[str, list[str]]] = {}
    for library, path in TABLES.items():
        module = "XBOXKRNL" if library.startswith("xboxkrnl") else "XAM"
        rows: dict[str, list[str]] = {}
        for ordinal, name, kind in ENTRY.findall(_git(repo, "show", f"{rev}:{path}")):
            state = declared[module].get(name, "absent")
            if kind == "kVariable":
                state = "implemented" if name in variables else "absent"
            rows[str(int(ordinal, 16))] = [name, "variable" if kind == "kVariable" else "function",
                                           state]  # fmt: skip
        out[library] = rows
    lines = ["{"]
    for i, (library, rows) in enumerate(out.items()):
        lines.append(f"{json.dumps(library)}: {{")
        items = sorted(rows.items(), key=lambda kv: int(kv[0]))
        lines += [f"{json.dumps(k)}: {json.dumps(v)}," for k, v in items[:-1]]
        lines += [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in items[-1:]]
        lines.append("}," if i < len(out) - 1 else "}")
    lines.append("}")
    OUT.write_text("\n".join(lines) + "\n")
    sys.stdout.write(f"wrote {OUT} ({sum(len(v) for v in out.values())} exports)\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
