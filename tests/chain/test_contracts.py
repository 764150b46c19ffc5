"""Protocol contracts, through the public Contract API, on both backends."""

from __future__ import annotations

import os

import pytest

from tessera.accounts.dev import dev_account
from tessera.accounts.typed_data import permit_data, sign_typed_data, contract_domain, transfer_authorization_data
from tessera.chain import Chain, Contract
from tessera.errors import ContractRevert
from tessera.protocol.deploy import Deployment, registry_key
from tessera.protocol.emission import CAP, TSR, emission_for

OWNER, ALICE, BOB = dev_account(0), dev_account(1), dev_account(2)
USD = 10**6


def test_token_metadata_and_minter(deployment: Deployment) -> None:
    token = deployment.token
    assert token.call("name") == "Tessera"
    assert token.call("symbol") == "TSR"
    assert token.call("decimals") == 18
    assert token.call("CAP") == CAP == 21_000_000 * 10**18
    assert token.call("minter") == deployment.emission.address
    with pytest.raises(ContractRevert) as err:
        token.transact(OWNER, "mint", OWNER.address, 1)
    assert err.value.error_name == "NotMinter"
    assert err.value.error_args == {"caller": OWNER.address}
    assert "NotMinter(caller=" in str(err.value)


def test_emission_distributes_by_weight_and_matches_model(chain: Chain, deployment: Deployment) -> None:
    em, token = deployment.emission, deployment.token
    em.transact(OWNER, "setRecipient", OWNER.address, 0)  # drop the devnet treasury recipient
    em.transact(OWNER, "setRecipient", deployment.subnets.address, 0)  # and the subnet registry
    with pytest.raises(ContractRevert, match="NoRecipients"):
        chain.mine(1)
        em.transact(OWNER, "distribute")
    em.transact(OWNER, "setRecipient", ALICE.address, 3)
    em.transact(OWNER, "setRecipient", BOB.address, 1)
    chain.mine(7)
    periods = em.call("periodsDue") + 1  # the distribute transaction mines one more block
    receipt = em.transact(OWNER, "distribute")
    expected = emission_for(0, periods, 10**18)
    assert token.call("totalSupply") == expected
    a, b = token.call("balanceOf", ALICE.address), token.call("balanceOf", BOB.address)
    assert a + b == expected
    assert a == expected * 3 // 4
    emitted = em.events(receipt, "Emitted")
    assert emitted[0].args["periods"] == periods and emitted[0].args["amount"] == expected
    assert {e.args["recipient"] for e in em.events(receipt, "EmissionPaid")} == {ALICE.address, BOB.address}
    # nothing is due twice
    assert em.call("periodsDue") == 0


def test_recipient_management_is_owner_only_and_bounded(deployment: Deployment) -> None:
    em = deployment.emission
    # the subnet registry (root network), plus the deployer's treasury on devnets
    assert em.call("recipients") == [deployment.subnets.address, OWNER.address]
    em.transact(OWNER, "setRecipient", OWNER.address, 0)
    em.transact(OWNER, "setRecipient", deployment.subnets.address, 0)
    with pytest.raises(ContractRevert) as err:
        em.transact(ALICE, "setRecipient", ALICE.address, 1)
    assert err.value.error_name == "NotOwner"
    em.transact(OWNER, "setRecipient", ALICE.address, 2)
    em.transact(OWNER, "setRecipient", BOB.address, 5)
    em.transact(OWNER, "setRecipient", ALICE.address, 0)
    assert em.call("recipients") == [BOB.address]
    assert em.call("totalWeight") == 5
    for i in range(15):
        em.transact(OWNER, "setRecipient", "0x" + f"{i + 1:040x}", 1)
    with pytest.raises(ContractRevert) as err:
        em.transact(OWNER, "setRecipient", "0x" + "ab" * 20, 1)
    assert err.value.error_name == "TooManyRecipients"


def test_erc20_errors_are_decoded(deployment: Deployment) -> None:
    usd = deployment.stablecoin
    usd.transact(OWNER, "mint", ALICE.address, 100 * USD)
    with pytest.raises(ContractRevert) as err:
        usd.transact(ALICE, "transfer", BOB.address, 101 * USD)
    assert err.value.error_name == "ERC20InsufficientBalance"
    assert err.value.error_args["needed"] == 101 * USD
    with pytest.raises(ContractRevert) as err:
        usd.transact(BOB, "transferFrom", ALICE.address, BOB.address, 1)
    assert err.value.error_name == "ERC20InsufficientAllowance"
    usd.transact(ALICE, "approve", BOB.address, 10 * USD)
    usd.transact(BOB, "transferFrom", ALICE.address, BOB.address, 4 * USD)
    assert usd.call("balanceOf", BOB.address) == 4 * USD
    assert usd.call("allowance", ALICE.address, BOB.address) == 6 * USD
    assert usd.call("decimals") == 6


def _domain(chain: Chain, token: Contract) -> dict:
    return contract_domain(token.call("name"), token.call("version"), chain.chain_id, token.address)


