"""Write src/x360k/canary_exports.json: every export in canary's tables, and its support.

A developer tool: ``python tools/gen_canary_exports.py CANARY_GIT_DIR [REV]`` reads a
checkout (or bare clone) of xenia-canary at REV (default HEAD) with ``git show``/``git
grep`` and records facts only, no code. For xboxkrnl.exe, xam.xex and xbdm.xex, each
ordinal of the export tables (``*_table.inc``) gets its name, its kind (function or
variable), canary's support, its logging tags and canary's category:

- support: "implemented", "stub" or "sketchy" for a handler declared with
  ``DECLARE_*_EXPORTn`` (as canary tags it), "implemented" for a hand-registered string
  shim (``SHIM_SET_MAPPING``) or a mapped kernel variable (``SetVariableMapping``,
  ``EXPORT_KVAR``), else "absent";
- category: the subsystem canary files the handler under (``kThreading`` ->
  "threading"), "strings" for a shim, "variables" for a variable;
- tags: "i" for ``kImportant`` (logged at canary's info level, so kept at its default
  log level), "h" for ``kHighFrequency`` (logged only with
  ``log_high_frequency_kernel_calls``), "s" for a shim (logged by its own code, not by
  canary's export wrapper).

One file serves the XEX import names (``x360k xex imports``), the canary log reader
and ``x360k exports``'s reference set.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "x360k" / "canary_exports.json"
TABLES = {
    "xboxkrnl.exe": ("XBOXKRNL", "src/xenia/kernel/xboxkrnl/xboxkrnl_table.inc"),
    "xam.xex": ("XAM", "src/xenia/kernel/xam/xam_table.inc"),
    "xbdm.xex": ("XBDM", "src/xenia/kernel/xbdm/xbdm_table.inc"),
}
ENTRY = re.compile(r"XE_EXPORT\(\s*\w+\s*,\s*(0x[0-9A-Fa-f]+)\s*,\s*(\w+)\s*,\s*(\w+)\s*\)")
DECLARE = re.compile(
    r"DECLARE_(XBOXKRNL|XAM|XBDM)_EXPORT\d\(\s*(\w+)\s*,\s*(\w+)((?:\s*,\s*\w+)*)\s*\)"
)
SHIM = re.compile(r'SHIM_SET_MAPPING\(\s*"(\w+)\.\w+"\s*,\s*(\w+)\s*,')
VARIABLE = re.compile(r"(?:ordinals::|EXPORT_KVAR\()\s*(\w+)")


def live_source(text: str) -> str:
    """``text`` without the lines an ``#if 0`` switches off (its ``#else`` part kept).

    Canary keeps a few handlers, ``DECLARE_*`` line included, inside ``#if 0``; they are
    not compiled, so not registered. Both branches of any other condition are kept.
    """
    kept: list[str] = []
    frames: list[list[bool]] = []  # per open #if: [is it `#if 0`, are we past its #else]
    for line in text.splitlines():
        directive = line.strip()
        if directive.startswith("#if"):
            frames.append([re.fullmatch(r"#if\s+0\b.*", directive) is not None, False])
        elif directive.startswith(("#else", "#elif")) and frames:
            frames[-1][1] = True
        elif directive.startswith("#endif") and frames:
            frames.pop()
        elif not any(zero and not past_else for zero, past_else in frames):
            kept.append(line)
    return "\n".join(kept)


def _git(repo: str, *args: str) -> str:
    return subprocess.run(["git", "-C", repo, *args], check=True, capture_output=True,
                          text=True).stdout  # fmt: skip


def main(repo: str, rev: str = "HEAD") -> None:
    commit = _git(repo, "rev-parse", rev).strip()
    declared: dict[str, dict[str, tuple[str, str, str]]] = {m: {} for m, _p in TABLES.values()}
    pattern = "DECLARE_\\|SetVariableMapping\\|EXPORT_KVAR\\|SHIM_SET_MAPPING"
    sources = _git(repo, "grep", "-l", pattern, rev, "--", "src/xenia/kernel").split()
    variables: set[str] = set()
    for source in sources:
        text = live_source(_git(repo, "show", source))
        for module, name, category, tags in DECLARE.findall(text):
            state = "implemented"
            if "kStub" in tags:
                state = "stub"
            elif "kSketchy" in tags:
                state = "sketchy"
            flags = "i" if "kImportant" in tags else ""
            flags += "h" if "kHighFrequency" in tags else ""
            group = category.removeprefix("k").lower()
            declared[module][name] = (state, flags, group)
        for library, name in SHIM.findall(text):
            declared[library.upper()].setdefault(name, ("implemented", "s", "strings"))
        for block in re.findall(r"(?:SetVariableMapping\([^;]*;|EXPORT_KVAR\(\w+\))", text):
            variables.update(VARIABLE.findall(block))
    libraries: dict[str, dict[str, list[str]]] = {}
    for library, (module, path) in TABLES.items():
        rows: dict[str, list[str]] = {}
        for ordinal, name, kind in ENTRY.findall(_git(repo, "show", f"{rev}:{path}")):
            state, tags, group = declared[module].get(name, ("absent", "", ""))
            if kind == "kVariable":
                state, tags = ("implemented" if name in variables else "absent"), ""
                group = "variables"
            rows[str(int(ordinal, 16))] = [
                name,
                "variable" if kind == "kVariable" else "function",
                state,
                tags,
                group,
            ]
        libraries[library] = rows
    about = (
        "Xenia canary's export tables: per library, ordinal -> [name, kind, canary's support, "
        "logging tags, canary's category]. Written by tools/gen_canary_exports.py "
        "(facts only, no code)."
    )
    lines = ["{", f'"about": {json.dumps(about)},', f'"canary_commit": "{commit}",',
             '"libraries": {']  # fmt: skip
    for i, (library, rows) in enumerate(libraries.items()):
        lines.append(f"{json.dumps(library)}: {{")
        items = sorted(rows.items(), key=lambda kv: int(kv[0]))
        lines += [f"{json.dumps(k)}: {json.dumps(v)}," for k, v in items[:-1]]
        lines += [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in items[-1:]]
        lines.append("}," if i < len(libraries) - 1 else "}")
    lines += ["}", "}"]
    OUT.write_text("\n".join(lines) + "\n")
    total = sum(len(v) for v in libraries.values())
    sys.stdout.write(f"wrote {OUT} ({total} exports)\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
