// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BLS} from "../BLS.sol";
import {Bridge} from "../Bridge.sol";
import {StakeTable} from "../StakeTable.sol";
import {Base} from "./Base.sol";
import {Fixture} from "./Fixture.sol";

/// Random sequences of what validators and anyone else do: register, exit, withdraw,
/// slash (and slash again), snapshot epochs, attest, let time pass. It records what it
/// saw happen, for the invariants to check.
contract Handler is Fixture {
    uint256 internal constant ACCOUNTS = 4;

    uint256 public deposited;
    uint256 public withdrawn;
    uint256 public rewards;
    uint256 public slashed;
    bool public earlyWithdrawal;
    bool public paidTwice;
    bool public underQuorumAttested;
    bool public heightWentBack;
    uint64 internal highest;

    /// Per account: registered, the epoch it exited in (its last committee) + 1, and
    /// whether a committee took it.
    mapping(uint256 => bool) internal registered;
    mapping(uint256 => uint256) internal exitedIn;
    mapping(uint256 => uint256) internal joinedFor;

    bool internal ready;

    constructor() {
        setUp();
    }

    /// Deploys once; the fuzzer calling it again changes nothing.
    function setUp() public override {
        if (ready) return;
        ready = true;
        super.setUp();
    }

    function stakeTable() external view returns (StakeTable) {
        return st;
    }

    function doRegister(uint256 i, uint64 extra) external {
        i %= ACCOUNTS;
        if (registered[i]) return;
        uint256 stake = MIN + uint256(extra) % MIN;
        register(i, i + 1, stake);
        registered[i] = true;
        joinedFor[i] = st.currentEpoch() + 1;
        deposited += stake * 1 gwei;
    }

    function doExit(uint256 i) external {
        i %= ACCOUNTS;
        (StakeTable.Status status,,,) = st.validator(account(i));
        if (status != StakeTable.Status.VALIDATING) return;
        vm.prank(account(i));
        st.requestExit();
        exitedIn[i] = st.currentEpoch() + 1;
    }

    /// Every account tries to withdraw.
    function doWithdraw() external {
        for (uint256 i = 0; i < ACCOUNTS; i++) {
            (StakeTable.Status status,, uint256 due,) = st.validator(account(i));
            uint256 before = account(i).balance;
            vm.prank(account(i));
            try st.withdraw() {
                withdrawn += account(i).balance - before;
                bool wasMember = status == StakeTable.Status.EXITING && exitedIn[i] > joinedFor[i];
                if (block.timestamp < due || (wasMember && bridge.attestedEpoch() < exitedIn[i])) {
                    earlyWithdrawal = true;
                }
            } catch {}
        }
    }

    function doAdvance() external {
        vm.roll(st.startBlock() + (st.currentEpoch() + 1) * EPOCH_BLOCKS);
        st.advanceEpoch();
    }

    function doWarp(uint32 secs) external {
        vm.warp(block.timestamp + secs);
    }

    function doSlash(uint256 i, uint8 view_) external {
        i %= ACCOUNTS;
        if (!registered[i]) return;
        bytes memory a = sign(i + 1, st.consensusDigest(1, view_, VOTE, "a"), BLS.SIG_DST);
        bytes memory b = sign(i + 1, st.consensusDigest(1, view_, VOTE, "b"), BLS.SIG_DST);
        uint256 before = address(this).balance;
        (, uint256 stakeBefore,,) = st.validator(account(i));
        try st.slash(account(i), 1, view_, VOTE, "a", a, "b", b) {
            rewards += address(this).balance - before;
            (, uint256 stakeAfter,,) = st.validator(account(i));
            slashed += (stakeBefore - stakeAfter) * 1 gwei;
            // The same evidence again pays nothing.
            try st.slash(account(i), 1, view_, VOTE, "a", a, "b", b) {
                paidTwice = true;
            } catch {}
        } catch {}
    }

    function doAttest(uint8 mask, uint64 height) external {
        uint256 epoch = st.currentEpoch();
        (,, uint256 size,) = st.committee(epoch);
        if (size == 0) return;
        (address[] memory addresses,,) = st.members(epoch);
        uint256 count;
        for (uint256 i = 0; i < size; i++) {
            if (mask & (1 << (i % 8)) != 0) count++;
        }
        if (count == 0) return;
        uint256[] memory signers = new uint256[](count);
        uint256 n;
        uint256 signedStake;
        uint256 total;
        for (uint256 i = 0; i < size; i++) {
            (, uint256 stake) = st.member(epoch, i);
            total += stake;
            if (mask & (1 << (i % 8)) != 0) {
                signers[n++] = i;
                signedStake += stake;
            }
        }
        Bridge.Header memory h = header(epoch, height, height, "chain");
        bytes32 digest = bridge.commitDigest(epoch, h.view_, bridge.blockHash(h));
        bytes memory sig;
        for (uint256 k = 0; k < count; k++) {
            // Member secrets are their account index + 1.
            uint256 sk = uint160(addresses[signers[k]]) - 0x10000 + 1;
            bytes memory one = sign(sk, digest, BLS.SIG_DST);
            sig = k == 0 ? one : addSignatures(sig, one);
        }
        try bridge.attest(h, bitmap(size, signers), sig) {
            if (signedStake * 3 <= total * 2) underQuorumAttested = true;
        } catch {}
        if (bridge.attestedHeight() < highest) heightWentBack = true;
        highest = bridge.attestedHeight();
    }
}

contract InvariantsTest is Base {
    Handler internal handler;

    function setUp() public {
        handler = new Handler();
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// Every wei deposited is held, withdrawn or paid as a reward; what is held is the
    /// validators' stakes plus what slashing burned.
    function invariant_stakeIsConserved() public view {
        StakeTable st = handler.stakeTable();
        uint256 held = handler.deposited() - handler.withdrawn() - handler.rewards();
        assertEq(address(st).balance, held, "balance");
        uint256 stakes;
        for (uint256 i = 0; i < 4; i++) {
            (, uint256 stake,,) = st.validator(address(uint160(0x10000 + i)));
            stakes += stake * 1 gwei;
        }
        assertEq(stakes + handler.slashed() - handler.rewards(), held, "stakes and burned");
    }

    function invariant_noWithdrawalBeforeItIsSafe() public view {
        assertTrue(!handler.earlyWithdrawal(), "a withdrawal came early");
    }

    function invariant_oneOffencePaysOnce() public view {
        assertTrue(!handler.paidTwice(), "one offence paid twice");
    }

    function invariant_attestNeedsAQuorum() public view {
        assertTrue(!handler.underQuorumAttested(), "attested without a quorum");
    }

    function invariant_attestedHeightNeverGoesBack() public view {
        assertTrue(!handler.heightWentBack(), "the attested height went back");
    }
}
