// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BLS} from "../BLS.sol";

/// The Foundry cheatcodes the suite uses.
interface Vm {
    function prank(address sender) external;
    function deal(address account, uint256 balance) external;
    function roll(uint256 blockNumber) external;
    function warp(uint256 timestamp) external;
    function assume(bool condition) external pure;
    function expectRevert(bytes calldata revertData) external;
    function expectRevert(bytes4 selector) external;
    function expectRevert() external;
}

/// What every test contract shares: cheatcodes, assertions, and BLS keys made inside the
/// EVM with the EIP-2537 precompiles, so each test signs exactly what the nodes sign.
abstract contract Base {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// The order of the BLS12-381 groups.
    uint256 internal constant R = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001;

    address private constant G1_MSM = address(0x0c);

    /// Rewards of slashes this contract reports.
    receive() external payable {}
    address private constant G2_ADD = address(0x0d);
    address private constant G2_MSM = address(0x0e);

    function assertTrue(bool condition, string memory what) internal pure {
        require(condition, what);
    }

    function assertEq(uint256 a, uint256 b, string memory what) internal pure {
        if (a != b) revert(string.concat(what, ": ", toString(a), " != ", toString(b)));
    }

    function toString(uint256 v) internal pure returns (string memory) {
        if (v == 0) return "0";
        bytes memory digits;
        while (v != 0) {
            digits = abi.encodePacked(bytes1(uint8(48 + v % 10)), digits);
            v /= 10;
        }
        return string(digits);
    }

    /// The generator of G1, EIP-2537 encoded.
    function g1() internal pure returns (bytes memory) {
        return abi.encodePacked(
            bytes16(0),
            bytes16(0x17f1d3a73197d7942695638c4fa9ac0f),
            bytes32(0xc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb),
            bytes16(0),
            bytes16(0x08b3f481e3aaa0f1a09e30ed741d8ae4),
            bytes32(0xfcf5e095d5d00af600db18cb2c04b3edd03cc744a2888ae40caa232946c5e7e1)
        );
    }

    /// The public key of secret `sk` (`sk·G1`).
    function publicKey(uint256 sk) internal view returns (bytes memory key) {
        bool ok;
        (ok, key) = G1_MSM.staticcall(abi.encodePacked(g1(), sk));
        require(ok && key.length == BLS.G1_LEN, "g1 msm");
    }

    /// `sk`'s signature on `message` with domain `dst`.
    function sign(uint256 sk, bytes32 message, bytes memory dst) internal view returns (bytes memory sig) {
        bool ok;
        (ok, sig) = G2_MSM.staticcall(abi.encodePacked(BLS.hashToG2(message, dst), sk));
        require(ok && sig.length == BLS.G2_LEN, "g2 msm");
    }

    /// The sum of two signatures.
    function addSignatures(bytes memory a, bytes memory b) internal view returns (bytes memory sum) {
        bool ok;
        (ok, sum) = G2_ADD.staticcall(abi.encodePacked(a, b));
        require(ok && sum.length == BLS.G2_LEN, "g2 add");
    }

    /// A secret key from any number: in `[1, R)`.
    function secret(uint256 seed) internal pure returns (uint256) {
        return seed % (R - 1) + 1;
    }
}
