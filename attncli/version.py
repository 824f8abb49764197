"""The version of attncli (on the ground floor, so that every floor may name it)."""

__version__ = "0.1.0"
