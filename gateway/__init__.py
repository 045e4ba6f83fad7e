"""LiteLLM Gateway core: app factory, settings, errors, middleware, auth and validation."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("litellm-gateway")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
