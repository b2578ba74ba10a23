"""Run real PowerPC guest code against the kernel on unicorn.

The CPU runtime loads a static big-endian PowerPC ELF into the kernel's guest
memory (one store the CPU maps without copying), turns each guest thread into
a saved CPU context driven as a thread program on the kernel's deterministic
scheduler, and routes the guest's ``sc`` import thunks into the export
dispatcher. ``docs/cpu.md`` describes the conventions; :mod:`x360k.cpu.runner`
is the entry point (``x360k run GUEST.elf``).
"""
