// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

interface IERC20 {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
    function balanceOf(address owner) external view returns (uint256);
    function approve(address spender, uint256 value) external returns (bool);
}

interface IERC20Permit {
    function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external;
}

/// @notice ERC-20 transfers that also accept tokens returning nothing (USDT-style) and revert with a
/// custom error naming the token when a transfer fails.
library SafeTransfer {
    error TokenTransferFailed(address token, address from, address to, uint256 value);

    function safeTransfer(IERC20 token, address to, uint256 value) internal {
        if (value == 0) return;
        (bool ok, bytes memory ret) = address(token).call(abi.encodeCall(IERC20.transfer, (to, value)));
        _check(ok, ret, address(token), address(this), to, value);
    }

    function safeTransferFrom(IERC20 token, address from, address to, uint256 value) internal {
        if (value == 0) return;
        (bool ok, bytes memory ret) = address(token).call(abi.encodeCall(IERC20.transferFrom, (from, to, value)));
        _check(ok, ret, address(token), from, to, value);
    }

    /// @dev Works with tokens whose approve returns nothing (USDT-style).
    function safeApprove(IERC20 token, address spender, uint256 value) internal {
        (bool ok, bytes memory ret) = address(token).call(abi.encodeCall(IERC20.approve, (spender, value)));
        _check(ok, ret, address(token), address(this), spender, value);
    }

    function _check(bool ok, bytes memory ret, address token, address from, address to, uint256 value) private pure {
        if (!ok) {
            // bubble the token's own error (e.g. ERC20InsufficientAllowance) so callers see the cause
            if (ret.length > 0) {
                assembly {
                    revert(add(ret, 32), mload(ret))
                }
            }
            revert TokenTransferFailed(token, from, to, value);
        }
        if (ret.length > 0 && !abi.decode(ret, (bool))) revert TokenTransferFailed(token, from, to, value);
    }
}
