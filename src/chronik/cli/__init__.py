"""The `chronik` command line: thin click commands over the Ledger API.

Each command parses its options, makes one library call and formats the result (tables for
people, JSON Lines with --json). docs/cli.md is generated from the commands' --help by
`python -m chronik.cli.docgen > docs/cli.md`.
"""
