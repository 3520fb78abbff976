"""`python -m chronik.cli`: the same as the `chronik` console script."""

from chronik.cli.main import main

if __name__ == "__main__":
    main()
