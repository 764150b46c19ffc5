// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice What a training task is, as the referee needs it: the same numbers as the task's YAML
/// (docs/training.md). `paramsHash = keccak256(abi.encode(TrainParams))` is pinned when the task is posted.
struct TrainParams {
    uint32[] layers; // input width first, class count last
    uint32 batchSize;
    uint32 steps;
    uint256 seed;
    int256 lr; // Q16
    int256 momentum; // Q16
    bytes32 datasetRoot; // keccak256(abi.encode(samplesRoot, statsDigest, n, d))
}

/// @notice One row or one column of a committed tensor, with the commitment's preimage and a Merkle proof.
struct Opening {
    uint256 rows;
    uint256 cols;
    bytes32 rowRoot;
    bytes32 colRoot;
    bool column;
    uint256 index;
    int256[] values;
    bytes32[] proof;
}

/// @notice One training sample (label, then raw Q16 features) with its proof, and the split's statistics.
struct Sample {
    bytes32 samplesRoot;
    bytes32 statsDigest;
    uint256 n;
    int256[] values;
    bytes32[] proof;
    int256[] mean;
    int256[] std;
}

/// @title The training referee: recomputes one element of one operator of one training step, exactly
/// @notice Stateless and pure. A step's trace is a fixed list of tensors (docs/training.md, "the step trace"):
/// the state (weights, biases, their momentum), the minibatch, each layer's output, the loss gradient, and per
/// layer (last first) the weight and bias gradients, the gradient passed down, the new momentum and the new
/// weights. Each tensor is committed as keccak256(abi.encode(rows, cols, rowRoot, colRoot)) where the roots are
/// sha256 position trees over the rows and over the columns (a row leaf is `rowLeaf(row)`: sha256 over the values
/// as 8-byte big-endian int64s).
/// The arithmetic is Q16 with the runtime's rounding rules: products summed exactly, then one arithmetic shift
/// that rounds half up; divisions round half up (or floor, where the runtime floors).
contract TrainingReferee {
    int256 internal constant ONE = 65536;
    int256 internal constant HALF = 32768;
    int256 internal constant LOG2_E = 94548;
    int256 internal constant MAX64 = type(int64).max;
    int256 internal constant MIN64 = type(int64).min;

    uint8 internal constant INIT = 0;
    uint8 internal constant GATHER = 1;
    uint8 internal constant DENSE = 2;
    uint8 internal constant XENT = 3;
    uint8 internal constant GRAD_W = 4;
    uint8 internal constant GRAD_B = 5;
    uint8 internal constant BACKWARD = 6;
    uint8 internal constant MOMENTUM = 7;
    uint8 internal constant UPDATE = 8;

    error NotAnOperator(uint256 tensor);
    error ElementOutOfRange(uint256 tensor, uint256 row, uint256 col);
    error WrongOpening(uint256 which, string why);
    error WrongSample(string why);

    /// @notice The number of tensors in a step's trace: 4L state tensors at step 0, 12L + 2 after a step.
    function traceLength(uint256 nLayers, uint256 step) public pure returns (uint256) {
        return step == 0 ? 4 * nLayers : 12 * nLayers + 2;
    }

    /// @notice Where the new state's tensors sit in a step's trace, in state order (weights, biases, momentum).
    function stateSlot(uint256 nLayers, uint256 step, uint256 i) public pure returns (uint256) {
        if (step == 0) return i;
        uint256 group = i / nLayers; // 0 weights, 1 biases, 2 weight momentum, 3 bias momentum
        uint256 layer = i % nLayers;
        uint256 base = _block(nLayers, layer);
        return base + [uint256(5), 6, 3, 4][group];
    }

    /// @notice Whether an operator reads columns of tensor k: the weights, the batch and activations, and the
    /// gradients at each layer's output. Every other tensor is committed by rows alone (column root zero).
    function hasColumns(uint256 nLayers, uint256 step, uint256 k) public pure returns (bool) {
        if (k < nLayers) return true;
        if (k < 4 * nLayers || step == 0) return false;
        if (k <= 5 * nLayers + 1) return true;
        uint256 slot = (k - (5 * nLayers + 2)) % 7;
        return slot == 2 || slot == 5;
    }

    /// @notice The shape tensor `k` of the trace must have.
    function shapeOf(TrainParams calldata p, uint256 step, uint256 k) public pure returns (uint256 rows, uint256 cols) {
        uint256 nl = p.layers.length - 1;
        if (k < 4 * nl) return _stateShape(p, k % nl, k / nl);
        if (step == 0) revert NotAnOperator(k);
        uint256 b = p.batchSize;
        if (k <= 5 * nl) return (b, p.layers[k - 4 * nl]); // the batch (k = 4L) and each layer's output
        if (k == 5 * nl + 1) return (b, p.layers[nl]); // the loss gradient
        uint256 off = k - (5 * nl + 2);
        if (off >= 7 * nl) revert NotAnOperator(k);
        uint256 layer = nl - 1 - off / 7;
        uint256 slot = off % 7;
        if (slot == 2) {
            if (layer == 0) revert NotAnOperator(k);
            return (b, p.layers[layer]);
        }
        return _stateShape(p, layer, (slot == 0 || slot == 3 || slot == 5) ? 0 : 1);
    }

    function _stateShape(TrainParams calldata p, uint256 layer, uint256 group) private pure returns (uint256, uint256) {
        return group % 2 == 0 ? (uint256(p.layers[layer]), uint256(p.layers[layer + 1])) : (1, uint256(p.layers[layer + 1]));
    }

    function _block(uint256 nl, uint256 layer) private pure returns (uint256) {
        return 5 * nl + 2 + 7 * (nl - 1 - layer);
    }

    /// @dev Index of G_l, the gradient at layer l's output.
    function _grad(uint256 nl, uint256 layer) private pure returns (uint256) {
        return layer == nl - 1 ? 5 * nl + 1 : _block(nl, layer + 1) + 2;
    }

    /// @notice Recompute element (i, j) of tensor `k` in the trace of step `step`. `digests` is the trace the
    /// solver revealed; every opening must open the tensor (and the row or column) the operator reads.
    function recompute(
        TrainParams calldata p,
        uint256 step,
        bytes32[] calldata digests,
        uint256 k,
        uint256 i,
        uint256 j,
        Opening[] calldata o,
        Sample calldata s
    ) external pure returns (int256) {
        _inShape(p, step, k, i, j);
        uint256 nl = p.layers.length - 1;
        if (step == 0) return _init(p, k, i, j, nl);
        if (k == 4 * nl) return _gather(p, step, i, j, s);
        if (k <= 5 * nl) return _dense(p, digests, k, i, j, o);
        if (k == 5 * nl + 1) return _xent(p, step, digests[5 * nl], i, j, o, s);
        return _backward(p, digests, k, i, j, o);
    }

    function _inShape(TrainParams calldata p, uint256 step, uint256 k, uint256 i, uint256 j) private pure {
        (uint256 rows, uint256 cols) = shapeOf(p, step, k);
        if (i >= rows || j >= cols) revert ElementOutOfRange(k, i, j);
    }

    /// @dev A dense layer's output: round(row i of its input . column j of W) + b[j], then ReLU but for the last.
    function _dense(TrainParams calldata p, bytes32[] memory digests, uint256 k, uint256 i, uint256 j,
                    Opening[] calldata o) private pure returns (int256) {
        uint256 nl = p.layers.length - 1;
        uint256 l = k - 4 * nl - 1;
        _open(o, 0, digests[4 * nl + l], false, i);
        _open(o, 1, digests[l], true, j);
        _open(o, 2, digests[nl + l], false, 0);
        int256 v = _shiftRound(_dot(o[0].values, o[1].values)) + o[2].values[j];
        return (l < nl - 1 && v < 0) ? int256(0) : v;
    }

    /// @dev One element of a layer's backward block: slot 0 weight gradient, 1 bias gradient, 2 the gradient
    /// passed down, 3/4 new momentum (weights/biases), 5/6 new weights/biases.
    function _backward(TrainParams calldata p, bytes32[] memory digests, uint256 k, uint256 i, uint256 j,
                       Opening[] calldata o) private pure returns (int256) {
        uint256 nl = p.layers.length - 1;
        uint256 off = k - (5 * nl + 2);
        uint256 layer = nl - 1 - off / 7;
        if (off % 7 <= 2) {
            return _gradient(digests[4 * nl + layer], digests[_grad(nl, layer)], digests[layer], off % 7, i, j, o);
        }
        return _update(p, _operands(digests, nl, layer, k, off % 7), (off % 7) % 2 == 0 ? 0 : i, j, o, off % 7);
    }

    /// @dev The two inputs of a momentum (slots 3, 4) or update (5, 6) operator: the old tensor and the new
    /// gradient or momentum.
    function _operands(bytes32[] memory digests, uint256 nl, uint256 layer, uint256 k, uint256 slot)
        private
        pure
        returns (bytes32[2] memory ab)
    {
        bool bias = slot % 2 == 0;
        uint256 base = k - slot;
        if (slot <= 4) {
            ab[0] = digests[(bias ? 3 : 2) * nl + layer];
            ab[1] = digests[base + (bias ? 1 : 0)];
        } else {
            ab[0] = digests[(bias ? 1 : 0) * nl + layer];
            ab[1] = digests[base + (bias ? 4 : 3)];
        }
    }

    /// @dev momentum: v' = round(v * momentum) + g; update: w' = w - round(v' * lr).
    function _update(TrainParams calldata p, bytes32[2] memory ab, uint256 row, uint256 j, Opening[] calldata o,
                     uint256 slot) private pure returns (int256) {
        _open(o, 0, ab[0], false, row);
        _open(o, 1, ab[1], false, row);
        return slot <= 4
            ? _shiftRound(o[0].values[j] * p.momentum) + o[1].values[j]
            : o[0].values[j] - _shiftRound(o[1].values[j] * p.lr);
    }

    /// @dev h: the layer's input, g: the gradient at its output, w: its weights.
    function _gradient(bytes32 h, bytes32 g, bytes32 w, uint256 slot, uint256 i, uint256 j, Opening[] calldata o)
        private
        pure
        returns (int256 v)
    {
        if (slot == 0) { // weight gradient: column i of the layer's input times column j of its output gradient
            _open(o, 0, h, true, i);
            _open(o, 1, g, true, j);
            return _shiftRound(_dot(o[0].values, o[1].values));
        }
        if (slot == 1) { // bias gradient: the column sum of the output gradient
            _open(o, 0, g, true, j);
            for (uint256 r = 0; r < o[0].values.length; r++) v += o[0].values[r];
            return v;
        }
        // the gradient passed down: row i of G times row j of W, through the ReLU
        _open(o, 0, g, false, i);
        _open(o, 1, w, false, j);
        _open(o, 2, h, false, i);
        return o[2].values[j] > 0 ? _shiftRound(_dot(o[0].values, o[1].values)) : int256(0);
    }

    /// @dev Opening `which` must be of `digest`, the row (or column) `index`, with every value an int64.
    function _open(Opening[] calldata o, uint256 which, bytes32 digest, bool column, uint256 index) private pure {
        if (which >= o.length) revert WrongOpening(which, "missing");
        Opening calldata op = o[which];
        if (keccak256(abi.encode(op.rows, op.cols, op.rowRoot, op.colRoot)) != digest) {
            revert WrongOpening(which, "not the committed tensor");
        }
        if (op.column != column || op.index != index) revert WrongOpening(which, "not the row or column the operator reads");
        if (op.values.length != (column ? op.rows : op.cols)) revert WrongOpening(which, "wrong length");
        for (uint256 r = 0; r < op.values.length; r++) {
            if (op.values[r] > MAX64 || op.values[r] < MIN64) revert WrongOpening(which, "value outside int64");
        }
        if (!verifyLeaf(rowLeaf(op.values), index, op.proof, column ? op.colRoot : op.rowRoot)) {
            revert WrongOpening(which, "bad proof");
        }
    }

    /// @notice A tensor row's (or column's) leaf: sha256 over its values packed as 8-byte big-endian int64s
    /// (a quarter of the bytes of int256 words, which matters to the solver, who hashes every state). A value
    /// outside int64 has no leaf.
    function rowLeaf(int256[] calldata values) public pure returns (bytes32) {
        uint256 n = values.length;
        bytes memory packed = new bytes(8 * n + 24); // 24 spare bytes: each store writes a whole word
        for (uint256 i = 0; i < n; i++) {
            int256 v = values[i];
            if (v > MAX64 || v < MIN64) revert WrongOpening(i, "value outside int64");
            bytes8 b = bytes8(uint64(int64(v)));
            assembly {
                mstore(add(add(packed, 32), mul(i, 8)), b)
            }
        }
        assembly {
            mstore(packed, mul(n, 8))
        }
        return sha256(packed);
    }

    /// @notice A sha256 position-tree proof: the index's bits say on which side each sibling sits.
    function verifyLeaf(bytes32 leaf, uint256 index, bytes32[] calldata proof, bytes32 root) public pure returns (bool) {
        bytes32 node = leaf;
        for (uint256 d = 0; d < proof.length; d++) {
            node = (index >> d) & 1 == 1 ? sha256(abi.encodePacked(proof[d], node)) : sha256(abi.encodePacked(node, proof[d]));
        }
        return index >> proof.length == 0 && node == root;
    }

    /// @notice Which training sample row `i` of step `step`'s minibatch is: keccak(seed, 2, step, i) mod n.
    function sampleIndex(uint256 seed, uint256 step, uint256 i, uint256 n) public pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, uint256(2), step, i))) % n;
    }

    function _sample(TrainParams calldata p, uint256 step, uint256 i, Sample calldata s) private pure returns (uint256 d) {
        d = p.layers[0];
        if (keccak256(abi.encode(s.samplesRoot, s.statsDigest, s.n, d)) != p.datasetRoot) revert WrongSample("not the task's dataset");
        if (s.values.length != d + 1) revert WrongSample("wrong length");
        uint256 idx = sampleIndex(p.seed, step, i, s.n);
        if (!verifyLeaf(sha256(abi.encodePacked(s.values)), idx, s.proof, s.samplesRoot)) revert WrongSample("bad proof");
    }

    function _gather(TrainParams calldata p, uint256 step, uint256 i, uint256 j, Sample calldata s) private pure returns (int256) {
        uint256 d = _sample(p, step, i, s);
        if (s.mean.length != d || s.std.length != d || keccak256(abi.encodePacked(s.mean, s.std)) != s.statsDigest) {
            revert WrongSample("not the dataset's statistics");
        }
        return _floorDiv((s.values[1 + j] - s.mean[j]) * ONE, s.std[j]);
    }

    function _xent(
        TrainParams calldata p,
        uint256 step,
        bytes32 logits,
        uint256 i,
        uint256 j,
        Opening[] calldata o,
        Sample calldata s
    ) private pure returns (int256) {
        _sample(p, step, i, s);
        _open(o, 0, logits, false, i);
        int256 g = softmaxAt(o[0].values, j);
        if (int256(j) == s.values[0]) g -= ONE;
        return _divRound(g, int256(uint256(p.batchSize)));
    }

    /// @notice Element j of the Q16 softmax of row z, as the runtime computes it.
    function softmaxAt(int256[] calldata z, uint256 j) public pure returns (int256) {
        int256 top = z[0];
        for (uint256 c = 1; c < z.length; c++) if (z[c] > top) top = z[c];
        int256 total = 0;
        for (uint256 c = 0; c < z.length; c++) total += expNonPositive(z[c] - top);
        return _divRound(expNonPositive(z[j] - top) * ONE, total);
    }

    function _init(TrainParams calldata p, uint256 k, uint256 i, uint256 j, uint256 nl) private pure returns (int256) {
        if (k >= nl) return 0; // biases and momentum start at zero
        uint256 fanIn = p.layers[k];
        int256 bound = int256(_isqrt(uint256(6 * ONE * ONE) / fanIn));
        uint256 draw = uint256(keccak256(abi.encode(p.seed, uint256(1), k, i * p.layers[k + 1] + j)));
        return int256(draw % uint256(2 * bound + 1)) - bound;
    }

    /// @notice e**x for x <= 0 in Q16, the runtime's exp_nonpositive: 2**(x log2 e), shift plus polynomial.
    function expNonPositive(int256 x) public pure returns (int256) {
        int256 y = _shiftRound(x * LOG2_E);
        int256 n = y >> 16;
        int256 r = y - n * ONE;
        int256 q = 10;
        q = _shiftRound(q * r) + 87;
        q = _shiftRound(q * r) + 630;
        q = _shiftRound(q * r) + 3638;
        q = _shiftRound(q * r) + 15743;
        q = _shiftRound(q * r) + 45426;
        q = _shiftRound(q * r) + ONE;
        uint256 shift = uint256(-n);
        return q >> (shift < 62 ? shift : 62);
    }

    function _dot(int256[] calldata a, int256[] calldata b) private pure returns (int256 acc) {
        if (a.length != b.length) revert WrongOpening(1, "operand lengths differ");
        for (uint256 t = 0; t < a.length; t++) acc += a[t] * b[t];
    }

    function _shiftRound(int256 x) private pure returns (int256) {
        return (x + HALF) >> 16;
    }

    function _floorDiv(int256 a, int256 b) private pure returns (int256 q) {
        q = a / b;
        if (a % b != 0 && ((a < 0) != (b < 0))) q -= 1;
    }

    function _divRound(int256 a, int256 b) private pure returns (int256) {
        return _floorDiv(2 * a + b, 2 * b);
    }

    function _isqrt(uint256 x) private pure returns (uint256 r) {
        if (x == 0) return 0;
        r = x;
        uint256 y = (x + 1) / 2;
        while (y < r) {
            r = y;
            y = (x / y + y) / 2;
        }
    }
}
