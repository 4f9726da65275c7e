// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BLS} from "../BLS.sol";
import {Bridge} from "../Bridge.sol";
import {StakeTable} from "../StakeTable.sol";
import {Fixture} from "./Fixture.sol";

/// Slashing by conflicting certificates, and the exit that waits for attestation.
contract AccountabilityTest is Fixture {
    function cert(uint256 size, uint256[] memory signers, bytes32 digestSubject, uint256 epoch, uint64 view_)
        internal
        view
        returns (StakeTable.Certificate memory c)
    {
        c.subject = digestSubject;
        c.signers = bitmap(size, signers);
        c.signature = aggregate(signers, st.consensusDigest(epoch, view_, COMMIT, digestSubject));
    }

    function stakeOf(uint256 i) internal view returns (uint256 stake) {
        (, stake,,) = st.validator(account(i));
    }

    /// Keys `k` and `-k` cancel out: their owner adds both bits to any certificate and
    /// the aggregate key does not change, so with enough stake behind the pair one real
    /// signature makes a "quorum" for any header. The bridge cannot tell; the pair's bits
    /// are in the certificate all the same, so a conflicting certificate of the same view
    /// slashes them with the member that signed twice, and no honest member.
    function testCancellingKeysAreSlashedByConflictingCertificates() public {
        // Honest members 0..3, the attacker's member 4 and its pair 5 (`k`) and 6 (`-k`).
        for (uint256 i = 0; i < 5; i++) {
            register(i, i + 1, MIN);
        }
        register(5, 6, 4 * MIN);
        register(6, R - 6, 4 * MIN);
        nextEpoch();
        uint256 epoch = st.currentEpoch();

        // The real block of view 7: the honest members, member 4, and the pair's bits.
        Bridge.Header memory real = header(epoch, 3, 7, "real");
        bytes32 realHash = bridge.blockHash(real);
        uint256[] memory all = range(0, 7);
        uint256[] memory signing = range(0, 5);
        StakeTable.Certificate memory a;
        a.subject = realHash;
        a.signers = bitmap(7, all);
        a.signature = aggregate(signing, st.consensusDigest(epoch, 7, COMMIT, realHash));

        // A fake block of the same view: member 4 alone signs, the pair adds 8 of 13.
        Bridge.Header memory fake = header(epoch, 3, 7, "fake");
        bytes32 fakeHash = bridge.blockHash(fake);
        uint256[] memory attackers = range(4, 7);
        uint256[] memory fakeSigning = range(4, 5);
        StakeTable.Certificate memory b;
        b.subject = fakeHash;
        b.signers = bitmap(7, attackers);
        b.signature = aggregate(fakeSigning, st.consensusDigest(epoch, 7, COMMIT, fakeHash));

        // The attack reaches the bridge.
        bridge.attest(fake, b.signers, b.signature);
        assertEq(bridge.attestedHeight(), 3, "the fake header is attested");

        st.slashConflicting(epoch, 7, COMMIT, a, b);
        for (uint256 i = 0; i < 4; i++) {
            assertEq(stakeOf(i), MIN, "an honest member keeps its stake");
        }
        assertEq(stakeOf(4), MIN / 2, "the member that signed twice");
        assertEq(stakeOf(5), 2 * MIN, "k");
        assertEq(stakeOf(6), 2 * MIN, "-k");
        // One offence pays once.
        vm.expectRevert(abi.encodeWithSelector(StakeTable.InvalidEvidence.selector, "nothing to slash"));
        st.slashConflicting(epoch, 7, COMMIT, a, b);
    }

    function testCertificatesThatDoNotConflictOrDoNotVerifySlashNobody() public {
        uint256 epoch = committeeOf(4, MIN);
        StakeTable.Certificate memory a = cert(4, range(0, 3), "a", epoch, 7);
        StakeTable.Certificate memory b = cert(4, range(1, 4), "b", epoch, 7);
        vm.expectRevert(abi.encodeWithSelector(StakeTable.InvalidEvidence.selector, "same subject"));
        st.slashConflicting(epoch, 7, COMMIT, a, a);
        // Signed in view 7, presented as view 8.
        vm.expectRevert(abi.encodeWithSelector(StakeTable.InvalidEvidence.selector, "first certificate does not verify"));
        st.slashConflicting(epoch, 8, COMMIT, a, b);
        // A signer claimed that did not sign.
        StakeTable.Certificate memory forged = cert(4, range(1, 4), "b", epoch, 7);
        forged.signers = bitmap(4, range(0, 4));
        vm.expectRevert(abi.encodeWithSelector(StakeTable.InvalidEvidence.selector, "second certificate does not verify"));
        st.slashConflicting(epoch, 7, COMMIT, a, forged);
        forged.signers = new bytes(2);
        vm.expectRevert(
            abi.encodeWithSelector(StakeTable.InvalidEvidence.selector, "signer bitmap does not fit the committee")
        );
        st.slashConflicting(epoch, 7, COMMIT, a, forged);
        vm.expectRevert(abi.encodeWithSelector(StakeTable.InvalidEvidence.selector, "unknown epoch"));
        st.slashConflicting(epoch + 1, 7, COMMIT, a, b);
    }

    /// Exactly the members in both signer sets are slashed, whatever the two sets.
    function testFuzzConflictingCertificatesSlashTheIntersection(uint8 maskA, uint8 maskB) public {
        maskA &= 0x1f;
        maskB &= 0x1f;
        vm.assume(maskA != 0 && maskB != 0 && maskA & maskB != 0);
        uint256 epoch = committeeOf(5, MIN);
        StakeTable.Certificate memory a = cert(5, members(maskA), "a", epoch, 7);
        StakeTable.Certificate memory b = cert(5, members(maskB), "b", epoch, 7);
        st.slashConflicting(epoch, 7, COMMIT, a, b);
        for (uint256 i = 0; i < 5; i++) {
            bool both = (maskA & maskB) & (1 << i) != 0;
            assertEq(stakeOf(i), both ? MIN / 2 : MIN, "slashed iff in both");
        }
    }

    function members(uint8 mask) internal pure returns (uint256[] memory out) {
        uint256 n;
        for (uint256 i = 0; i < 8; i++) {
            if (mask & (1 << i) != 0) n++;
        }
        out = new uint256[](n);
        n = 0;
        for (uint256 i = 0; i < 8; i++) {
            if (mask & (1 << i) != 0) out[n++] = i;
        }
    }

    /// A member that exits waits for the bridge to move past every epoch it was in: if
    /// hand-over stalls, it could otherwise withdraw and then sign a fake header of its
    /// old epoch that the bridge still accepts, out of reach of slashing.
    function testAnExitedMemberWithdrawsOnlyOnceItsEpochsCannotBeAttested() public {
        uint256 epoch = committeeOf(4, MIN);
        vm.prank(account(3));
        st.requestExit();
        vm.warp(block.timestamp + EXIT_DELAY);
        vm.prank(account(3));
        vm.expectRevert(abi.encodeWithSelector(StakeTable.NotAttestedYet.selector, epoch, 0));
        st.withdraw();
        // A header of its own epoch attested: certificates of that epoch still count.
        Bridge.Header memory h = header(epoch, 5, 5, "chain");
        uint256[] memory signers = range(0, 4);
        bridge.attest(h, bitmap(4, signers), aggregate(signers, bridge.commitDigest(epoch, 5, bridge.blockHash(h))));
        vm.prank(account(3));
        vm.expectRevert(abi.encodeWithSelector(StakeTable.NotAttestedYet.selector, epoch, epoch));
        st.withdraw();
        // The next committee (without it) attests a header: now it may leave.
        nextEpoch();
        uint256 next = st.currentEpoch();
        h = header(next, 6, 6, "chain");
        signers = range(0, 3);
        bridge.attest(h, bitmap(3, signers), aggregate(signers, bridge.commitDigest(next, 6, bridge.blockHash(h))));
        vm.prank(account(3));
        st.withdraw();
        assertEq(account(3).balance, MIN * 1 gwei, "paid out");
    }

    function testOneThatExitsBeforeAnyCommitteeWaitsOnlyTheDelay() public {
        register(0, 1, MIN);
        vm.prank(account(0));
        st.requestExit();
        vm.warp(block.timestamp + EXIT_DELAY);
        vm.prank(account(0));
        st.withdraw();
        assertEq(account(0).balance, MIN * 1 gwei, "paid out");
    }

    /// Slashed to nothing, a member leaves the validating set, so the next committee has
    /// no member without stake.
    function testAMemberSlashedToNothingLeavesTheCommittee() public {
        st = new StakeTable(MIN, 0, EXIT_DELAY, EPOCH_BLOCKS, 10_000, 1_000);
        bridge = new Bridge(st);
        st.setBridge(address(bridge));
        register(0, 1, MIN);
        register(1, 2, MIN);
        bytes memory sigA = sign(1, st.consensusDigest(1, 5, VOTE, "a"), BLS.SIG_DST);
        bytes memory sigB = sign(1, st.consensusDigest(1, 5, VOTE, "b"), BLS.SIG_DST);
        st.slash(account(0), 1, 5, VOTE, "a", sigA, "b", sigB);
        (StakeTable.Status status, uint256 stake,,) = st.validator(account(0));
        assertEq(stake, 0, "all of it");
        assertTrue(status == StakeTable.Status.ZOMBIE, "out of the validating set");
        nextEpoch();
        (, uint256 total, uint256 size,) = st.committee(st.currentEpoch());
        assertEq(size, 1, "one member");
        assertEq(total, MIN, "with stake");
    }
}
