// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice What the registry needs of ezkl's reusable Halo2 verifier.
interface IReusableVerifier {
    function registerVka(bytes32[] memory vka) external returns (bytes32 digest);
}

/// @title Models whose inferences can be verified on-chain.
/// @notice A model id is keccak256(abi.encode(onnxHash, settingsHash, vkHash)): the circuit's ONNX graph, its
/// ezkl settings (scales, visibility, logrows) and its verifying key. Proofs are checked by a reusable Halo2
/// verifier against the model's VKA (the verifying key compiled to words), which the registry stores once in a
/// data contract so that verifications do not pay for it in calldata. Entries are immutable except for the
/// metadata URI, the owner and retirement: a verified inference always refers to exactly one circuit.
contract ModelRegistry {
    uint256 public constant MAX_VKA_WORDS = 2048; // 64 KiB; ezkl VKAs are a few KiB

    struct Model {
        address owner;
        address verifier;
        address vka; // data contract: a STOP byte, then the VKA words
        uint32 batchSize; // inferences per proof
        uint16 inputInstances; // leading public instances that describe the input; the rest describe the output
        bool retired;
        bytes32 vkaDigest; // keccak256 of the VKA words: what the verifier reports for this key
        string metadataURI;
    }

    mapping(bytes32 => Model) private _models;

    event ModelRegistered(bytes32 indexed modelId, address indexed owner, bytes32 onnxHash, bytes32 settingsHash,
        bytes32 vkHash);
    event ModelVerifierSet(bytes32 indexed modelId, address indexed verifier, address vka, bytes32 vkaDigest,
        uint32 batchSize, uint16 inputInstances);
    event ModelMetadataSet(bytes32 indexed modelId, string metadataURI);
    event ModelTransferred(bytes32 indexed modelId, address indexed from, address indexed to);
    event ModelRetired(bytes32 indexed modelId);

    error ModelExists(bytes32 modelId);
    error UnknownModel(bytes32 modelId);
    error NotModelOwner(bytes32 modelId, address caller);
    error BadVka(uint256 words, uint256 maxWords);
    error BadShape(uint32 batchSize, uint16 inputInstances);
    error NotAContract(address verifier);
    error VkaRejected(bytes32 expected, bytes32 got);
    error ZeroAddress();

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
        modelId = keccak256(abi.encode(onnxHash, settingsHash, vkHash));
        if (_models[modelId].owner != address(0)) revert ModelExists(modelId);
        emit ModelRegistered(modelId, msg.sender, onnxHash, settingsHash, vkHash);
        _register(modelId, verifier, vka, batchSize, inputInstances);
        _models[modelId].metadataURI = metadataURI;
        emit ModelMetadataSet(modelId, metadataURI);
    }

    function _register(bytes32 modelId, address verifier, bytes32[] calldata vka, uint32 batchSize,
        uint16 inputInstances) private {
        if (vka.length == 0 || vka.length > MAX_VKA_WORDS) revert BadVka(vka.length, MAX_VKA_WORDS);
        if (batchSize == 0) revert BadShape(batchSize, inputInstances);
        if (verifier.code.length == 0) revert NotAContract(verifier);
        bytes32 digest = keccak256(abi.encodePacked(vka));
        address pointer = _store(vka);
        Model storage m = _models[modelId];
        m.owner = msg.sender;
        m.verifier = verifier;
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

    /// @notice Stop accepting new proofs for this model (e.g. a flaw found in it); past records stay.
    function retireModel(bytes32 modelId) external {
        _owned(modelId).retired = true;
        emit ModelRetired(modelId);
    }

    function getModel(bytes32 modelId) external view returns (Model memory m) {
        m = _models[modelId];
        if (m.owner == address(0)) revert UnknownModel(modelId);
    }

    /// @notice Whether proofs of the model can be verified now (registered, not retired), and how many leading
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
