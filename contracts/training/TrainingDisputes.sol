// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Owned} from "../lib/Owned.sol";
import {TrainParams, Opening, Sample, TrainingReferee} from "./TrainingReferee.sol";

interface ITrainingMarketResolver {
    function resolve(uint256 id, address challenger, uint256 step, bool solverLost) external;
}

/// @title The training dispute game: one challenged step, narrowed to one element of one operator
/// @notice The step's leaves are committed, so the challenger names the divergent step directly (log2(steps)
/// proof hashes instead of log2(steps) rounds). Then, each move with a deadline (the silent party loses):
/// 1. the solver reveals the step's trace: the digest of every tensor the step reads or makes, checked against
///    the leaves of the step before and of the step itself;
/// 2. the challenger names the first tensor whose digest differs from its own; the solver opens that digest
///    (shape, row root, column root);
/// 3. the challenger picks the root that differs; the two bisect it: the solver reveals a node's two children,
///    the challenger picks the one that differs, down to one row (or column), whose values the solver reveals;
/// 4. the challenger names one element of it, and the referee recomputes that element from the operator's
///    inputs, opened against the solver's own trace. A different value: the solver loses; the same: the
///    challenger loses. Moves are bound to the two parties' addresses.
/// The solver's trace is judged on its own: the referee never needs the challenger's numbers, only inputs the
/// solver itself committed to, so a solver cannot win by disputing "agreed" inputs.
contract TrainingDisputes is Owned {
    enum Stage {
        None,
        AwaitTrace, // solver
        AwaitSelect, // challenger
        AwaitOpen, // solver
        AwaitSide, // challenger
        AwaitChildren, // solver
        AwaitPick, // challenger
        AwaitLeaf, // solver
        AwaitReferee, // challenger
        Done
    }

    struct Dispute {
        uint256 taskId;
        address challenger;
        address solver;
        uint32 step;
        uint32 nLayers;
        Stage stage;
        uint64 deadline;
        uint16 rounds;
        bool byColumns;
        bool solverLost;
        uint8 depth;
        uint8 level;
        uint32 tensor;
        uint32 index;
        uint32 rows;
        uint32 cols;
        bytes32 root;
        bytes32 paramsHash;
        bytes32 traceHash;
        bytes32 rowRoot;
        bytes32 colRoot;
        bytes32 node;
        bytes32 left;
        bytes32 right;
    }

    address public immutable market;
    TrainingReferee public immutable referee;
    uint64 public moveTimeout;
    Dispute[] private _disputes;
    mapping(uint256 taskId => uint256) public activePlusOne;

    event MoveTimeoutSet(uint256 seconds_);
    event Opened(uint256 indexed disputeId, uint256 indexed taskId, address indexed challenger, uint256 step);
    event TraceRevealed(uint256 indexed disputeId, bytes32[] digests);
    event TensorSelected(uint256 indexed disputeId, uint256 tensor);
    event TensorOpened(uint256 indexed disputeId, uint256 rows, uint256 cols, bytes32 rowRoot, bytes32 colRoot);
    event SideChosen(uint256 indexed disputeId, bool byColumns, uint256 depth);
    event ChildrenRevealed(uint256 indexed disputeId, uint256 level, bytes32 left, bytes32 right);
    event Picked(uint256 indexed disputeId, uint256 level, bool right);
    event LeafRevealed(uint256 indexed disputeId, uint256 index, int256[] values);
    event Refereed(uint256 indexed disputeId, uint256 row, uint256 col, int256 computed, int256 claimed);
    event Ended(uint256 indexed disputeId, uint256 indexed taskId, bool solverLost, bool timedOut, uint256 rounds);

    error NotMarket(address caller);
    error UnknownDispute(uint256 id);
    error WrongStage(uint256 id, Stage stage);
    error NotYourMove(uint256 id, address caller);
    error BadMove(uint256 id, string why);
    error NotYet(uint256 id, uint256 at);
    error NoDispute(uint256 taskId);

    constructor(address owner_, address market_, TrainingReferee referee_, uint64 moveTimeout_) Owned(owner_) {
        market = market_;
        referee = referee_;
        _setMoveTimeout(moveTimeout_);
    }

    function setMoveTimeout(uint64 seconds_) external onlyOwner {
        _setMoveTimeout(seconds_);
    }

    function _setMoveTimeout(uint64 seconds_) private {
        if (seconds_ < 60 || seconds_ > 7 days) revert BadMove(0, "move timeout between a minute and a week");
        moveTimeout = seconds_;
        emit MoveTimeoutSet(seconds_);
    }

    function open(uint256 taskId, address challenger, address solver, uint256 step, bytes32 root, uint256 nLayers,
                  bytes32 paramsHash) external returns (uint256 id) {
        if (msg.sender != market) revert NotMarket(msg.sender);
        id = _disputes.length;
        Dispute storage d = _disputes.push();
        d.taskId = taskId;
        d.challenger = challenger;
        d.solver = solver;
        d.step = uint32(step);
        d.nLayers = uint32(nLayers);
        d.root = root;
        d.paramsHash = paramsHash;
        d.stage = Stage.AwaitTrace;
        d.deadline = uint64(block.timestamp) + moveTimeout;
        d.rounds = 1;
        activePlusOne[taskId] = id + 1;
        emit Opened(id, taskId, challenger, step);
    }

    function current(uint256 taskId) external view returns (address challenger, uint256 step) {
        uint256 a = activePlusOne[taskId];
        if (a == 0) revert NoDispute(taskId);
        Dispute storage d = _disputes[a - 1];
        return (d.challenger, d.step);
    }

    /// @notice The market ends a dispute the solver answered with a forced error's secret.
    function close(uint256 taskId) external {
        if (msg.sender != market) revert NotMarket(msg.sender);
        uint256 a = activePlusOne[taskId];
        if (a == 0) revert NoDispute(taskId);
        Dispute storage d = _disputes[a - 1];
        d.stage = Stage.Done;
        activePlusOne[taskId] = 0;
        emit Ended(a - 1, taskId, false, false, d.rounds);
    }

    // ---------------------------------------------------------------- moves

    /// @notice Solver: the digests of the step's trace. Its state part must be leaf step-1, its new state leaf
    /// step (at step 0: the state alone, leaf 0).
    function revealTrace(uint256 id, bytes32[] calldata digests, bytes32[] calldata proofPrev,
                         bytes32[] calldata proofCur) external {
        Dispute storage d = _move(id, Stage.AwaitTrace, true);
        uint256 nl = d.nLayers;
        if (digests.length != referee.traceLength(nl, d.step)) revert BadMove(id, "wrong trace length");
        bytes32[] memory state = new bytes32[](4 * nl);
        for (uint256 i = 0; i < 4 * nl; i++) state[i] = digests[referee.stateSlot(nl, d.step, i)];
        if (!referee.verifyLeaf(keccak256(abi.encodePacked(uint256(d.step), state)), d.step, proofCur, d.root)) {
            revert BadMove(id, "the new state is not the committed leaf");
        }
        if (d.step > 0) {
            // the previous leaf may be a forced error's wrapper of the real state (its own challenge is apart)
            bytes32 prev = keccak256(abi.encodePacked(uint256(d.step) - 1, digests[:4 * nl]));
            if (!referee.verifyLeaf(prev, d.step - 1, proofPrev, d.root)
                && !referee.verifyLeaf(forcedLeaf(prev), d.step - 1, proofPrev, d.root)) {
                revert BadMove(id, "the inputs are not the committed previous leaf");
            }
        }
        d.traceHash = keccak256(abi.encode(digests));
        d.stage = Stage.AwaitSelect;
        emit TraceRevealed(id, digests);
    }

    /// @notice Challenger: the tensor (an operator's output) whose digest differs from its own.
    function selectTensor(uint256 id, TrainParams calldata p, uint256 k) external {
        Dispute storage d = _move(id, Stage.AwaitSelect, false);
        _params(d, p);
        if (d.step > 0 && k < 4 * uint256(d.nLayers)) revert BadMove(id, "state tensors are inputs, not operators");
        (uint256 rows, uint256 cols) = referee.shapeOf(p, d.step, k);
        d.tensor = uint32(k);
        d.rows = uint32(rows);
        d.cols = uint32(cols);
        d.stage = Stage.AwaitOpen;
        emit TensorSelected(id, k);
    }

    /// @notice Solver: the selected digest's preimage, with the shape the task says it has.
    function openTensor(uint256 id, bytes32[] calldata digests, bytes32 rowRoot, bytes32 colRoot) external {
        Dispute storage d = _move(id, Stage.AwaitOpen, true);
        _trace(d, digests);
        if (keccak256(abi.encode(uint256(d.rows), uint256(d.cols), rowRoot, colRoot)) != digests[d.tensor]) {
            revert BadMove(id, "not the preimage of the selected digest");
        }
        d.rowRoot = rowRoot;
        d.colRoot = colRoot;
        emit TensorOpened(id, d.rows, d.cols, rowRoot, colRoot);
        if (colRoot != bytes32(0) && !referee.hasColumns(d.nLayers, d.step, d.tensor)) {
            _end(id, d, true, false); // a column tree where the format has none: not the honest commitment
            return;
        }
        d.stage = Stage.AwaitSide;
    }

    /// @notice Challenger: bisect the row tree or the column tree (the one whose root differs from its own).
    function chooseSide(uint256 id, bool byColumns) external {
        Dispute storage d = _move(id, Stage.AwaitSide, false);
        if (byColumns && !referee.hasColumns(d.nLayers, d.step, d.tensor)) revert BadMove(id, "committed by rows only");
        uint256 count = byColumns ? d.cols : d.rows;
        uint8 depth;
        while ((uint256(1) << depth) < count) depth++;
        d.byColumns = byColumns;
        d.depth = depth;
        d.node = byColumns ? d.colRoot : d.rowRoot;
        d.stage = depth == 0 ? Stage.AwaitLeaf : Stage.AwaitChildren;
        emit SideChosen(id, byColumns, depth);
    }

    function revealChildren(uint256 id, bytes32 left, bytes32 right) external {
        Dispute storage d = _move(id, Stage.AwaitChildren, true);
        if (sha256(abi.encodePacked(left, right)) != d.node) revert BadMove(id, "children do not hash to the node");
        d.left = left;
        d.right = right;
        d.stage = Stage.AwaitPick;
        emit ChildrenRevealed(id, d.level, left, right);
    }

    /// @notice Challenger: the child that differs from its own tree. Reaching a padding position ends the game:
    /// padding is zero in an honest tree, so a non-zero one there is the solver's fault, a zero one the
    /// challenger's.
    function pick(uint256 id, bool right) external {
        Dispute storage d = _move(id, Stage.AwaitPick, false);
        d.node = right ? d.right : d.left;
        d.index = d.index * 2 + (right ? 1 : 0);
        d.level += 1;
        emit Picked(id, d.level, right);
        if (d.level < d.depth) {
            d.stage = Stage.AwaitChildren;
        } else if (d.index >= (d.byColumns ? d.cols : d.rows)) {
            _end(id, d, d.node != bytes32(0), false);
        } else {
            d.stage = Stage.AwaitLeaf;
        }
    }

    /// @notice Solver: the values of the row (or column) the bisection reached.
    function revealLeaf(uint256 id, int256[] calldata values) external {
        Dispute storage d = _move(id, Stage.AwaitLeaf, true);
        if (values.length != (d.byColumns ? d.rows : d.cols)) revert BadMove(id, "wrong leaf length");
        if (referee.rowLeaf(values) != d.node) revert BadMove(id, "values do not hash to the leaf");
        d.stage = Stage.AwaitReferee;
        emit LeafRevealed(id, d.index, values);
    }

    /// @notice Challenger: element `e` of the revealed leaf, and the operator's inputs opened against the trace.
    /// The referee recomputes it; the solver loses if its value differs.
    function refereeElement(uint256 id, TrainParams calldata p, bytes32[] calldata digests, int256[] calldata leaf,
                            uint256 e, Opening[] calldata o, Sample calldata s) external {
        Dispute storage d = _move(id, Stage.AwaitReferee, false);
        _params(d, p);
        _trace(d, digests);
        if (referee.rowLeaf(leaf) != d.node) revert BadMove(id, "not the revealed leaf");
        if (e >= leaf.length) revert BadMove(id, "element beyond the leaf");
        (uint256 i, uint256 j) = d.byColumns ? (e, uint256(d.index)) : (uint256(d.index), e);
        int256 computed = referee.recompute(p, d.step, digests, d.tensor, i, j, o, s);
        emit Refereed(id, i, j, computed, leaf[e]);
        _end(id, d, computed != leaf[e], false);
    }

    /// @notice Anyone, after a move's deadline: the party whose move it was loses.
    function timeout(uint256 id) external {
        Dispute storage d = _dispute(id);
        Stage st = d.stage;
        if (st == Stage.None || st == Stage.Done) revert WrongStage(id, st);
        if (block.timestamp <= d.deadline) revert NotYet(id, d.deadline + 1);
        _end(id, d, _solverMoves(st), true);
    }

    // ---------------------------------------------------------------- views

    /// @notice The leaf a forced task commits for a forced step: a wrapper of the real state's leaf.
    function forcedLeaf(bytes32 leaf) public pure returns (bytes32) {
        return keccak256(abi.encodePacked("tessera-forced-error", leaf));
    }

    function disputeCount() external view returns (uint256) {
        return _disputes.length;
    }

    function getDispute(uint256 id) external view returns (Dispute memory) {
        return _dispute(id);
    }

    function activeDispute(uint256 taskId) external view returns (bool, uint256) {
        uint256 a = activePlusOne[taskId];
        return (a != 0, a == 0 ? 0 : a - 1);
    }

    // ---------------------------------------------------------------- internals

    function _dispute(uint256 id) private view returns (Dispute storage) {
        if (id >= _disputes.length) revert UnknownDispute(id);
        return _disputes[id];
    }

    function _solverMoves(Stage st) private pure returns (bool) {
        return st == Stage.AwaitTrace || st == Stage.AwaitOpen || st == Stage.AwaitChildren || st == Stage.AwaitLeaf;
    }

    function _move(uint256 id, Stage expected, bool bySolver) private returns (Dispute storage d) {
        d = _dispute(id);
        if (d.stage != expected) revert WrongStage(id, d.stage);
        if (msg.sender != (bySolver ? d.solver : d.challenger)) revert NotYourMove(id, msg.sender);
        if (block.timestamp > d.deadline) revert BadMove(id, "the move's deadline passed");
        d.deadline = uint64(block.timestamp) + moveTimeout;
        d.rounds += 1;
    }

    function _params(Dispute storage d, TrainParams calldata p) private view {
        if (keccak256(abi.encode(p)) != d.paramsHash) revert BadMove(0, "not the task's parameters");
    }

    function _trace(Dispute storage d, bytes32[] calldata digests) private view {
        if (keccak256(abi.encode(digests)) != d.traceHash) revert BadMove(0, "not the revealed trace");
    }

    function _end(uint256 id, Dispute storage d, bool solverLost, bool timedOut) private {
        d.stage = Stage.Done;
        d.solverLost = solverLost;
        activePlusOne[d.taskId] = 0;
        emit Ended(id, d.taskId, solverLost, timedOut, d.rounds);
        ITrainingMarketResolver(market).resolve(d.taskId, d.challenger, d.step, solverLost);
    }
}
