"""Commitments a contract can open one row or one column of: position Merkle trees over 32-byte words.

A tensor (2-D; a vector is one row) is committed as keccak(abi.encode(rows, cols, rowRoot, colRoot)):
- row leaf r = sha256 over row r's values as 8-byte big-endian int64s (TrainingReferee.rowLeaf), column
  leaf c the same over column c;
- a root is a binary tree over its leaves in order, padded with zero leaves to a power of two, each node
  sha256(left ++ right). sha256 rather than keccak because the trainer hashes every state tensor after every
  step: hashlib's sha256 is about 5x cheaper per call here than keccak, and the EVM has it as a precompile. A proof is the sibling path, and the leaf's position picks left or right, so a proof
  for row 3 cannot be passed off as row 5 (a sorted-pair tree would allow that).
Both roots exist because the referee needs rows of some operands and columns of others (a matrix product
needs a row of one and a column of the other). The state after a step is keccak(step ++ the commitments of
its tensors), so the contract can open any one tensor of it; the weights hash is the same over the weights
and biases alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from hashlib import sha256

from eth_utils import keccak

ZERO = b"\0" * 32


def _word_array(values: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """int64 values as (n, 32) bytes: 32-byte two's-complement big-endian words (Solidity's int256)."""
    v = np.ascontiguousarray(np.asarray(values, dtype=np.int64).reshape(-1))
    out = np.zeros((v.size, 32), dtype=np.uint8)
    out[:, :24] = np.where(v < 0, 255, 0)[:, None]
    out[:, 24:] = v.astype(">i8").view(np.uint8).reshape(-1, 8)
    return out


def words(values: npt.ArrayLike) -> bytes:
    return _word_array(values).tobytes()


def _chunk_hashes(buf: bytes, width: int) -> list[bytes]:
    view = memoryview(buf)  # slices of a memoryview do not copy
    return [sha256(view[i:i + width]).digest() for i in range(0, len(buf), width)]


def row_leaves(matrix: npt.NDArray[np.int64]) -> list[bytes]:
    """sha256(abi.encodePacked(int256[] row)) per row: 32-byte words (the dataset's sample leaves)."""
    return _chunk_hashes(words(matrix), matrix.shape[1] * 32)


def tensor_row_leaves(matrix: npt.NDArray[np.int64]) -> list[bytes]:
    """A tensor's row leaves (TrainingReferee.rowLeaf): sha256 over the row as 8-byte big-endian int64s."""
    return _chunk_hashes(np.ascontiguousarray(matrix, dtype=">i8").tobytes(), matrix.shape[1] * 8)


class PositionTree:
    """A binary Merkle tree over leaf hashes in order, padded with zero leaves to a power of two."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        if not leaves:
            raise ValueError("a Merkle tree needs at least one leaf")
        size = 1 << (len(leaves) - 1).bit_length()
        layer = list(leaves) + [ZERO] * (size - len(leaves))
        self.count = len(leaves)
        self.layers = [layer]
        while len(layer) > 1:
            layer = _chunk_hashes(b"".join(layer), 64)
            self.layers.append(layer)

    @property
    def root(self) -> bytes:
        return self.layers[-1][0]

    @property
    def depth(self) -> int:
        return len(self.layers) - 1

    def proof(self, index: int) -> list[bytes]:
        if not 0 <= index < self.count:
            raise IndexError(f"leaf {index} of {self.count}")
        return [layer[(index >> level) ^ 1] for level, layer in enumerate(self.layers[:-1])]

    def children(self, level: int, index: int) -> tuple[bytes, bytes]:
        """The two children of node `index` at `level` (0 is the root's level)."""
        below = self.layers[self.depth - level - 1]
        return below[2 * index], below[2 * index + 1]


def verify(leaf: bytes, index: int, proof: Sequence[bytes], root: bytes) -> bool:
    node = leaf
    for level, sibling in enumerate(proof):
        node = sha256(sibling + node).digest() if (index >> level) & 1 else sha256(node + sibling).digest()
    return node == root


def as_matrix(t: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return t.reshape(1, -1) if t.ndim == 1 else t


@dataclass(frozen=True)
class TensorCommitment:
    """A tensor's commitment. Tensors whose columns no operator reads (biases, momentum, gradients) have no
    column tree: their column root is zero, and the dispute game holds a non-zero one against the solver."""
    rows: int
    cols: int
    row_tree: PositionTree
    col_tree: PositionTree | None

    @classmethod
    def of(cls, tensor: npt.NDArray[np.int64], columns: bool = True) -> TensorCommitment:
        m = as_matrix(tensor)
        rows, cols = m.shape
        packed = np.ascontiguousarray(m, dtype=">i8")
        col_tree = PositionTree(_chunk_hashes(packed.T.tobytes(), rows * 8)) if columns else None
        return cls(rows, cols, PositionTree(_chunk_hashes(packed.tobytes(), cols * 8)), col_tree)

    @property
    def col_root(self) -> bytes:
        return ZERO if self.col_tree is None else self.col_tree.root

    def tree(self, columns: bool) -> PositionTree:
        if not columns:
            return self.row_tree
        if self.col_tree is None:
            raise ValueError("this tensor is committed by rows only")
        return self.col_tree

    @property
    def digest(self) -> bytes:
        return commitment_digest(self.rows, self.cols, self.row_tree.root, self.col_root)


def commitment_digest(rows: int, cols: int, row_root: bytes, col_root: bytes) -> bytes:
    return keccak(rows.to_bytes(32, "big") + cols.to_bytes(32, "big") + row_root + col_root)


def tensor_digest(tensor: npt.NDArray[np.int64], columns: bool = True) -> bytes:
    return TensorCommitment.of(tensor, columns).digest


def state_digest(step: int, digests: Sequence[bytes]) -> bytes:
    """keccak(abi.encodePacked(uint256 step, bytes32[] digests)): one step leaf."""
    return keccak(step.to_bytes(32, "big") + b"".join(digests))


def weights_digest(digests: Sequence[bytes]) -> bytes:
    """keccak(abi.encodePacked(bytes32[] digests)) over the weights' and biases' commitments."""
    return keccak(b"".join(digests))


__all__ = ["PositionTree", "TensorCommitment", "ZERO", "as_matrix", "commitment_digest", "row_leaves",
           "state_digest", "tensor_digest", "verify", "weights_digest", "words"]
