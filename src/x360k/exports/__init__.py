"""xboxkrnl exports: the registry and the handlers, grouped as xboxkrnl groups them."""
