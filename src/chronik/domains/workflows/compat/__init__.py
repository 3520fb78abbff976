"""The original system's own formats (code-chef): its signed events and its legacy state table."""
