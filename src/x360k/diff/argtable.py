"""Which export arguments are pointers, handles or plain values (for the ``pointers`` rule).

Built from the kernel's export registry when it can be imported, with a small
fallback table, and overridable from a JSON/YAML file (``--args-table``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

import msgspec

#: Export name -> per-argument type: "ptr" (masked by the pointers rule), "handle"
#: (masked by the handles rule, checked through origins instead) or "value".
ArgTable = Mapping[str, tuple[str, ...]]

#: A fallback table for common exports, used when the kernel's export registry cannot be
#: imported (see :func:`registry_arg_table`).
DEFAULT_ARG_TABLE: Final[dict[str, tuple[str, ...]]] = {
    "NtCreateEvent": ("ptr", "ptr", "value", "value"),
    "NtCreateSemaphore": ("ptr", "ptr", "value", "value"),
    "NtCreateMutant": ("ptr", "ptr", "value"),
    "NtCreateTimer": ("ptr", "ptr", "value"),
    "NtCreateFile": ("ptr", "value", "ptr", "ptr", "ptr", "value", "value", "value", "value"),
    "NtOpenFile": ("ptr", "value", "ptr", "ptr", "value", "value"),
    "NtReadFile": ("handle", "handle", "ptr", "ptr", "ptr", "ptr", "value", "ptr"),
    "NtWriteFile": ("handle", "handle", "ptr", "ptr", "ptr", "ptr", "value", "ptr"),
    "NtClose": ("handle",),
    "NtDuplicateObject": ("handle", "ptr", "value"),
    "NtSetEvent": ("handle", "ptr"),
    "NtClearEvent": ("handle",),
    "NtPulseEvent": ("handle", "ptr"),
    "NtReleaseSemaphore": ("handle", "value", "ptr"),
    "NtReleaseMutant": ("handle", "ptr"),
    "NtWaitForSingleObjectEx": ("handle", "value", "value", "ptr"),
    "NtWaitForMultipleObjectsEx": ("value", "ptr", "value", "value", "value", "ptr"),
    "KeWaitForSingleObject": ("ptr", "value", "value", "value", "ptr"),
    "KeSetEvent": ("ptr", "value", "value"),
    "KeResetEvent": ("ptr",),
    "ExCreateThread": ("ptr", "value", "ptr", "ptr", "ptr", "ptr", "value"),
    "ObReferenceObjectByHandle": ("handle", "value", "ptr"),
    "ObDereferenceObject": ("ptr",),
    "RtlEnterCriticalSection": ("ptr",),
    "RtlLeaveCriticalSection": ("ptr",),
    "RtlInitializeCriticalSection": ("ptr",),
    "NtAllocateVirtualMemory": ("ptr", "ptr", "value", "value", "value"),
    "NtFreeVirtualMemory": ("ptr", "ptr", "value", "value"),
    "RtlCompareMemoryUlong": ("ptr", "value", "value"),
}


#: The registry's table as of the last ``python -m x360k.diff.argtable`` (a test checks it
#: is current): importing the kernel's registry costs ~0.1 s, most of a small diff's run.
REGISTRY_SNAPSHOT: Final = Path(__file__).with_name("registry_args.json")


def registry_arg_table() -> dict[str, tuple[str, ...]]:
    """Per-argument types of every export the kernel implements, from its export registry.

    Read from :data:`REGISTRY_SNAPSHOT` when it is there; else the registry is
    imported here, not at module import, so the diff stays usable without the
    kernel; the small built-in table fills any gap.
    """
    try:
        snapshot = msgspec.json.decode(REGISTRY_SNAPSHOT.read_bytes(), type=dict[str, list[str]])
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return live_registry_arg_table()
    out = dict(DEFAULT_ARG_TABLE)
    out.update((name, tuple(types)) for name, types in snapshot.items())
    return out


def live_registry_arg_table() -> dict[str, tuple[str, ...]]:
    """:func:`registry_arg_table` computed from the export registry itself."""
    out = dict(DEFAULT_ARG_TABLE)
    try:
        from x360k.exports.registry import POINTER_KINDS, P
        from x360k.exports.table import all_exports
    except ImportError:
        return out
    for export in all_exports():
        out[export.name] = tuple(
            "handle" if p.kind == P.HANDLE else "ptr" if p.kind in POINTER_KINDS else "value"
            for p in export.params
        )
    return out


def load_arg_table(path: str | Path) -> dict[str, tuple[str, ...]]:
    """An argument table from JSON or YAML: ``{export: ["ptr" | "handle" | "value", ...]}``.

    Raises ValueError with one line naming the file and the bad entry.
    """
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as exc:
        raise ValueError(f"{p}: {exc.strerror or exc}") from None
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = msgspec.json.decode(text)
    except Exception as exc:  # any parse error is one input-error line
        raise ValueError(f"{p}: not JSON/YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a mapping of export name to argument types")
    out: dict[str, tuple[str, ...]] = {}
    for name, types in data.items():
        if not isinstance(types, list) or any(t not in ("ptr", "handle", "value") for t in types):
            raise ValueError(
                f"{p}: {name}: expected a list of 'ptr', 'handle' or 'value', got {types!r}"
            )
        out[str(name)] = tuple(str(t) for t in types)
    return out


def write_registry_snapshot(path: Path = REGISTRY_SNAPSHOT) -> None:
    """Store the export registry's argument types (run after changing an export's parameters)."""
    enc = msgspec.json.encode
    lines = [
        enc(name) + b": " + enc(list(t)) for name, t in sorted(live_registry_arg_table().items())
    ]
    path.write_bytes(b"{\n  " + b",\n  ".join(lines) + b"\n}\n")  # one export a line


if __name__ == "__main__":
    write_registry_snapshot()
