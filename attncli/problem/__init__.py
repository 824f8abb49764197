"""Problem documents and bundled samples into typed problems: what to compute."""
