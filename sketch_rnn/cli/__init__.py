"""Command-line entry points: thin wrappers over the library (absl flags, magenta's names)."""
