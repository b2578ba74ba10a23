"""Kernel structures that live in the title's own memory.

Titles synchronise mostly through dispatcher structures they allocated
themselves (KEVENT, KSEMAPHORE, KMUTANT, KTIMER) and through RTL critical
sections, not through handles. This package lays those structures out in
guest memory (:mod:`.header`), maps a guest pointer to one kernel object
(:mod:`.bridge`), and models the pieces with behaviour of their own: critical
sections (:mod:`.critical_section`), spin locks (:mod:`.spinlock`), canary's
broken bridged mutant (:mod:`.broken_mutant`) and the wedge-report notes
(:mod:`.wedge_notes`). The exports that use them are in
``x360k.exports.native`` and ``x360k.exports.rtl``.
"""
