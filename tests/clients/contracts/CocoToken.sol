// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// An OpenZeppelin ERC-20 plus one function that reverts with a custom error,
/// so client libraries must decode revert data against the ABI.
contract CocoToken is ERC20 {
    error NotEnough(uint256 have, uint256 want);

    constructor(uint256 supply) ERC20("Coco Token", "COCO") {
        _mint(msg.sender, supply);
    }

    /// Burns amount of the caller's tokens, or reverts with NotEnough.
    function spend(uint256 amount) external {
        uint256 have = balanceOf(msg.sender);
        if (have < amount) {
            revert NotEnough(have, amount);
        }
        _burn(msg.sender, amount);
    }
}
