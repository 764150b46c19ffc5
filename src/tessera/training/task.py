"""Training tasks: the YAML spec (docs/training.md), the datasets it names, and their deterministic split.

    model: {layers: [64, 32, 10], activation: relu}
    data: {dataset: digits, test_fraction: 0.2}
    train: {optimizer: sgd, lr: 0.05, momentum: 0.9, batch_size: 32, steps: 600, seed: 7, checkpoint_every: 50}
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from eth_utils import keccak
from pydantic import Field, field_validator

from ..errors import ConfigError, TrainingError
from ..schema import Amount, Int, Strict, parse
from .commit import PositionTree, row_leaves, words
from .fixedpoint import ONE, Fixed, from_decimal, to_fixed
from .trainer import Standardizer, TrainConfig

DOCS = "docs/training.md"
BUNDLED = ("digits", "iris", "wine", "breast_cancer")


class ModelSpec(Strict):
    layers: list[Int] = Field(min_length=2, max_length=16)
    activation: Literal["relu"] = "relu"

    @field_validator("layers")
    @classmethod
    def _widths(cls, v: list[int]) -> list[int]:
        if any(w < 1 or w > 4096 for w in v):
            raise ValueError("every layer width must be between 1 and 4096")
        return v


class DataSpec(Strict):
    dataset: str = Field(min_length=1)
    test_fraction: Amount = Field(default=Decimal("0.2"), gt=Decimal(0), lt=Decimal(1))


class TrainSpec(Strict):
    optimizer: Literal["sgd"] = "sgd"
    lr: Amount = Field(gt=Decimal(0), le=Decimal(4))
    momentum: Amount = Field(default=Decimal(0), ge=Decimal(0), lt=Decimal(1))
    batch_size: Int = Field(ge=1, le=4096)
    steps: Int = Field(ge=1, le=10_000_000)
    seed: Int = Field(ge=0, lt=2**256)
    checkpoint_every: Int = Field(default=50, ge=1)

    @field_validator("lr")
    @classmethod
    def _representable(cls, v: Decimal) -> Decimal:
        if v * ONE < Decimal("0.5"):
            raise ValueError(f"{v} rounds to zero in Q16 fixed point: use at least 0.00002")
        return v


class TaskSpec(Strict):
    model: ModelSpec
    data: DataSpec
    train: TrainSpec

    def config(self) -> TrainConfig:
        t = self.train
        return TrainConfig(list(self.model.layers), t.seed, t.steps, t.batch_size, from_decimal(t.lr),
                           from_decimal(t.momentum))


def load_task(path: Path) -> TaskSpec:
    try:
        text = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the task ({e.strerror}) - see {DOCS}") from None
    return parse_task(text, str(path))


def parse_task(text: bytes, where: str) -> TaskSpec:
    """A task spec from its YAML bytes (what its spec hash, keccak(bytes), is taken over)."""
    try:
        raw = yaml.safe_load(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: a task spec is UTF-8 YAML text - see {DOCS}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML ({str(e).splitlines()[0]}) - see {DOCS}") from None
    return parse(TaskSpec, raw, where, DOCS)


@dataclass(frozen=True)
class Dataset:
    """A task's data in Q16: raw samples as committed, the split, and the training split's statistics."""
    x: Fixed  # raw Q16 features, every sample
    y: np.ndarray
    test: np.ndarray  # indices of the test split
    train: np.ndarray
    scaler: Standardizer

    @property
    def x_train(self) -> Fixed:
        return self.scaler.apply(self.x[self.train])

    @property
    def x_test(self) -> Fixed:
        return self.scaler.apply(self.x[self.test])

    def commitment(self) -> DatasetCommitment:
        return DatasetCommitment.of(self.x[self.train], self.y[self.train], self.scaler)


@dataclass(frozen=True)
class DatasetCommitment:
    """The training split as a verifier can be given any sample of it: leaf i (the i-th training sample, the
    position the sampler draws) is sha256(abi.encodePacked(int256 label, int256[] raw Q16 features)); the root
    binds the samples' tree, the standardization statistics, the sample count and the feature count:
    keccak(abi.encode(samplesRoot, keccak(abi.encodePacked(mean, std)), n, d))."""
    tree: PositionTree
    stats_digest: bytes
    n: int
    d: int

    @classmethod
    def of(cls, raw: Fixed, labels: np.ndarray, scaler: Standardizer) -> DatasetCommitment:
        table = np.concatenate([labels.reshape(-1, 1).astype(np.int64), raw], axis=1)
        return cls(PositionTree(row_leaves(table)), keccak(words(scaler.mean) + words(scaler.std)),
                   raw.shape[0], raw.shape[1])

    @property
    def root(self) -> bytes:
        return keccak(self.tree.root + self.stats_digest + self.n.to_bytes(32, "big") + self.d.to_bytes(32, "big"))


def _bundled(name: str) -> tuple[Any, Any]:
    from sklearn import datasets  # type: ignore[import-untyped]
    bunch = getattr(datasets, f"load_{name}")()
    return bunch.data, bunch.target


def _csv(path: Path) -> tuple[Any, Any]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows or "label" not in rows[0]:
        raise TrainingError(f"{path}: the first row must be a header with a column named 'label'")
    col = rows[0].index("label")
    try:
        x = [[float(v) for i, v in enumerate(r) if i != col] for r in rows[1:] if r]
    except ValueError as e:
        raise TrainingError(f"{path}: a feature is not a number ({e}): features must be numeric") from None
    return np.array(x), [r[col] for r in rows[1:] if r]


def _npz(path: Path) -> tuple[Any, Any]:
    with np.load(path, allow_pickle=False) as z:
        if "X" not in z or "y" not in z:
            raise TrainingError(f"{path}: an NPZ dataset holds arrays named X and y (found {', '.join(z.files)})")
        return z["X"], z["y"]


def load_dataset(spec: DataSpec, base: Path) -> Dataset:
    """The named dataset, its labels as 0..C-1 (sorted distinct values), and a split no one picks by hand:
    samples ordered by keccak(abi.encode(3, i)), the first `test_fraction` of them held out."""
    name = spec.dataset
    if name in BUNDLED:
        x, labels = _bundled(name)
    else:
        path = (base / name) if not Path(name).is_absolute() else Path(name)
        if path.suffix not in (".csv", ".npz"):
            raise TrainingError(f"unknown dataset {name!r}: use one of {', '.join(BUNDLED)}, "
                                "or a path to a .csv or .npz file")
        if not path.is_file():
            raise TrainingError(f"dataset file {path} does not exist")
        x, labels = _csv(path) if path.suffix == ".csv" else _npz(path)
    x = np.asarray(x)
    if x.ndim != 2 or len(x) != len(labels) or len(x) < 2:
        raise TrainingError(f"dataset {name!r}: expected a 2-D feature table with one label per row")
    classes = sorted({str(v) for v in labels}, key=lambda v: (len(v), v))
    y = np.array([classes.index(str(v)) for v in labels], dtype=np.int64)
    order = sorted(range(len(y)), key=lambda i: keccak(i.to_bytes(32, "big") + (3).to_bytes(32, "big")))
    n_test = max(1, int(len(y) * spec.test_fraction))
    if n_test >= len(y):
        raise TrainingError(f"test_fraction {spec.test_fraction} leaves no training samples: lower it")
    test, train = np.array(sorted(order[:n_test])), np.array(sorted(order[n_test:]))
    xq = to_fixed(x)
    return Dataset(xq, y, test, train, Standardizer.fit(xq[train]))
