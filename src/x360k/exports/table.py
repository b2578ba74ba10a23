"""Every export x360k implements, gathered from the handler modules."""

from __future__ import annotations

from x360k.exports import (
    directory,
    file_info,
    files,
    formatting,
    io_completion,
    irql,
    native,
    ob,
    object_directory,
    physical_memory,
    pool,
    rtl,
    rtl_errors,
    rtl_exceptions,
    rtl_memory,
    rtl_strings,
    rtl_time,
    symlinks,
    sync,
    threads,
    tls,
    virtual_memory,
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
        rtl_strings.GROUP,
        rtl_memory.GROUP,
        rtl_time.GROUP,
        rtl_errors.GROUP,
        formatting.GROUP,
        rtl_exceptions.GROUP,
        virtual_memory.GROUP,
        physical_memory.GROUP,
        pool.GROUP,
    ]
    return [ex for group in groups for ex in group.exports]
