"""The pure NumPy floor: settings, masks, the stage-keeping and blocked engines, multi-head, positions,
memory estimates. Imports no rich, typer or click, and nothing above it."""
