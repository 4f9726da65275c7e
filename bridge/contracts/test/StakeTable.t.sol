// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BLS} from "../BLS.sol";
import {StakeTable} from "../StakeTable.sol";
import {Fixture} from "./Fixture.sol";

contract StakeTableTest is Fixture {
    // --- register ---------------------------------------------------------------------

    function testRegisterRecordsTheValidator() public {
        register(0, 7, MIN);
        (StakeTable.Status status, uint256 stake,, bytes memory key) = st.validator(account(0));
        assertTrue(status == StakeTable.Status.VALIDATING, "validating");
        assertEq(stake, MIN, "stake");
        assertTrue(keccak256(key) == keccak256(publicKey(7)), "key");
    }

    function testRegisterTwiceReverts() public {
        register(0, 7, MIN);
        registerExpecting(
            0, 8, MIN, abi.encodeWithSelector(StakeTable.BadStatus.selector, StakeTable.Status.VALIDATING)
        );
    }

    function testRegisterBelowTheMinimumReverts() public {
        registerExpecting(0, 7, MIN - 1, abi.encodeWithSelector(StakeTable.StakeTooLow.selector, MIN - 1, MIN));
    }

    function testRegisterWithPartialGweiReverts() public {
        bytes memory key = publicKey(7);
        bytes memory pop = sign(7, st.possessionDigest(account(0), key), BLS.POP_DST);
        vm.deal(account(0), MIN * 1 gwei + 1);
        vm.prank(account(0));
        vm.expectRevert(abi.encodeWithSelector(StakeTable.NotWholeGwei.selector, MIN * 1 gwei + 1));
        st.register{value: MIN * 1 gwei + 1}(key, pop);
    }

    function testRegisterWithAMalformedOrZeroKeyReverts() public {
        vm.deal(account(0), 2 * MIN * 1 gwei);
        vm.prank(account(0));
        vm.expectRevert(StakeTable.InvalidKey.selector);
        st.register{value: MIN * 1 gwei}(new bytes(127), new bytes(256));
        vm.prank(account(0));
        vm.expectRevert(StakeTable.InvalidKey.selector);
        st.register{value: MIN * 1 gwei}(new bytes(128), new bytes(256));
    }

    function testAKeyRegistersOnce() public {
        register(0, 7, MIN);
        registerExpecting(1, 7, MIN, abi.encodeWithSelector(StakeTable.KeyInUse.selector));
    }

    function testAProofOfPossessionForAnotherAccountReverts() public {
        bytes memory key = publicKey(7);
        bytes memory pop = sign(7, st.possessionDigest(account(1), key), BLS.POP_DST);
        vm.deal(account(0), MIN * 1 gwei);
        vm.prank(account(0));
        vm.expectRevert(StakeTable.InvalidProofOfPossession.selector);
        st.register{value: MIN * 1 gwei}(key, pop);
    }

    /// Any secret key and any stake from the minimum up registers, and counts.
    function testFuzzRegister(uint256 seed, uint64 extra) public {
        uint256 sk = secret(seed);
        uint256 stake = MIN + uint256(extra) % (1e12);
        register(0, sk, stake);
        nextEpoch();
        (, uint256 total, uint256 size, bytes memory aggregateKey) = st.committee(st.currentEpoch());
        assertEq(total, stake, "total stake");
        assertEq(size, 1, "size");
        assertTrue(keccak256(aggregateKey) == keccak256(publicKey(sk)), "aggregate key");
    }

    // --- exit and withdraw ------------------------------------------------------------

    function testExitThenWithdrawAfterTheDelay() public {
        register(0, 7, MIN);
        vm.prank(account(0));
        st.requestExit();
        vm.prank(account(0));
        vm.expectRevert(abi.encodeWithSelector(StakeTable.TooEarly.selector, block.timestamp + EXIT_DELAY));
        st.withdraw();
        vm.warp(block.timestamp + EXIT_DELAY);
        vm.prank(account(0));
        st.withdraw();
        assertEq(account(0).balance, MIN * 1 gwei, "paid out");
    }

    function testExitOrWithdrawWithoutStakeReverts() public {
        vm.prank(account(0));
        vm.expectRevert(abi.encodeWithSelector(StakeTable.BadStatus.selector, StakeTable.Status.NONE));
        st.requestExit();
        vm.prank(account(0));
        vm.expectRevert(abi.encodeWithSelector(StakeTable.BadStatus.selector, StakeTable.Status.NONE));
        st.withdraw();
        register(0, 7, MIN);
        vm.prank(account(0));
        vm.expectRevert(abi.encodeWithSelector(StakeTable.BadStatus.selector, StakeTable.Status.VALIDATING));
        st.withdraw();
    }

    // --- epochs -----------------------------------------------------------------------

    function testAnEpochStartsAtItsFirstBlockOnly() public {
        uint256 due = st.startBlock() + EPOCH_BLOCKS;
        vm.roll(due - 1);
        vm.expectRevert(abi.encodeWithSelector(StakeTable.TooEarly.selector, due));
        st.advanceEpoch();
        vm.roll(due);
        st.advanceEpoch();
        assertEq(st.currentEpoch(), 1, "epoch");
    }

    function testTheBridgeIsSetOnce() public {
        vm.expectRevert(bytes("bridge is set once"));
        st.setBridge(address(1));
    }

    // --- slashing by two signatures -----------------------------------------------------

    function slashArgs(uint256 sk, bytes32 a, bytes32 b)
        internal
        view
        returns (bytes memory sigA, bytes memory sigB)
    {
        sigA = sign(sk, st.consensusDigest(1, 5, VOTE, a), BLS.SIG_DST);
        sigB = sign(sk, st.consensusDigest(1, 5, VOTE, b), BLS.SIG_DST);
    }

    function testTwoSignaturesOnOneViewSlashOnceAndPayTheReporter() public {
        register(0, 7, MIN);
        (bytes memory sigA, bytes memory sigB) = slashArgs(7, "a", "b");
        vm.prank(account(99));
        st.slash(account(0), 1, 5, VOTE, "a", sigA, "b", sigB);
        (, uint256 stake,,) = st.validator(account(0));
        assertEq(stake, MIN / 2, "half slashed");
        assertEq(account(99).balance, MIN / 2 / 10 * 1 gwei, "reward");
        vm.expectRevert(
            abi.encodeWithSelector(StakeTable.InvalidEvidence.selector, "already slashed for this evidence")
        );
        st.slash(account(0), 1, 5, VOTE, "a", sigA, "b", sigB);
    }

    function testEvidenceThatDoesNotHoldReverts() public {
        register(0, 7, MIN);
        (bytes memory sigA, bytes memory sigB) = slashArgs(7, "a", "b");
        vm.expectRevert(abi.encodeWithSelector(StakeTable.InvalidEvidence.selector, "same subject"));
        st.slash(account(0), 1, 5, VOTE, "a", sigA, "a", sigA);
        vm.expectRevert(abi.encodeWithSelector(StakeTable.InvalidEvidence.selector, "signature does not verify"));
        st.slash(account(0), 1, 6, VOTE, "a", sigA, "b", sigB);
        vm.expectRevert(abi.encodeWithSelector(StakeTable.BadStatus.selector, StakeTable.Status.NONE));
        st.slash(account(1), 1, 5, VOTE, "a", sigA, "b", sigB);
    }

    /// Someone else's signatures never slash a validator.
    function testFuzzEvidenceOfAnotherKeyNeverSlashes(uint256 seed, bytes32 a, bytes32 b) public {
        uint256 other = secret(seed);
        vm.assume(other != 7 && a != b);
        register(0, 7, MIN);
        (bytes memory sigA, bytes memory sigB) = slashArgs(other, a, b);
        vm.expectRevert(abi.encodeWithSelector(StakeTable.InvalidEvidence.selector, "signature does not verify"));
        st.slash(account(0), 1, 5, VOTE, a, sigA, b, sigB);
    }

    function testASlashBelowTheEjectionStakeLeavesTheCommittee() public {
        register(0, 7, MIN);
        register(1, 8, MIN);
        (bytes memory sigA, bytes memory sigB) = slashArgs(7, "a", "b");
        st.slash(account(0), 1, 5, VOTE, "a", sigA, "b", sigB);
        (StakeTable.Status status,,,) = st.validator(account(0));
        assertTrue(status == StakeTable.Status.VALIDATING, "16 ETH left: still in");
        (sigA, sigB) = (sign(7, st.consensusDigest(1, 6, VOTE, "a"), BLS.SIG_DST),
            sign(7, st.consensusDigest(1, 6, VOTE, "b"), BLS.SIG_DST));
        st.slash(account(0), 1, 6, VOTE, "a", sigA, "b", sigB);
        (status,,,) = st.validator(account(0));
        assertTrue(status == StakeTable.Status.ZOMBIE, "ejected");
        nextEpoch();
        (, uint256 total, uint256 size,) = st.committee(st.currentEpoch());
        assertEq(size, 1, "one member left");
        assertEq(total, MIN, "its stake");
    }
}