def test_permit_eip2612(chain: Chain, deployment: Deployment) -> None:
    usd = deployment.stablecoin
    usd.transact(OWNER, "mint", ALICE.address, 50 * USD)
    deadline = chain.get_block().timestamp + 3600
    data = permit_data(_domain(chain, usd), ALICE.address, BOB.address, 20 * USD, 0, deadline)
    sig = sign_typed_data(ALICE, data)
    usd.transact(BOB, "permit", ALICE.address, BOB.address, 20 * USD, deadline, *sig.vrs)
    assert usd.call("allowance", ALICE.address, BOB.address) == 20 * USD
    assert usd.call("nonces", ALICE.address) == 1
    # the same signature cannot be replayed: the nonce moved on
    with pytest.raises(ContractRevert) as err:
        usd.transact(BOB, "permit", ALICE.address, BOB.address, 20 * USD, deadline, *sig.vrs)
    assert err.value.error_name == "InvalidSignature"


def test_transfer_with_authorization_eip3009(chain: Chain, deployment: Deployment) -> None:
    usd = deployment.stablecoin
    usd.transact(OWNER, "mint", ALICE.address, 50 * USD)
    now = chain.get_block().timestamp
    nonce = os.urandom(32)
    data = transfer_authorization_data(_domain(chain, usd), ALICE.address, BOB.address, 7 * USD, 0, now + 600, nonce)
    sig = sign_typed_data(ALICE, data)
    args = (ALICE.address, BOB.address, 7 * USD, 0, now + 600, nonce, *sig.vrs)
    # anyone (here the owner, as a facilitator) may submit it; the payer pays no gas
    receipt = usd.transact(OWNER, "transferWithAuthorization", *args)
    assert usd.call("balanceOf", BOB.address) == 7 * USD
    assert usd.call("authorizationState", ALICE.address, nonce) is True
    assert [e.name for e in usd.events(receipt)] == ["AuthorizationUsed", "Transfer"]
    with pytest.raises(ContractRevert) as err:
        usd.transact(OWNER, "transferWithAuthorization", *args)
    assert err.value.error_name == "AuthorizationAlreadyUsed"
    # a signature by someone else is refused
    forged = sign_typed_data(BOB, transfer_authorization_data(
        _domain(chain, usd), ALICE.address, BOB.address, 1, 0, now + 600, os.urandom(32)))
    with pytest.raises(ContractRevert) as err:
        usd.transact(OWNER, "transferWithAuthorization", ALICE.address, BOB.address, 1, 0, now + 600,
                     os.urandom(32), *forged.vrs)
    assert err.value.error_name == "InvalidSignature"


def test_expired_and_receive_authorizations(chain: Chain, deployment: Deployment) -> None:
    usd = deployment.stablecoin
    usd.transact(OWNER, "mint", ALICE.address, 50 * USD)
    now = chain.get_block().timestamp
    nonce = os.urandom(32)
    sig = sign_typed_data(ALICE, transfer_authorization_data(_domain(chain, usd), ALICE.address, BOB.address, 1,
                                                             0, now - 1, nonce))
    with pytest.raises(ContractRevert) as err:
        usd.transact(OWNER, "transferWithAuthorization", ALICE.address, BOB.address, 1, 0, now - 1, nonce, *sig.vrs)
    assert err.value.error_name == "AuthorizationExpired"
    data = transfer_authorization_data(_domain(chain, usd), ALICE.address, BOB.address, 2 * USD, 0, now + 600, nonce,
                                       primary_type="ReceiveWithAuthorization")
    sig = sign_typed_data(ALICE, data)
    args = (ALICE.address, BOB.address, 2 * USD, 0, now + 600, nonce, *sig.vrs)
    with pytest.raises(ContractRevert) as err:
        usd.transact(OWNER, "receiveWithAuthorization", *args)
    assert err.value.error_name == "CallerMustBePayee"
    usd.transact(BOB, "receiveWithAuthorization", *args)
    assert usd.call("balanceOf", BOB.address) == 2 * USD


def test_registry_mirrors_deployment(deployment: Deployment) -> None:
    reg = deployment.registry
    for name, record in deployment.manifest.contracts.items():
        assert reg.call("lookup", registry_key(name)) == record.address
    assert reg.call("lookup", registry_key("Stablecoin")) == deployment.stablecoin.address
    with pytest.raises(ContractRevert) as err:
        reg.call("lookup", registry_key("Nope"))
    assert err.value.error_name == "NotRegistered"
    with pytest.raises(ContractRevert) as err:
        reg.transact(ALICE, "set", registry_key("X"), ALICE.address)
    assert err.value.error_name == "NotOwner"
    # two-step ownership transfer
    reg.transact(OWNER, "transferOwnership", ALICE.address)
    with pytest.raises(ContractRevert):
        reg.transact(BOB, "acceptOwnership")
    reg.transact(ALICE, "acceptOwnership")
    assert reg.call("owner") == ALICE.address


def test_token_cap_is_enforced_under_a_huge_schedule(chain: Chain) -> None:
    schedule, _ = Contract.deploy(chain, OWNER, "EmissionSchedule", 30_000_000 * TSR, 1, OWNER.address)
    token = Contract.at(chain, "TesseraToken", schedule.call("token"))
    schedule.transact(OWNER, "setRecipient", ALICE.address, 1)
    for _ in range(6):
        schedule.transact(OWNER, "distribute")
    assert token.call("totalSupply") <= CAP
    # 30M per block overshoots the cap in the first period: it is clamped to exactly the cap
    assert token.call("totalSupply") == CAP
    assert schedule.call("emissionAt", CAP) == 0


def test_invalid_schedule_rejected(chain: Chain) -> None:
    with pytest.raises(ContractRevert) as err:
        Contract.deploy(chain, OWNER, "EmissionSchedule", 0, 1, OWNER.address)
    assert err.value.error_name == "InvalidSchedule"
