"""Deploy the protocol and keep a manifest that mirrors the on-chain Registry.

`deploy_protocol` is idempotent: when the manifest for this chain matches what is on chain
(same genesis, code present, same artifacts) it changes nothing. A manifest that points at a
chain that was reset (a restarted anvil, a deleted embedded chain) is replaced by a fresh
deployment; one whose artifacts differ from the current build is refused unless ``fresh``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak

from ..chain.artifacts import load_artifact
from ..chain.base import Chain
from ..chain.contract import Contract, Signer
from ..errors import DeploymentError

MANIFEST_VERSION = 1
DEFAULT_BASE_EMISSION = 10**18  # 1 TSR per period, as Bittensor's 1 TAO per block
DEFAULT_BLOCK_INTERVAL = 1
# market defaults (governance can change them with ProviderRegistry.setParams / Market.setParams)
MIN_PROVIDER_BOND = 10 * 10**18  # TSR
UNBONDING_PERIOD = 7 * 24 * 3600
SLASH_BPS = 2000  # 20% of the bond per missed-SLA lease
TAKE_BPS = 100  # 1% protocol fee on lease payments (capped at 5% by the contract)
HEARTBEAT_SLA = 600  # seconds a provider may stay silent on a funded lease
GRACE_PERIOD = 3600  # seconds a dry lease stays paused (workload kept) awaiting a top-up
START_TIMEOUT = 600  # seconds a won lease waits for the provider's acknowledgement before a full refund
DISPUTE_MOVE_TIMEOUT = 3600  # seconds each party of a training dispute has for its move


def registry_key(name: str) -> bytes:
    raw = name.encode()
    if len(raw) > 32:
        raise DeploymentError(f"registry name {name!r} is longer than 32 bytes: use a shorter name")
    return raw.ljust(32, b"\0")


@dataclass
class ContractRecord:
    address: str
    artifact_hash: str
    block: int


@dataclass
class Manifest:
    chain_id: int
    backend: str
    genesis_hash: str
    deployer: str
    block: int
    contracts: dict[str, ContractRecord]
    params: dict[str, Any] = field(default_factory=dict)
    stablecoin_is_dev: bool = True
    version: int = MANIFEST_VERSION

    def address(self, name: str) -> str:
        try:
            return self.contracts[name].address
        except KeyError:
            raise DeploymentError(
                f"the deployment on chain {self.chain_id} has no {name}: run `tessera deploy --fresh`"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Manifest":
        try:
            contracts = {k: ContractRecord(**v) for k, v in raw["contracts"].items()}
            return cls(**{**raw, "contracts": contracts})
        except (KeyError, TypeError) as e:
            raise DeploymentError(f"malformed deployment manifest ({e}): delete it and run `tessera deploy`") from e


def manifest_path(deployments_dir: Path, chain_id: int) -> Path:
    return deployments_dir / f"{chain_id}.json"


def read_manifest(path: Path) -> Manifest | None:
    if not path.exists():
        return None
    try:
        return Manifest.from_dict(json.loads(path.read_text()))
    except ValueError as e:
        raise DeploymentError(f"{path} is not valid JSON ({e}): delete it and run `tessera deploy`") from e


def write_manifest(path: Path, manifest: Manifest) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)  # atomic: a crash never leaves half a manifest


def manifest_matches_chain(chain: Chain, manifest: Manifest) -> bool:
    """True when the manifest describes this very chain and its contracts still exist."""
    if manifest.chain_id != chain.chain_id or manifest.genesis_hash != "0x" + chain.get_block(0).hash.hex():
        return False
    if manifest.block > chain.block_number():
        return False
    return all(chain.get_code(rec.address) for rec in manifest.contracts.values())


# Root network (subnet 0): at most 64 root validators weigh subnets; an epoch every 100 blocks.
# Fields: maxUids, maxValidators, tempo, immunityPeriod, revealWindow, kappa, bondsMovingAverage, yumaVersion
ROOT_HYPERPARAMETERS = (64, 64, 100, 0, 100, 32767, 900_000, 0)
# A root UID costs TSR (recycled into emission) and root epochs prune the lowest-stake one when root is full,
# so free registrations cannot fill root (governance can change it: SubnetRegistry.setRegistrationCost(0, ...)).
ROOT_REGISTRATION_COST = 10**18

PROTOCOL_CONTRACTS = ("Registry", "EmissionSchedule", "TesseraToken", "ProviderRegistry", "Market", "SubnetRegistry",
                      "Halo2VerifierReusable", "ModelRegistry", "InferenceVerifier", "InferenceEscrow",
                      "Coordinator", "AgentRegistry", "JobBoard", "TrainingReferee", "TrainingMarket",
                      "TrainingDisputes")


# Contracts that live at fixed addresses on every chain (CREATE2 deployments the x402 SDK and batched
# readers look for). On devnets `deploy_protocol` places their runtime code there; on other chains they
# are used where they already exist.
CANONICAL_ADDRESSES = {
    "Multicall3": "0xcA11bde05977b3631167028862bE2a173976CA11",
    "BatchSettlement": "0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003",
    "ERC3009DepositCollector": "0x4020806089470a89826cB9fB1f4059150b550004",
}


def _check_artifacts(manifest: Manifest) -> list[str]:
    """Names of contracts that are missing from the deployment or run an older build."""
    expected = PROTOCOL_CONTRACTS + (tuple(CANONICAL_ADDRESSES) if manifest.stablecoin_is_dev else ())
    missing = [name for name in expected if name not in manifest.contracts]
    return missing + [
        name for name, rec in manifest.contracts.items()
        if rec.artifact_hash != "external" and load_artifact(name).artifact_hash != rec.artifact_hash
    ]


def place_canonical_contracts(chain: Chain) -> dict[str, ContractRecord]:
    """Put Multicall3 and the x402 batch-settlement contracts at their canonical addresses.

    On a devnet the runtime code is set directly (no constructor runs, so these contracts keep no
    immutables). On any other chain the contracts are recorded only where code already exists there.
    """
    records: dict[str, ContractRecord] = {}
    for name, address in CANONICAL_ADDRESSES.items():
        artifact = load_artifact(name)
        if chain.is_devnet:
            if chain.get_code(address) != artifact.deployed_bytecode:
                chain.set_code(address, artifact.deployed_bytecode)
            records[name] = ContractRecord(address, artifact.artifact_hash, chain.block_number())
        elif chain.get_code(address):
            records[name] = ContractRecord(address, "external", 0)
    return records


def deploy_protocol(
    chain: Chain,
    signer: Signer,
    *,
    path: Path | None,
    base_emission: int = DEFAULT_BASE_EMISSION,
    block_interval: int = DEFAULT_BLOCK_INTERVAL,
    stablecoin: str | None = None,
    fresh: bool = False,
) -> tuple[Manifest, bool]:
    """Deploy (or confirm) the protocol. Returns (manifest, changed)."""
    existing = read_manifest(path) if path is not None else None
    if existing is not None and not fresh and manifest_matches_chain(chain, existing):
        outdated = _check_artifacts(existing)
        if outdated:
            raise DeploymentError(
                f"the deployment on chain {chain.chain_id} runs older builds of {', '.join(outdated)}: "
                "run `tessera deploy --fresh` to deploy the current contracts"
            )
        return existing, False
    if stablecoin is None and not chain.is_devnet:
        raise DeploymentError(
            f"chain {chain.chain_id} is not a devnet, so no dev stablecoin is deployed: "
            "set `stablecoin = \"0x...\"` in config.toml to the real stablecoin's address"
        )
    if stablecoin is not None and not chain.get_code(stablecoin):
        raise DeploymentError(f"no contract at the configured stablecoin address {stablecoin}: fix `stablecoin` in config.toml")

    records: dict[str, ContractRecord] = {}

    def record(name: str, contract: Contract, block: int) -> None:
        records[name] = ContractRecord(contract.address, load_artifact(name).artifact_hash, block)

    registry, r = Contract.deploy(chain, signer, "Registry", signer.address)
    record("Registry", registry, r.block_number)
    schedule, r = Contract.deploy(chain, signer, "EmissionSchedule", base_emission, block_interval, signer.address)
    record("EmissionSchedule", schedule, r.block_number)
    token = Contract.at(chain, "TesseraToken", schedule.call("token"))
    record("TesseraToken", token, r.block_number)
    if stablecoin is None:
        coin, r = Contract.deploy(chain, signer, "DevStablecoin", signer.address)
        record("DevStablecoin", coin, r.block_number)
        stable_address: str = coin.address
    else:
        stable_address = stablecoin
        records["Stablecoin"] = ContractRecord(stablecoin, "external", 0)
    coin_decimals = Contract.at(chain, "DevStablecoin", stable_address).call("decimals")
    bid_deposit = 10 ** max(coin_decimals - 1, 0)  # 0.1 stablecoin: enough to deter spam bids
    providers, r = Contract.deploy(chain, signer, "ProviderRegistry", token.address, MIN_PROVIDER_BOND,
                                   UNBONDING_PERIOD, SLASH_BPS, signer.address)
    record("ProviderRegistry", providers, r.block_number)
    market, r = Contract.deploy(chain, signer, "Market", stable_address, providers.address, signer.address, TAKE_BPS,
                                HEARTBEAT_SLA, GRACE_PERIOD, bid_deposit, START_TIMEOUT,
                                signer.address)
    record("Market", market, r.block_number)
    providers.transact(signer, "setMarket", market.address)
    subnets, r = Contract.deploy(chain, signer, "SubnetRegistry", signer.address, token.address, schedule.address,
                                 ROOT_HYPERPARAMETERS, ROOT_REGISTRATION_COST)
    record("SubnetRegistry", subnets, r.block_number)
    # Emission reaches subnets through the root network. On devnets half of it also goes to the
    # deployer's treasury so tests and demos can hand out TSR.
    schedule.transact(signer, "setRecipient", subnets.address, 1)
    if chain.is_devnet:
        schedule.transact(signer, "setRecipient", signer.address, 1)
    # zkML: one reusable Halo2 verifier serves every model; each model brings its verifying key (VKA)
    halo2, r = Contract.deploy(chain, signer, "Halo2VerifierReusable")
    record("Halo2VerifierReusable", halo2, r.block_number)
    # only the reusable verifier's code may check proofs: model ids commit to it, not to an address
    models, r = Contract.deploy(chain, signer, "ModelRegistry", signer.address,
                                keccak(load_artifact("Halo2VerifierReusable").deployed_bytecode))
    record("ModelRegistry", models, r.block_number)
    inference, r = Contract.deploy(chain, signer, "InferenceVerifier", models.address)
    record("InferenceVerifier", inference, r.block_number)
    # market leases with `proof: zk`: pay per verified result; a bad proof the provider signed slashes it
    escrow, r = Contract.deploy(chain, signer, "InferenceEscrow", stable_address, market.address, providers.address,
                                inference.address)
    record("InferenceEscrow", escrow, r.block_number)
    providers.transact(signer, "setSlasher", escrow.address, True)
    # coprocessor: contracts request inference; bonded nodes deliver (zk proofs through the InferenceVerifier)
    coordinator, r = Contract.deploy(chain, signer, "Coordinator", stable_address, token.address, models.address,
                                     inference.address, signer.address)
    record("Coordinator", coordinator, r.block_number)
    # agents: transferable identities with payment-backed reputation, and a job board that records its payouts
    agents, r = Contract.deploy(chain, signer, "AgentRegistry", signer.address)
    record("AgentRegistry", agents, r.block_number)
    jobs, r = Contract.deploy(chain, signer, "JobBoard", signer.address, stable_address, agents.address,
                              inference.address, signer.address)
    record("JobBoard", jobs, r.block_number)
    agents.transact(signer, "setRecorder", jobs.address, True)
    # verifiable training: tasks, bonds and audits; the dispute game; the referee that recomputes one element
    referee, r = Contract.deploy(chain, signer, "TrainingReferee")
    record("TrainingReferee", referee, r.block_number)
    training, r = Contract.deploy(chain, signer, "TrainingMarket", signer.address, stable_address, token.address)
    record("TrainingMarket", training, r.block_number)
    disputes, r = Contract.deploy(chain, signer, "TrainingDisputes", signer.address, training.address,
                                  referee.address, DISPUTE_MOVE_TIMEOUT)
    record("TrainingDisputes", disputes, r.block_number)
    training.transact(signer, "setDisputes", disputes.address)
    records.update(place_canonical_contracts(chain))
    for name, rec in records.items():
        registry.transact(signer, "set", registry_key(name), rec.address)
    if "Stablecoin" not in records:
        registry.transact(signer, "set", registry_key("Stablecoin"), stable_address)

    manifest = Manifest(
        chain_id=chain.chain_id,
        backend=chain.backend,
        genesis_hash="0x" + chain.get_block(0).hash.hex(),
        deployer=signer.address,
        block=chain.block_number(),
        contracts=records,
        params={"base_emission": base_emission, "block_interval": block_interval, "stablecoin": stable_address},
        stablecoin_is_dev=stablecoin is None,
    )
    if path is not None:
        write_manifest(path, manifest)
    return manifest, True


@dataclass
class Deployment:
    """Handles on the deployed protocol contracts."""

    manifest: Manifest
    registry: Contract
    emission: Contract
    token: Contract
    stablecoin: Contract
    providers: Contract
    market: Contract
    subnets: Contract
    zk_verifier: Contract
    models: Contract
    inference: Contract
    inference_escrow: Contract
    coordinator: Contract
    agents: Contract
    jobs: Contract
    training: Contract
    training_disputes: Contract
    training_referee: Contract

    @classmethod
    def from_manifest(cls, chain: Chain, manifest: Manifest) -> "Deployment":
        return cls(
            manifest=manifest,
            registry=Contract.at(chain, "Registry", manifest.address("Registry")),
            emission=Contract.at(chain, "EmissionSchedule", manifest.address("EmissionSchedule")),
            token=Contract.at(chain, "TesseraToken", manifest.address("TesseraToken")),
            # an external stablecoin is used through the ERC-20/EIP-2612/EIP-3009 subset of this ABI
            stablecoin=Contract.at(chain, "DevStablecoin", manifest.params["stablecoin"]),
            providers=Contract.at(chain, "ProviderRegistry", manifest.address("ProviderRegistry")),
            market=Contract.at(chain, "Market", manifest.address("Market")),
            subnets=Contract.at(chain, "SubnetRegistry", manifest.address("SubnetRegistry")),
            zk_verifier=Contract.at(chain, "Halo2VerifierReusable", manifest.address("Halo2VerifierReusable")),
            models=Contract.at(chain, "ModelRegistry", manifest.address("ModelRegistry")),
            inference=Contract.at(chain, "InferenceVerifier", manifest.address("InferenceVerifier")),
            inference_escrow=Contract.at(chain, "InferenceEscrow", manifest.address("InferenceEscrow")),
            coordinator=Contract.at(chain, "Coordinator", manifest.address("Coordinator")),
            agents=Contract.at(chain, "AgentRegistry", manifest.address("AgentRegistry")),
            jobs=Contract.at(chain, "JobBoard", manifest.address("JobBoard")),
            training=Contract.at(chain, "TrainingMarket", manifest.address("TrainingMarket")),
            training_disputes=Contract.at(chain, "TrainingDisputes", manifest.address("TrainingDisputes")),
            training_referee=Contract.at(chain, "TrainingReferee", manifest.address("TrainingReferee")),
        )
