"""Sources → ExperimentData: every column and row check of an input file lives in this package.

``parse`` (bytes) and ``parse_path`` (a file on disk) are the entry points; ``check_size`` refuses a
file before it is read.
"""

from experimentos.ingest.files import check_size, parse, parse_path

__all__ = ["check_size", "parse", "parse_path"]
