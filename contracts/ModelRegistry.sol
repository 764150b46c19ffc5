// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Owned} from "./lib/Owned.sol";

/// @notice What the registry needs of ezkl's reusable Halo2 verifier.
interface IReusableVerifier {
    function registerVka(bytes32[] memory vka) external returns (bytes32 digest);
}

/// @title Models whose inferences can be verified on-chain.
/// @notice A model id is keccak256(abi.encode(onnxHash, settingsHash, vkHash, verifierCodeHash, vkaDigest,
/// batchSize, inputInstances)): the circuit's ONNX graph, its ezkl settings, its verifying key, the code of the
/// verifier that checks its proofs, the VKA that verifier is given, and how its instances are read. Everything
/// that decides whether a proof is valid, or what a valid proof means, is in the id, so whoever registers a
/// model first chooses nothing: the same content gives the same id on every chain, and a squatter's
/// registration is the author's. Verifier code must be on an allow-list kept by governance (a verifier whose
/// code is fixed but whose storage holds a kill switch would otherwise keep its code hash and change validity).
/// Proofs are checked against the model's VKA (the verifying key compiled to words), which the registry stores
/// once in a data contract so that verifications do not pay for it in calldata. The registrant owns only the
/// metadata URI. Governance can retire a model (a flaw found in its circuit): that stops new obligations on it
/// (escrow accounts, coprocessor requests) but never the settlement of obligations already made.
contract ModelRegistry is Owned {
    uint256 public constant MAX_VKA_WORDS = 2048; // 64 KiB; ezkl VKAs are a few KiB

    struct Model {
        address owner;
        address verifier;
        bytes32 verifierCodeHash; // committed in the model id; checked again before every verification
        address vka; // data contract: a STOP byte, then the VKA words
        uint32 batchSize; // inferences per proof
        uint16 inputInstances; // leading public instances that describe the input; the rest describe the output
        bool retired;
        bytes32 vkaDigest; // keccak256 of the VKA words: what the verifier reports for this key
        string metadataURI;
    }

    mapping(bytes32 => Model) private _models;
    /// @notice verifier runtime code hashes that may be registered (governance)
    mapping(bytes32 => bool) public verifierCodeAllowed;

    event ModelRegistered(bytes32 indexed modelId, address indexed owner, bytes32 onnxHash, bytes32 settingsHash,
        bytes32 vkHash);
    event ModelVerifierSet(bytes32 indexed modelId, address indexed verifier, address vka, bytes32 vkaDigest,
        uint32 batchSize, uint16 inputInstances);
    event ModelMetadataSet(bytes32 indexed modelId, string metadataURI);
    event ModelTransferred(bytes32 indexed modelId, address indexed from, address indexed to);
    event ModelRetired(bytes32 indexed modelId);
    event VerifierCodeSet(bytes32 indexed codeHash, bool allowed);

    error ModelExists(bytes32 modelId);
    error UnknownModel(bytes32 modelId);
    error NotModelOwner(bytes32 modelId, address caller);
    error BadVka(uint256 words, uint256 maxWords);
    error BadShape(uint32 batchSize, uint16 inputInstances);
    error NotAContract(address verifier);
    error VkaRejected(bytes32 expected, bytes32 got);
    error VerifierNotAllowed(address verifier, bytes32 codeHash);

    constructor(address owner_, bytes32 verifierCodeHash) Owned(owner_) {
        _setVerifierCode(verifierCodeHash, true);
    }

    /// @notice Allow (or stop allowing) verifier code for new registrations. Models already registered keep
    /// the code they committed to: their ids name it.
    function setVerifierCode(bytes32 codeHash, bool allowed) external onlyOwner {
        _setVerifierCode(codeHash, allowed);
    }

    function _setVerifierCode(bytes32 codeHash, bool allowed) private {
        verifierCodeAllowed[codeHash] = allowed;
        emit VerifierCodeSet(codeHash, allowed);
    }

    /// @notice The id a model with these parts gets (what `tessera zk compile` computes off-chain).
    function modelIdOf(bytes32 onnxHash, bytes32 settingsHash, bytes32 vkHash, bytes32 verifierCodeHash,
        bytes32 vkaDigest, uint32 batchSize, uint16 inputInstances) public pure returns (bytes32) {
        return keccak256(abi.encode(onnxHash, settingsHash, vkHash, verifierCodeHash, vkaDigest, batchSize,
            inputInstances));
    }

    /// @notice Register a compiled model. `vka` is the model's verifying key as ezkl's `create_evm_vka` writes it.
    function registerModel(
        bytes32 onnxHash,
        bytes32 settingsHash,
        bytes32 vkHash,
        address verifier,
        bytes32[] calldata vka,
        uint32 batchSize,
        uint16 inputInstances,
        string calldata metadataURI
    ) external returns (bytes32 modelId) {
        if (vka.length == 0 || vka.length > MAX_VKA_WORDS) revert BadVka(vka.length, MAX_VKA_WORDS);
        if (batchSize == 0) revert BadShape(batchSize, inputInstances);
        if (verifier.code.length == 0) revert NotAContract(verifier);
        bytes32 codeHash = verifier.codehash;
        if (!verifierCodeAllowed[codeHash]) revert VerifierNotAllowed(verifier, codeHash);
        bytes32 digest = keccak256(abi.encodePacked(vka));
        modelId = modelIdOf(onnxHash, settingsHash, vkHash, codeHash, digest, batchSize, inputInstances);
        if (_models[modelId].owner != address(0)) revert ModelExists(modelId);
        emit ModelRegistered(modelId, msg.sender, onnxHash, settingsHash, vkHash);
        _models[modelId].metadataURI = metadataURI;
        emit ModelMetadataSet(modelId, metadataURI);
        _register(modelId, verifier, codeHash, vka, digest, batchSize, inputInstances); // its external call last
    }

    function _register(bytes32 modelId, address verifier, bytes32 codeHash, bytes32[] calldata vka, bytes32 digest,
        uint32 batchSize, uint16 inputInstances) private {
        address pointer = _store(vka);
        Model storage m = _models[modelId];
        m.owner = msg.sender;
        m.verifier = verifier;
        m.verifierCodeHash = codeHash;
        m.vka = pointer;
        m.batchSize = batchSize;
        m.inputInstances = inputInstances;
        m.vkaDigest = digest;
        emit ModelVerifierSet(modelId, verifier, pointer, digest, batchSize, inputInstances);
        // the verifier only accepts keys registered with it; registering a key twice is harmless
        bytes32 got = IReusableVerifier(verifier).registerVka(vka);
        if (got != digest) revert VkaRejected(digest, got);
    }

    function setMetadataURI(bytes32 modelId, string calldata metadataURI) external {
        _owned(modelId).metadataURI = metadataURI;
        emit ModelMetadataSet(modelId, metadataURI);
    }

    function transferModel(bytes32 modelId, address to) external {
        if (to == address(0)) revert ZeroAddress();
        Model storage m = _owned(modelId);
        m.owner = to;
        emit ModelTransferred(modelId, msg.sender, to);
    }

    /// @notice Governance: no new obligations on this model (a flaw found in its circuit). Open obligations
    /// still settle: proofs stay verifiable, so retiring cannot cancel a payment or a challenge.
    function retireModel(bytes32 modelId) external onlyOwner {
        Model storage m = _models[modelId];
        if (m.owner == address(0)) revert UnknownModel(modelId);
        m.retired = true;
        emit ModelRetired(modelId);
    }

    function getModel(bytes32 modelId) external view returns (Model memory m) {
        m = _models[modelId];
        if (m.owner == address(0)) revert UnknownModel(modelId);
    }

    /// @notice Whether new obligations may use the model (registered, not retired), and how many leading
    /// public instances describe its input: what a contract that requests inferences needs, in two words.
    function usable(bytes32 modelId) external view returns (bool ok, uint16 inputInstances) {
        Model storage m = _models[modelId];
        return (m.owner != address(0) && !m.retired, m.inputInstances);
    }

    function exists(bytes32 modelId) external view returns (bool) {
        return _models[modelId].owner != address(0);
    }

    function _owned(bytes32 modelId) private view returns (Model storage m) {
        m = _models[modelId];
        if (m.owner == address(0)) revert UnknownModel(modelId);
        if (m.owner != msg.sender) revert NotModelOwner(modelId, msg.sender);
    }

    /// @dev Deploy the words as the code of a new contract (SSTORE2): reading them back costs ~3 gas a word
    /// instead of 2,100 for storage or 16 a byte of calldata on every verification.
    function _store(bytes32[] calldata words) private returns (address pointer) {
        bytes memory runtime = abi.encodePacked(hex"00", words); // STOP first: the data is never executable
        // creation code: copy the runtime that follows this 12-byte header into memory and return it
        bytes memory init = abi.encodePacked(hex"61", uint16(runtime.length), hex"80600c6000396000f3", runtime);
        assembly {
            pointer := create(0, add(init, 0x20), mload(init))
        }
        if (pointer == address(0)) revert BadVka(words.length, MAX_VKA_WORDS);
    }
}
