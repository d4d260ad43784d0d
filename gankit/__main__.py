"""``python -m gankit`` runs the command line (also under ``torchrun``)."""

from gankit.cli import main

if __name__ == "__main__":
    main()
