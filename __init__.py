"""The repository root is the `touchstream` package as installed: pyproject.toml maps `events/`,
`projections/`, `streams/` and `adapters/` to `touchstream.*`. This file lets tools that follow imports by
path, without the package installed, resolve the package-relative imports between those folders
(`from ..events import ...`). Nothing is defined here."""
