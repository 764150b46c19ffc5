// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Coordinator} from "../coprocessor/Coordinator.sol";
import {TesseraConsumer} from "../coprocessor/TesseraConsumer.sol";
import {IERC20, SafeTransfer} from "../lib/SafeTransfer.sol";

/// @title A DAO's governance guard: every new proposal is checked by a model before it may go to a vote.
/// @notice Proposing asks the Coordinator for a zk-proved inference of the guard's model on the proposal's
/// features; the callback admits the proposal when the model's "admit" logit beats its "reject" logit, and
/// records the InferenceVerifier id of the proof. The model takes its features as public inputs, so this
/// contract computes the input commitment itself and no proposer can have the model judge other numbers.
/// The proposer pays: the node's fee in the stablecoin and the gas deposit in ETH.
contract GovernanceGuard is TesseraConsumer {
    using SafeTransfer for IERC20;

    enum Status {
        None,
        Pending,
        Admitted,
        Rejected,
        Expired
    }

    struct Proposal {
        address proposer;
        Status status;
        uint64 requestId;
        bytes32 inferenceId;
        int256 rejectScore;
        int256 admitScore;
        uint256[] features;
        string description;
    }

    uint256 public constant MAX_FEATURE = 1_000_000;

    bytes32 public immutable modelId;
    uint8 public immutable inputScale;
    uint8 public immutable featureCount;
    uint128 public immutable fee;
    uint128 public immutable maxGasPrice;
    uint32 public immutable callbackGasLimit;
    uint32 public immutable ttl;

    uint256 public proposalCount;
    mapping(uint256 => Proposal) private _proposals;
    mapping(uint64 => uint256) public proposalOfRequest;

    event ProposalSubmitted(uint256 indexed proposalId, address indexed proposer, uint64 requestId, string description);
    event ProposalAdmitted(uint256 indexed proposalId, bytes32 inferenceId, int256 rejectScore, int256 admitScore);
    event ProposalRejected(uint256 indexed proposalId, bytes32 inferenceId, int256 rejectScore, int256 admitScore);
    event ProposalExpired(uint256 indexed proposalId);
    event GasRefunded(uint256 indexed proposalId, address indexed proposer, uint256 amount);

    error BadFeatures(uint256 given, uint8 expected);
    error FeatureTooLarge(uint256 index, uint256 value);
    error NotPending(uint256 proposalId, Status status);
    error NotExpired(uint256 proposalId);
    error UnprovedResult(uint64 requestId);
    error GasDepositTooLow(uint256 sent, uint256 needed);
    error NothingToRefund(uint256 proposalId);
    error EthTransferFailed();
    error RequestIdMismatch();

    /// @notice ETH each proposal sent for gas; what its request did not spend goes back to its proposer
    mapping(uint256 => uint256) public gasDepositOf;

    constructor(Coordinator coordinator_, bytes32 modelId_, uint8 inputScale_, uint8 featureCount_, uint128 fee_,
        uint128 maxGasPrice_, uint32 callbackGasLimit_, uint32 ttl_) TesseraConsumer(coordinator_) {
        modelId = modelId_;
        inputScale = inputScale_;
        featureCount = featureCount_;
        fee = fee_;
        maxGasPrice = maxGasPrice_;
        callbackGasLimit = callbackGasLimit_;
        ttl = ttl_;
    }

    /// @notice The request a proposal makes (its ETH deposit is `coordinator.gasDeposit(params)`).
    function requestParams(uint256[] calldata features) public view returns (Coordinator.RequestParams memory p) {
        uint256[] memory felts = new uint256[](features.length);
        for (uint256 i = 0; i < features.length; i++) {
            felts[i] = _felt(int256(features[i]), inputScale);
        }
        p = Coordinator.RequestParams({
            modelId: modelId, inputHash: _inputHash(felts), fee: fee, maxGasPrice: maxGasPrice,
            callbackGasLimit: callbackGasLimit, ttl: ttl, redundancy: 1, mode: Coordinator.ProofMode.Zk, count: 1,
            period: 0
        });
    }

    /// @notice Submit a proposal. Pays `fee` stablecoin (approve this contract) and send the gas deposit as value.
    function propose(string calldata description, uint256[] calldata features)
        external
        payable
        returns (uint256 proposalId)
    {
        if (features.length != featureCount) revert BadFeatures(features.length, featureCount);
        int256[] memory values = new int256[](features.length);
        for (uint256 i = 0; i < features.length; i++) {
            if (features[i] > MAX_FEATURE) revert FeatureTooLarge(i, features[i]);
            values[i] = int256(features[i]);
        }
        Coordinator.RequestParams memory p = requestParams(features);
        // each proposal pays its own gas budget: none draws on ETH this guard holds for others
        uint256 needed = coordinator.gasDeposit(p);
        if (msg.value < needed) revert GasDepositTooLow(msg.value, needed);
        proposalId = ++proposalCount;
        gasDepositOf[proposalId] = msg.value;
        Proposal storage prop = _proposals[proposalId];
        prop.proposer = msg.sender;
        prop.status = Status.Pending;
        prop.features = features;
        prop.description = description;
        // effects before the calls: the Coordinator numbers requests in order, so this one's id is known now
        uint64 requestId = coordinator.requestCount() + 1;
        prop.requestId = requestId;
        proposalOfRequest[requestId] = proposalId;
        emit ProposalSubmitted(proposalId, msg.sender, requestId, description);
        IERC20(address(coordinator.stablecoin())).safeTransferFrom(msg.sender, address(this), fee);
        // the input the node runs: the features as integers (0 fractional bits)
        if (_requestInference(p, abi.encode(values, uint8(0)), msg.value) != requestId) revert RequestIdMismatch();
    }

    function _onInferenceResult(uint64 requestId, uint32, uint256[] calldata output, bytes32 inferenceId)
        internal
        override
    {
        if (inferenceId == bytes32(0)) revert UnprovedResult(requestId);
        uint256 proposalId = proposalOfRequest[requestId];
        Proposal storage prop = _proposals[proposalId];
        if (prop.status != Status.Pending) revert NotPending(proposalId, prop.status);
        int256 reject = _signed(output[0]);
        int256 admit = _signed(output[1]);
        prop.inferenceId = inferenceId;
        prop.rejectScore = reject;
        prop.admitScore = admit;
        if (admit > reject) {
            prop.status = Status.Admitted;
            emit ProposalAdmitted(proposalId, inferenceId, reject, admit);
        } else {
            prop.status = Status.Rejected;
            emit ProposalRejected(proposalId, inferenceId, reject, admit);
        }
    }

    /// @notice A proposal whose request was refunded (no node answered in time) expires; propose it again.
    function expire(uint256 proposalId) external {
        Proposal storage prop = _proposals[proposalId];
        if (prop.status != Status.Pending) revert NotPending(proposalId, prop.status);
        if (coordinator.getJob(prop.requestId, 0).status != Coordinator.JobStatus.Refunded) revert NotExpired(proposalId);
        prop.status = Status.Expired;
        emit ProposalExpired(proposalId);
    }

    /// @notice Once a proposal is decided or expired, send its proposer the gas deposit its request did not spend
    /// (the Coordinator returned it to this guard). Anyone may call; the ETH goes to the proposer.
    function refundGas(uint256 proposalId) external {
        Proposal storage prop = _proposals[proposalId];
        if (prop.status == Status.Pending) revert NotPending(proposalId, prop.status);
        uint256 deposit = gasDepositOf[proposalId];
        if (deposit == 0) revert NothingToRefund(proposalId);
        uint256 amount = deposit - coordinator.getJob(prop.requestId, 0).ethSpent;
        gasDepositOf[proposalId] = 0;
        emit GasRefunded(proposalId, prop.proposer, amount);
        coordinator.withdrawEth(amount);
        (bool ok,) = prop.proposer.call{value: amount}("");
        if (!ok) revert EthTransferFailed();
    }

    function getProposal(uint256 proposalId) external view returns (Proposal memory) {
        return _proposals[proposalId];
    }
}
