"""`python -m neuface ...` (also what `torchrun -m neuface train` runs)."""

from neuface.cli import main

if __name__ == "__main__":
    main()
