"""Kernel object types, one module each, on the small base in :mod:`x360k.objects.base`."""
