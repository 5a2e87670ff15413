"""The parity tests drive the real CLI too, with the same fixture as the CLI tests."""

from tests.cli.conftest import cli  # noqa: F401 -- a fixture shared by import
