"""difftone: Diff-TONE instrument editing for Stable Audio Open, as a library and a workflow."""

__version__ = "0.1.0"
