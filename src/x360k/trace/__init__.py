"""Trace events: the schema, recorders, writers and readers.

The kernel hands events to a recorder it was given; nothing in this package
imports the kernel, so readers and the diff tool work on traces from anywhere.
"""
