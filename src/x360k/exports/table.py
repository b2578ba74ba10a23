"""Every export x360k implements, gathered from the handler modules."""

from __future__ import annotations

from x360k.exports import (
    directory,
    file_info,
    files,
    io_completion,
    irql,
    native,
    ob,
    object_directory,
    rtl,
    symlinks,
    sync,
    threads,
    tls,
    waits,
)
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
        files.GROUP,
        file_info.GROUP,
        directory.GROUP,
        io_completion.GROUP,
        symlinks.GROUP,
        object_directory.GROUP,
        tls.GROUP,
    ]
    return [ex for group in groups for ex in group.exports]
