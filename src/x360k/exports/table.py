"""Every export x360k implements, gathered from the handler modules."""

from __future__ import annotations

from x360k.exports import (
    apc_dpc,
    devices,
    directory,
    file_info,
    files,
    formatting,
    io_completion,
    irql,
    ke_thread,
    native,
    ob,
    ob_create,
    object_directory,
    rtl,
    rtl_errors,
    rtl_exceptions,
    rtl_memory,
    rtl_strings,
    rtl_time,
    rwlock,
    slist,
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
        rtl_strings.GROUP,
        rtl_memory.GROUP,
        rtl_time.GROUP,
        rtl_errors.GROUP,
        formatting.GROUP,
        rtl_exceptions.GROUP,
        rwlock.GROUP,
        slist.GROUP,
        ke_thread.GROUP,
        apc_dpc.GROUP,
        devices.GROUP,
        ob_create.GROUP,
    ]
    return [ex for group in groups for ex in group.exports]
