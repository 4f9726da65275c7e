// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BLS} from "../BLS.sol";
import {Bridge} from "../Bridge.sol";
import {StakeTable} from "../StakeTable.sol";
import {Base} from "./Base.sol";

/// A StakeTable and its Bridge with the default parameters (32 ETH minimum, ejection
/// below 16 ETH, a day of exit delay, 32-block epochs, half the stake slashed, a tenth
/// of it to the reporter), and helpers that act as validators would.
abstract contract Fixture is Base {
    uint256 internal constant MIN = 32e9;
    uint256 internal constant EJECT = 16e9;
    uint256 internal constant EXIT_DELAY = 1 days;
    uint256 internal constant EPOCH_BLOCKS = 32;
    uint8 internal constant VOTE = 1;
    uint8 internal constant COMMIT = 3;

    StakeTable internal st;
    Bridge internal bridge;

    function setUp() public virtual {
        vm.roll(100);
        vm.warp(1_000_000);
        st = new StakeTable(MIN, EJECT, EXIT_DELAY, EPOCH_BLOCKS, 5_000, 1_000);
        bridge = new Bridge(st);
        st.setBridge(address(bridge));
    }

    function account(uint256 i) internal pure returns (address) {
        return address(uint160(0x10000 + i));
    }

    /// Registers `account(i)` with secret `sk` and `stake` gwei.
    function register(uint256 i, uint256 sk, uint256 stake) internal {
        registerExpecting(i, sk, stake, "");
    }

    /// Registers `account(i)` and expects it to revert with `revertData`, if not empty.
    function registerExpecting(uint256 i, uint256 sk, uint256 stake, bytes memory revertData) internal {
        address who = account(i);
        bytes memory key = publicKey(sk);
        bytes memory pop = sign(sk, st.possessionDigest(who, key), BLS.POP_DST);
        vm.deal(who, stake * 1 gwei);
        if (revertData.length != 0) vm.expectRevert(revertData);
        vm.prank(who);
        st.register{value: stake * 1 gwei}(key, pop);
    }

    /// Moves to the next epoch and snapshots its committee.
    function nextEpoch() internal {
        vm.roll(st.startBlock() + (st.currentEpoch() + 1) * EPOCH_BLOCKS);
        st.advanceEpoch();
    }

    /// `n` validators of secrets 1..n, `stake` gwei each, snapshot as the next epoch.
    function committeeOf(uint256 n, uint256 stake) internal returns (uint256 epoch) {
        for (uint256 i = 0; i < n; i++) {
            register(i, i + 1, stake);
        }
        nextEpoch();
        return st.currentEpoch();
    }

    function header(uint256 epoch, uint64 height, uint64 view_, bytes32 salt)
        internal
        pure
        returns (Bridge.Header memory)
    {
        return Bridge.Header({
            parent: salt,
            height: height,
            view_: view_,
            epoch: uint64(epoch),
            payloadDigest: keccak256(abi.encode(salt, height)),
            daCommitment: bytes32(0),
            timestampMs: 0,
            proposer: 0
        });
    }

    /// The bitmap of `signers` (committee indices) over a committee of `size`.
    function bitmap(uint256 size, uint256[] memory signers) internal pure returns (bytes memory bits) {
        bits = new bytes((size + 7) / 8);
        for (uint256 i = 0; i < signers.length; i++) {
            bits[signers[i] / 8] |= bytes1(uint8(1 << (signers[i] % 8)));
        }
    }

    /// The aggregate signature of members `signers` (secrets `index + 1`) on `digest`.
    function aggregate(uint256[] memory signers, bytes32 digest) internal view returns (bytes memory sig) {
        for (uint256 i = 0; i < signers.length; i++) {
            bytes memory one = sign(signers[i] + 1, digest, BLS.SIG_DST);
            sig = i == 0 ? one : addSignatures(sig, one);
        }
    }

    function range(uint256 from, uint256 to) internal pure returns (uint256[] memory out) {
        out = new uint256[](to - from);
        for (uint256 i = from; i < to; i++) {
            out[i - from] = i;
        }
    }
}
