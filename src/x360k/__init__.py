"""x360k: the Xbox 360 kernel (xboxkrnl) as an emulator sees it.

The package is layered (see ``docs/architecture.md``): guest memory and
NTSTATUS values at the bottom, the object table and kernel objects above them,
the export handlers and the deterministic scheduler above those, and the
:class:`~x360k.kernel.Kernel` facade on top. Traces (``x360k.trace``) and the
differential analyser (``x360k.diff``) sit beside the kernel and never import it.
"""

__version__ = "0.1.0"
