"""``python -m x360k``: the same command as ``x360k``."""

from x360k.cli.main import main

if __name__ == "__main__":
    main()
