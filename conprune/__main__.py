"""`python -m conprune` is the same as the `conprune` console script."""

from conprune.cli import main

if __name__ == "__main__":
    main()
