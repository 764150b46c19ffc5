"""DevStablecoin parity with USDC v2.2: EIP-5267 eip712Domain, the `bytes signature` EIP-3009 overloads for EOAs
and ERC-1271 smart wallets, and the replays they must refuse."""

from __future__ import annotations

import time

import pytest

from tessera.accounts.dev import dev_account
from tessera.accounts.typed_data import contract_domain, sign_typed_data, transfer_authorization_data
from tessera.chain.contract import Contract
from tessera.errors import ContractRevert
from tessera.protocol.deploy import Deployment

def authorization(d: Deployment, signer, frm: str, to: str, value: int, kind: str = "TransferWithAuthorization"):  # type: ignore[no-untyped-def]
    coin = d.stablecoin
    before = int(time.time()) + 3600
    domain = contract_domain(coin.call("name"), coin.call("version"), coin.chain.chain_id, coin.address)
    data = transfer_authorization_data(domain, frm, to, value, 0, before, primary_type=kind)
    return (frm, to, value, 0, before, data["message"]["nonce"]), sign_typed_data(signer, data).packed


def test_eip5267_domain_matches_what_signers_use(deployment: Deployment) -> None:
    fields, name, version, chain_id, verifying, salt, extensions = deployment.stablecoin.call("eip712Domain")
    assert fields == b"\x0f" and name == "Tessera Dev USD" and version == "2"
    assert chain_id == deployment.stablecoin.chain.chain_id and verifying == deployment.stablecoin.address
    assert salt == b"\x00" * 32 and list(extensions) == []


def test_bytes_overload_for_an_eoa_and_replay_refused(deployment: Deployment) -> None:
    d, owner, payer, payee, relayer = deployment, dev_account(0), dev_account(1), dev_account(2), dev_account(3)
    d.stablecoin.transact(owner, "mint", payer.address, 5_000_000)
    args, sig = authorization(d, payer, payer.address, payee.address, 1_000_000)
    fn = "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)"
    contract = d.stablecoin
    data = contract.function("transferWithAuthorization", 7).encode([*args, sig])
    from tessera.chain.contract import send_transaction

    send_transaction(contract.chain, relayer, to=contract.address, data=data, context=fn)
    assert contract.call("balanceOf", payee.address) == 1_000_000
    with pytest.raises(ContractRevert, match="AuthorizationAlreadyUsed"):
        send_transaction(contract.chain, relayer, to=contract.address, data=data, context=fn)
    forged_args, _ = authorization(d, payer, payer.address, payee.address, 1_000_000)
    _, other_sig = authorization(d, relayer, payer.address, payee.address, 1_000_000)
    with pytest.raises(ContractRevert, match="InvalidSignature"):  # signed by someone else
        send_transaction(contract.chain, relayer, to=contract.address,
                         data=contract.function("transferWithAuthorization", 7).encode([*forged_args, other_sig]), context=fn)


def test_a_smart_wallet_pays_with_erc1271_and_only_its_owner_can_sign(deployment: Deployment) -> None:
    d, owner, wallet_owner, payee, stranger = deployment, dev_account(0), dev_account(1), dev_account(2), dev_account(7)
    wallet, _ = Contract.deploy(d.stablecoin.chain, owner, "ERC1271Wallet", wallet_owner.address)
    d.stablecoin.transact(owner, "mint", wallet.address, 3_000_000)
    from tessera.chain.contract import send_transaction

    args, sig = authorization(d, wallet_owner, wallet.address, payee.address, 2_000_000)
    data = d.stablecoin.function("transferWithAuthorization", 7).encode([*args, sig])
    send_transaction(d.stablecoin.chain, stranger, to=d.stablecoin.address, data=data, context="pay from a wallet")
    assert d.stablecoin.call("balanceOf", payee.address) == 2_000_000
    args, bad = authorization(d, stranger, wallet.address, stranger.address, 1_000_000)
    with pytest.raises(ContractRevert, match="InvalidSignature"):
        send_transaction(d.stablecoin.chain, stranger, to=d.stablecoin.address,
                         data=d.stablecoin.function("transferWithAuthorization", 7).encode([*args, bad]), context="x")
    # receiveWithAuthorization (bytes) only by the payee: a front-runner cannot submit it
    args, sig = authorization(d, wallet_owner, wallet.address, payee.address, 500_000, "ReceiveWithAuthorization")
    data = d.stablecoin.function("receiveWithAuthorization", 7).encode([*args, sig])
    with pytest.raises(ContractRevert, match="CallerMustBePayee"):
        send_transaction(d.stablecoin.chain, stranger, to=d.stablecoin.address, data=data, context="front-run")
    send_transaction(d.stablecoin.chain, payee, to=d.stablecoin.address, data=data, context="receive")
    assert d.stablecoin.call("balanceOf", payee.address) == 2_500_000


def test_a_cancelled_authorization_cannot_be_used_and_cancel_is_bound_to_the_signer(deployment: Deployment) -> None:
    from tessera.chain.contract import send_transaction

    d, owner, payer, payee, stranger = deployment, dev_account(0), dev_account(1), dev_account(2), dev_account(7)
    d.stablecoin.transact(owner, "mint", payer.address, 1_000_000)
    args, sig = authorization(d, payer, payer.address, payee.address, 1_000_000)
    nonce = args[5]
    domain = contract_domain(d.stablecoin.call("name"), d.stablecoin.call("version"), d.stablecoin.chain.chain_id,
                             d.stablecoin.address)
    from tessera.accounts.typed_data import typed_data

    cancel = typed_data(domain, {"CancelAuthorization": [{"name": "authorizer", "type": "address"},
                                                         {"name": "nonce", "type": "bytes32"}]},
                        "CancelAuthorization", {"authorizer": payer.address, "nonce": nonce})
    cancel_fn = d.stablecoin.function("cancelAuthorization", 3)
    with pytest.raises(ContractRevert, match="InvalidSignature"):  # a stranger cannot cancel the payer's payment
        send_transaction(d.stablecoin.chain, stranger, to=d.stablecoin.address, context="cancel",
                         data=cancel_fn.encode([payer.address, nonce, sign_typed_data(stranger, cancel).packed]))
    send_transaction(d.stablecoin.chain, stranger, to=d.stablecoin.address, context="cancel",
                     data=cancel_fn.encode([payer.address, nonce, sign_typed_data(payer, cancel).packed]))
    with pytest.raises(ContractRevert, match="AuthorizationAlreadyUsed"):
        send_transaction(d.stablecoin.chain, stranger, to=d.stablecoin.address, context="pay",
                         data=d.stablecoin.function("transferWithAuthorization", 7).encode([*args, sig]))
    assert d.stablecoin.call("balanceOf", payee.address) == 0
