"""Every export x360k implements, gathered from the handler modules."""

from __future__ import annotations

from x360k.exports import io, irql, native, ob, rtl, sync, threads, tls, waits
from x360k.exports.registry import Export


def all_exports() -> list[Export]:
    groups = [
        ob.GROUP,
        sync.GROUP,
        threads.GROUP,
        waits.GROUP,
        native.GROUP,
        rtl.GROUP,
        irql.GROUP,
        io.GROUP,
        tls.GROUP,
    ]
    return [ex for group in groups for ex in group.exports]
