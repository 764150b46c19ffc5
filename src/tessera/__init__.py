"""Tessera: verifiable AI compute on Ethereum.

The public API is re-exported here; modules whose names start with an underscore, and
anything not listed in ``__all__``, are internal.
"""

from .errors import (
    ArtifactError,
    ChainConnectionError,
    ChainError,
    ChainInUseError,
    CompilerError,
    ConfigError,
    ContractRevert,
    DeploymentError,
    KeystoreError,
    StaleArtifactError,
    TesseraError,
    TransactionError,
    UnsupportedByBackend,
    WrongPasswordError,
)

__version__ = "0.1.0"

__all__ = [
    "ArtifactError",
    "ChainConnectionError",
    "ChainError",
    "ChainInUseError",
    "CompilerError",
    "ConfigError",
    "ContractRevert",
    "DeploymentError",
    "KeystoreError",
    "StaleArtifactError",
    "TesseraError",
    "TransactionError",
    "UnsupportedByBackend",
    "WrongPasswordError",
    "__version__",
]
