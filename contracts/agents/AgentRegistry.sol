// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Owned} from "../lib/Owned.sol";
import {EIP712Domain} from "../lib/EIP712.sol";
import {SignatureChecker} from "../lib/SignatureChecker.sol";

interface IERC721Receiver {
    function onERC721Received(address operator, address from, uint256 tokenId, bytes calldata data)
        external
        returns (bytes4);
}

/// @title Agents as transferable ERC-721 identities, with a service card, a proven payout wallet, and a
/// reputation that rests only on payments the contracts themselves recorded
/// @notice An agent's card (endpoint, skills, prices, accepted payment schemes) lives off chain at `tokenURI`;
/// its hash is pinned here. A payout wallet is set only with that wallet's own EIP-712 signature (ERC-1271
/// for contract wallets), bound to the agent, its current owner and a nonce; a transfer clears it, so the new
/// owner proves one again. Reputation entries come from recorders (the JobBoard, payment receipts) that the
/// registry's owner lists: a payment by the agent's own owner or payout wallet counts for nothing, a rating
/// needs a recorded payment by the rater, and the score averages distinct payers (one each, their latest).
contract AgentRegistry is Owned, EIP712Domain {
    bytes32 public constant PAYOUT_TYPEHASH =
        keccak256("PayoutWallet(uint256 agentId,address wallet,address owner,uint256 nonce,uint256 deadline)");

    struct Agent {
        bytes32 cardHash;
        address payout;
        uint64 registered;
        uint64 payoutNonce;
    }

    struct Reputation {
        uint128 paidVolume;
        uint32 payers;
        uint32 raters;
        uint64 scoreSum;
    }

    struct Payment {
        uint256 agentId;
        address payer;
        uint128 amount;
        bool rated;
    }

    string public constant name = "Tessera Agent";
    string public constant symbol = "AGENT";

    uint256 public nextId = 1;
    mapping(uint256 id => Agent) public agents;
    mapping(uint256 id => string) private _uris;
    mapping(uint256 id => address) private _owners;
    mapping(address owner => uint256) public balanceOf;
    mapping(uint256 id => address) public getApproved;
    mapping(address owner => mapping(address operator => bool)) public isApprovedForAll;

    mapping(address recorder => bool) public recorders;
    mapping(uint256 id => Reputation) public reputation;
    mapping(uint256 id => mapping(address payer => uint256)) public paidBy;
    mapping(uint256 id => mapping(address payer => uint8)) public scoreOf; // 1 + score, 0 = not rated
    mapping(bytes32 ref => Payment) public payments;

    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);
    event Approval(address indexed owner, address indexed approved, uint256 indexed tokenId);
    event ApprovalForAll(address indexed owner, address indexed operator, bool approved);
    event Registered(uint256 indexed id, address indexed owner, bytes32 cardHash, string uri);
    event CardUpdated(uint256 indexed id, bytes32 cardHash, string uri);
    event PayoutSet(uint256 indexed id, address indexed wallet);
    event RecorderSet(address indexed recorder, bool allowed);
    event PaymentRecorded(bytes32 indexed ref, uint256 indexed id, address indexed payer, uint256 amount);
    event PaymentIgnored(bytes32 indexed ref, uint256 indexed id, address indexed payer, uint256 amount);
    event Rated(bytes32 indexed ref, uint256 indexed id, address indexed payer, uint8 score);

    error UnknownAgent(uint256 id);
    error NotAgentOwner(uint256 id, address caller);
    error NotAuthorized(address caller, uint256 id);
    error WrongFrom(address from, address owner);
    error UnsafeRecipient(address to);
    error BadPayoutSignature(address wallet);
    error SignatureExpired(uint256 deadline);
    error NotRecorder(address caller);
    error PaymentExists(bytes32 ref);
    error NotYourPayment(bytes32 ref, address caller);
    error AlreadyRated(bytes32 ref);
    error ScoreOutOfRange(uint8 score);

    constructor(address owner_) Owned(owner_) EIP712Domain("Tessera AgentRegistry", "1") {}

    // -- identity -----------------------------------------------------------------------------
    function register(string calldata uri, bytes32 cardHash) external returns (uint256 id) {
        id = nextId++;
        agents[id] = Agent(cardHash, address(0), uint64(block.timestamp), 0);
        _uris[id] = uri;
        _owners[id] = msg.sender;
        balanceOf[msg.sender] += 1;
        emit Transfer(address(0), msg.sender, id);
        emit Registered(id, msg.sender, cardHash, uri);
    }

    function updateCard(uint256 id, string calldata uri, bytes32 cardHash) external {
        _onlyAgentOwner(id);
        agents[id].cardHash = cardHash;
        _uris[id] = uri;
        emit CardUpdated(id, cardHash, uri);
    }

    /// @notice Set the payout wallet with the wallet's own signature over (agent, wallet, owner, nonce, deadline).
    function setPayoutWallet(uint256 id, address wallet, uint256 deadline, bytes calldata signature) external {
        address owner_ = _onlyAgentOwner(id);
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        Agent storage a = agents[id];
        bytes32 digest = _hashTyped(keccak256(abi.encode(PAYOUT_TYPEHASH, id, wallet, owner_, a.payoutNonce, deadline)));
        if (!SignatureChecker.isValidSignatureNow(wallet, digest, signature)) revert BadPayoutSignature(wallet);
        a.payoutNonce += 1;
        a.payout = wallet;
        emit PayoutSet(id, wallet);
    }

    /// @notice Where payments to the agent go: its proven payout wallet, else its owner.
    function payoutOf(uint256 id) public view returns (address) {
        address wallet = agents[id].payout;
        return wallet != address(0) ? wallet : ownerOf(id);
    }

    function payoutDigest(uint256 id, address wallet, uint256 deadline) external view returns (bytes32) {
        return _hashTyped(keccak256(abi.encode(PAYOUT_TYPEHASH, id, wallet, ownerOf(id), agents[id].payoutNonce,
                                               deadline)));
    }

    // -- reputation ---------------------------------------------------------------------------
    function setRecorder(address recorder, bool allowed) external onlyOwner {
        recorders[recorder] = allowed;
        emit RecorderSet(recorder, allowed);
    }

    /// @notice A recorder reports a payment it made to the agent. Self-payments are noted and ignored.
    function recordPayment(bytes32 ref, uint256 id, address payer, uint256 amount) external {
        if (!recorders[msg.sender]) revert NotRecorder(msg.sender);
        bytes32 key = keccak256(abi.encode(msg.sender, ref)); // one namespace per recorder
        if (payments[key].payer != address(0)) revert PaymentExists(ref);
        if (payer == ownerOf(id) || payer == agents[id].payout || amount == 0) {
            emit PaymentIgnored(key, id, payer, amount);
            return;
        }
        payments[key] = Payment(id, payer, uint128(amount), false);
        Reputation storage r = reputation[id];
        r.paidVolume += uint128(amount);
        if (paidBy[id][payer] == 0) r.payers += 1;
        paidBy[id][payer] += amount;
        emit PaymentRecorded(key, id, payer, amount);
    }

    /// @notice The payer of a recorded payment rates the agent 0..100, once per payment; each payer counts
    /// once in the score, with their latest rating.
    function rate(bytes32 key, uint8 score) external {
        if (score > 100) revert ScoreOutOfRange(score);
        Payment storage p = payments[key];
        if (p.payer != msg.sender) revert NotYourPayment(key, msg.sender);
        if (p.rated) revert AlreadyRated(key);
        p.rated = true;
        Reputation storage r = reputation[p.agentId];
        uint8 previous = scoreOf[p.agentId][msg.sender];
        if (previous == 0) {
            r.raters += 1;
            r.scoreSum += score;
        } else {
            r.scoreSum = r.scoreSum + score - (previous - 1);
        }
        scoreOf[p.agentId][msg.sender] = score + 1;
        emit Rated(key, p.agentId, msg.sender, score);
    }

    /// @notice (score 0..100, paid volume behind it, distinct paying payers, distinct raters)
    function scoreOfAgent(uint256 id) external view returns (uint256 score, uint256 volume, uint256 payers, uint256 raters) {
        Reputation memory r = reputation[id];
        score = r.raters == 0 ? 0 : r.scoreSum / r.raters;
        return (score, r.paidVolume, r.payers, r.raters);
    }

    // -- ERC-721 ------------------------------------------------------------------------------
    function ownerOf(uint256 id) public view returns (address owner_) {
        owner_ = _owners[id];
        if (owner_ == address(0)) revert UnknownAgent(id);
    }

    function tokenURI(uint256 id) external view returns (string memory) {
        ownerOf(id);
        return _uris[id];
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 || interfaceId == 0x80ac58cd || interfaceId == 0x5b5e139f;
    }

    function approve(address spender, uint256 id) external {
        address owner_ = ownerOf(id);
        if (msg.sender != owner_ && !isApprovedForAll[owner_][msg.sender]) revert NotAuthorized(msg.sender, id);
        getApproved[id] = spender;
        emit Approval(owner_, spender, id);
    }

    function setApprovalForAll(address operator, bool approved) external {
        isApprovedForAll[msg.sender][operator] = approved;
        emit ApprovalForAll(msg.sender, operator, approved);
    }

    function transferFrom(address from, address to, uint256 id) public {
        address owner_ = ownerOf(id);
        if (from != owner_) revert WrongFrom(from, owner_);
        if (to == address(0)) revert ZeroAddress();
        if (msg.sender != owner_ && !isApprovedForAll[owner_][msg.sender] && getApproved[id] != msg.sender) {
            revert NotAuthorized(msg.sender, id);
        }
        balanceOf[from] -= 1;
        balanceOf[to] += 1;
        _owners[id] = to;
        delete getApproved[id];
        if (agents[id].payout != address(0)) {
            agents[id].payout = address(0); // the new owner proves a payout wallet of its own
            emit PayoutSet(id, address(0));
        }
        emit Transfer(from, to, id);
    }

    function safeTransferFrom(address from, address to, uint256 id) external {
        safeTransferFrom(from, to, id, "");
    }

    function safeTransferFrom(address from, address to, uint256 id, bytes memory data) public {
        transferFrom(from, to, id);
        if (to.code.length > 0
            && IERC721Receiver(to).onERC721Received(msg.sender, from, id, data) != IERC721Receiver.onERC721Received.selector)
        {
            revert UnsafeRecipient(to);
        }
    }

    function _onlyAgentOwner(uint256 id) private view returns (address owner_) {
        owner_ = ownerOf(id);
        if (msg.sender != owner_) revert NotAgentOwner(id, msg.sender);
    }
}
