"""mediins: premium deduction rounds for flexible-employment enrollees (灵活就业人员)."""

from importlib import metadata

try:
    __version__ = metadata.version("mediins")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
