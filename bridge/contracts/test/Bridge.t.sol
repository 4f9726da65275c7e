// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Bridge} from "../Bridge.sol";
import {Fixture} from "./Fixture.sol";

contract BridgeTest is Fixture {
    uint256 internal epoch;

    function setUp() public override {
        super.setUp();
        epoch = committeeOf(7, MIN);
    }

    /// Attests a header of `height` signed by `signers`.
    function attestBy(uint64 height, uint256[] memory signers) internal {
        Bridge.Header memory h = header(epoch, height, height, "chain");
        bytes32 digest = bridge.commitDigest(epoch, h.view_, bridge.blockHash(h));
        bridge.attest(h, bitmap(7, signers), aggregate(signers, digest));
    }

    function testACertificateOfAQuorumIsAttested() public {
        attestBy(5, range(0, 5));
        assertEq(bridge.attestedHeight(), 5, "height");
        assertEq(bridge.attestedEpoch(), epoch, "epoch");
    }

    function testEveryMemberSigningIsAttested() public {
        attestBy(5, range(0, 7));
        assertEq(bridge.attestedHeight(), 5, "height");
    }

    function testExactlyTwoThirdsIsNoQuorum() public {
        // Six equal members: four of them hold exactly two thirds.
        StakeTableFixtureOfSix six = new StakeTableFixtureOfSix();
        six.run();
    }

    function testFewerThanAQuorumReverts() public {
        Bridge.Header memory h = header(epoch, 5, 5, "chain");
        uint256[] memory signers = range(0, 4);
        bytes memory sig = aggregate(signers, bridge.commitDigest(epoch, 5, bridge.blockHash(h)));
        vm.expectRevert(abi.encodeWithSelector(Bridge.NoQuorum.selector, 4 * MIN, 7 * MIN));
        bridge.attest(h, bitmap(7, signers), sig);
    }

    function testABadSignatureReverts() public {
        Bridge.Header memory h = header(epoch, 5, 5, "chain");
        uint256[] memory signers = range(0, 5);
        // Signed on another view.
        bytes memory sig = aggregate(signers, bridge.commitDigest(epoch, 6, bridge.blockHash(h)));
        vm.expectRevert(Bridge.BadSignature.selector);
        bridge.attest(h, bitmap(7, signers), sig);
    }

    function testMalformedSignerBitmapsRevert() public {
        Bridge.Header memory h = header(epoch, 5, 5, "chain");
        uint256[] memory signers = range(0, 5);
        bytes memory sig = aggregate(signers, bridge.commitDigest(epoch, 5, bridge.blockHash(h)));
        vm.expectRevert(Bridge.BadSigners.selector);
        bridge.attest(h, new bytes(2), sig);
        // A bit past the committee (member 7 of 7).
        bytes memory bits = bitmap(7, signers);
        bits[0] |= bytes1(uint8(0x80));
        vm.expectRevert(Bridge.BadSigners.selector);
        bridge.attest(h, bits, sig);
    }

    function testAnAttestedHeightNeverGoesBack() public {
        attestBy(5, range(0, 5));
        Bridge.Header memory h = header(epoch, 5, 9, "other");
        uint256[] memory signers = range(0, 5);
        bytes memory sig = aggregate(signers, bridge.commitDigest(epoch, 9, bridge.blockHash(h)));
        vm.expectRevert(abi.encodeWithSelector(Bridge.NotNewer.selector, 5, 5));
        bridge.attest(h, bitmap(7, signers), sig);
    }

    function testAnEpochBeforeTheAttestedOneOrNotStartedReverts() public {
        Bridge.Header memory h = header(epoch + 1, 5, 5, "chain");
        vm.expectRevert(abi.encodeWithSelector(Bridge.WrongEpoch.selector, epoch + 1, 0, epoch));
        bridge.attest(h, bitmap(7, range(0, 5)), new bytes(256));
        nextEpoch();
        uint256 next = st.currentEpoch();
        Bridge.Header memory later = header(next, 6, 6, "chain");
        uint256[] memory signers = range(0, 5);
        bridge.attest(
            later, bitmap(7, signers), aggregate(signers, bridge.commitDigest(next, 6, bridge.blockHash(later)))
        );
        h = header(epoch, 7, 7, "chain");
        vm.expectRevert(abi.encodeWithSelector(Bridge.WrongEpoch.selector, epoch, next, next));
        bridge.attest(h, bitmap(7, signers), new bytes(256));
    }

    /// Any set of signers is attested exactly when it holds more than two thirds of the
    /// stake.
    function testFuzzAttestIffQuorum(uint8 mask) public {
        uint256 count;
        for (uint256 i = 0; i < 7; i++) {
            if (mask & (1 << i) != 0) count++;
        }
        vm.assume(count > 0);
        uint256[] memory signers = new uint256[](count);
        uint256 n;
        for (uint256 i = 0; i < 7; i++) {
            if (mask & (1 << i) != 0) signers[n++] = i;
        }
        Bridge.Header memory h = header(epoch, 5, 5, "chain");
        bytes memory sig = aggregate(signers, bridge.commitDigest(epoch, 5, bridge.blockHash(h)));
        if (count * 3 <= 7 * 2) {
            vm.expectRevert(abi.encodeWithSelector(Bridge.NoQuorum.selector, count * MIN, 7 * MIN));
        }
        bridge.attest(h, bitmap(7, signers), sig);
    }
}

/// Six equal members, so that four hold exactly two thirds.
contract StakeTableFixtureOfSix is Fixture {
    function run() external {
        setUp();
        uint256 epoch = committeeOf(6, MIN);
        Bridge.Header memory h = header(epoch, 5, 5, "chain");
        uint256[] memory signers = range(0, 4);
        bytes memory sig = aggregate(signers, bridge.commitDigest(epoch, 5, bridge.blockHash(h)));
        vm.expectRevert(abi.encodeWithSelector(Bridge.NoQuorum.selector, 4 * MIN, 6 * MIN));
        bridge.attest(h, bitmap(6, signers), sig);
        signers = range(0, 5);
        bridge.attest(h, bitmap(6, signers), aggregate(signers, bridge.commitDigest(epoch, 5, bridge.blockHash(h))));
    }
}
