// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BLS} from "./BLS.sol";

/// @title Synod's stake table: permissionless validators, epoch committees, slashing.
/// @notice A validator registers a BLS key with a proof of possession bound to its address
/// and the chain id, and a stake of at least `minStake`. The committee of an epoch is a
/// snapshot of the validating set taken by `advanceEpoch` once the epoch's first L1 block
/// is reached; joins and exits take effect at the next snapshot. Two signatures by one key
/// on different subjects for the same (epoch, view, phase) slash it, once; so do two
/// aggregate signatures of one committee (certificates) on different subjects for the
/// same (epoch, view, phase), for every member in both signer sets. An exited or ejected
/// validator's stake leaves only after `exitDelay` and once the bridge accepts no
/// certificate of an epoch whose committee it was in.
///
/// Stakes are counted in gwei (`uint64`), exactly as the nodes count them: `register`
/// takes a whole number of gwei, so the bridge's and the nodes' quorum arithmetic agree.
/// What the stake table reads of the bridge.
interface IAttested {
    /// The epoch of the last block the bridge attested; it accepts no earlier one.
    function attestedEpoch() external view returns (uint64);
}

contract StakeTable {
    enum Status {
        NONE,
        VALIDATING,
        ZOMBIE,
        EXITING
    }

    struct Validator {
        Status status;
        uint64 stake;
        uint64 withdrawableAt;
        /// The first epoch whose committee it is in (the one after it registered).
        uint64 firstEpoch;
        bytes32 keyHash;
        /// Once it left the validating set: the last epoch whose committee it is in, or
        /// `NO_EPOCH` when it left before any snapshot took it.
        uint64 lastEpoch;
        bytes blsKey;
    }

    /// `Validator.lastEpoch` of one that was in no committee.
    uint64 private constant NO_EPOCH = type(uint64).max;

    /// One committee: its snapshot block, total stake, size, the member list it uses
    /// (each member `address ‖ uint64 stake`, in committee order) and the aggregate of
    /// the members' keys. Epochs whose validating set did not change share one list.
    struct Committee {
        uint64 l1Block;
        uint64 totalStake;
        uint32 size;
        uint32 list;
        bytes aggregateKey;
    }

    /// A certificate in slashing evidence: the subject signed, the signers' bitmap over the
    /// committee (bit `i` is byte `i/8`, bit `i%8`) and their aggregate signature.
    struct Certificate {
        bytes32 subject;
        bytes signers;
        bytes signature;
    }

    /// keccak256("SYNOD_CONSENSUS_V1"), the tag of every consensus signature digest.
    bytes32 public constant CONSENSUS_TAG = keccak256("SYNOD_CONSENSUS_V1");
    /// keccak256("SYNOD_POP_V1"), the tag of the proof-of-possession digest.
    bytes32 public constant POP_TAG = keccak256("SYNOD_POP_V1");
    /// Largest committee.
    uint256 public constant MAX_COMMITTEE = 512;

    /// Smallest stake to register, in gwei.
    uint256 public immutable minStake;
    /// A slashed validator with less stake than this (gwei) leaves the committee.
    uint256 public immutable ejectionStake;
    uint256 public immutable exitDelay;
    uint256 public immutable epochBlocks;
    uint256 public immutable startBlock;
    /// Share of the stake a slash takes, in basis points.
    uint256 public immutable slashBps;
    /// Share of the slashed amount paid to the reporter, in basis points.
    uint256 public immutable rewardBps;
    address private immutable deployer;

    /// The bridge whose address consensus signatures are bound to; set once.
    address public bridge;
    uint256 public currentEpoch;
    mapping(address => Validator) private validators;
    mapping(bytes32 => address) public keyOwner;
    mapping(bytes32 => bool) public evidenceUsed;

    address[] private active;
    mapping(address => uint256) private activeSlot;
    bytes private activeKey;
    uint256 private activeStake;
    /// Whether the validating set changed since the last snapshot.
    bool private activeChanged;
    mapping(uint256 => Committee) private committees;
    /// Member lists of snapshots; list 0 is the empty committee of epoch 0.
    bytes32[][] private lists;

    event Registered(address indexed validator, bytes blsKey, uint256 stake);
    event ExitRequested(address indexed validator, uint256 withdrawableAt);
    event Withdrawn(address indexed validator, uint256 amount);
    event Slashed(
        address indexed validator, address indexed reporter, uint256 amount, uint256 reward, Status status
    );
    event EpochStarted(uint256 indexed epoch, uint256 l1Block, uint256 members, uint256 totalStake);

    error BadStatus(Status status);
    error StakeTooLow(uint256 stake, uint256 minimum);
    error KeyInUse();
    error InvalidKey();
    error InvalidProofOfPossession();
    error TooEarly(uint256 due);
    error NotAttestedYet(uint256 lastEpoch, uint256 attestedEpoch);
    error NotWholeGwei(uint256 value);
    error InvalidEvidence(string reason);
    error CommitteeFull();
    error TransferFailed();

    constructor(
        uint256 minStake_,
        uint256 ejectionStake_,
        uint256 exitDelay_,
        uint256 epochBlocks_,
        uint256 slashBps_,
        uint256 rewardBps_
    ) {
        require(ejectionStake_ <= minStake_ && minStake_ > 0 && minStake_ <= type(uint64).max, "stake bounds");
        require(epochBlocks_ > 0 && slashBps_ <= 10_000 && rewardBps_ <= 10_000, "parameters");
        minStake = minStake_;
        ejectionStake = ejectionStake_;
        exitDelay = exitDelay_;
        epochBlocks = epochBlocks_;
        slashBps = slashBps_;
        rewardBps = rewardBps_;
        startBlock = block.number;
        deployer = msg.sender;
        activeKey = new bytes(BLS.G1_LEN);
        committees[0].l1Block = uint64(block.number);
        committees[0].aggregateKey = new bytes(BLS.G1_LEN);
        lists.push();
    }

    /// Binds consensus signatures to `bridge_`; once, by the deployer.
    function setBridge(address bridge_) external {
        require(msg.sender == deployer && bridge == address(0) && bridge_ != address(0), "bridge is set once");
        bridge = bridge_;
    }

    /// Registers the sender with `blsKey` (EIP-2537 G1, 128 bytes), a proof of possession
    /// `pop` (EIP-2537 G2) over `possessionDigest(sender, blsKey)`, and `msg.value` as
    /// stake: a whole number of gwei, at least `minStake` gwei.
    function register(bytes calldata blsKey, bytes calldata pop) external payable {
        Validator storage v = validators[msg.sender];
        if (v.status != Status.NONE || v.keyHash != 0) revert BadStatus(v.status);
        uint256 stake = msg.value / 1 gwei;
        if (msg.value % 1 gwei != 0) revert NotWholeGwei(msg.value);
        if (stake < minStake || stake > type(uint64).max) revert StakeTooLow(stake, minStake);
        if (blsKey.length != BLS.G1_LEN || BLS.isZero(blsKey)) revert InvalidKey();
        bytes32 keyHash = keccak256(blsKey);
        if (keyOwner[keyHash] != address(0)) revert KeyInUse();
        if (!BLS.verify(blsKey, possessionDigest(msg.sender, blsKey), pop, BLS.POP_DST)) {
            revert InvalidProofOfPossession();
        }
        if (active.length >= MAX_COMMITTEE) revert CommitteeFull();
        keyOwner[keyHash] = msg.sender;
        v.status = Status.VALIDATING;
        v.stake = uint64(stake);
        v.firstEpoch = uint64(currentEpoch + 1);
        v.keyHash = keyHash;
        v.blsKey = blsKey;
        active.push(msg.sender);
        activeSlot[msg.sender] = active.length;
        activeKey = BLS.g1Add(activeKey, blsKey);
        activeStake += stake;
        activeChanged = true;
        emit Registered(msg.sender, blsKey, stake);
    }

    /// Leaves the validating set at the next epoch; the stake is withdrawable after
    /// `exitDelay` once the bridge has attested a block of a later epoch than the last
    /// one whose committee the validator is in, and slashable until then.
    function requestExit() external {
        Validator storage v = validators[msg.sender];
        if (v.status != Status.VALIDATING) revert BadStatus(v.status);
        v.status = Status.EXITING;
        v.withdrawableAt = uint64(block.timestamp + exitDelay);
        leaveActive(msg.sender, v);
        emit ExitRequested(msg.sender, v.withdrawableAt);
    }

    /// Pays out what is left of an exited or ejected validator's stake, after the delay and
    /// once no certificate of an epoch whose committee it was in can be attested any more
    /// (the bridge accepts only epochs from its last attested one on): until then, a
    /// certificate it signs can still move the bridge, and its stake must answer for it.
    function withdraw() external {
        Validator storage v = validators[msg.sender];
        if (v.status != Status.EXITING && v.status != Status.ZOMBIE) revert BadStatus(v.status);
        if (block.timestamp < v.withdrawableAt) revert TooEarly(v.withdrawableAt);
        if (v.lastEpoch != NO_EPOCH) {
            uint256 attested = IAttested(bridge).attestedEpoch();
            if (attested <= v.lastEpoch) revert NotAttestedYet(v.lastEpoch, attested);
        }
        uint256 amount = v.stake;
        v.stake = 0;
        v.status = Status.NONE;
        // keyHash stays: a key never registers twice.
        (bool ok,) = msg.sender.call{value: amount * 1 gwei}("");
        if (!ok) revert TransferFailed();
        emit Withdrawn(msg.sender, amount);
    }

    /// Snapshots the validating set as the next epoch's committee, once that epoch's first
    /// L1 block is reached. Anyone may call it.
    function advanceEpoch() external {
        uint256 next = currentEpoch + 1;
        uint256 due = startBlock + next * epochBlocks;
        if (block.number < due) revert TooEarly(due);
        Committee storage c = committees[next];
        c.l1Block = uint64(block.number);
        c.totalStake = uint64(activeStake);
        c.size = uint32(active.length);
        c.aggregateKey = activeKey;
        if (activeChanged) {
            bytes32[] storage list = lists.push();
            for (uint256 i = 0; i < active.length; i++) {
                address a = active[i];
                list.push(packMember(a, validators[a].stake));
            }
            activeChanged = false;
        }
        c.list = uint32(lists.length - 1);
        currentEpoch = next;
        emit EpochStarted(next, block.number, active.length, activeStake);
    }

    /// Slashes the signer of two signatures on different subjects for one
    /// (epoch, view, phase); pays the reporter. Each (key, epoch, view, phase) pays once.
    function slash(
        address account,
        uint256 epoch,
        uint256 view_,
        uint8 phase,
        bytes32 subject1,
        bytes calldata signature1,
        bytes32 subject2,
        bytes calldata signature2
    ) external {
        Validator storage v = validators[account];
        if (v.status == Status.NONE) revert BadStatus(v.status);
        if (v.stake == 0) revert InvalidEvidence("nothing left to slash");
        if (subject1 == subject2) revert InvalidEvidence("same subject");
        bytes32 id = evidenceId(v.keyHash, epoch, view_, phase);
        if (evidenceUsed[id]) revert InvalidEvidence("already slashed for this evidence");
        bytes memory key = v.blsKey;
        bytes32 m1 = consensusDigest(epoch, view_, phase, subject1);
        bytes32 m2 = consensusDigest(epoch, view_, phase, subject2);
        if (!BLS.verify(key, m1, signature1, BLS.SIG_DST) || !BLS.verify(key, m2, signature2, BLS.SIG_DST)) {
            revert InvalidEvidence("signature does not verify");
        }
        pay(punish(account, v, id));
    }

    /// Slashes every member of `epoch`'s committee that is in both signer sets of two
    /// certificates (aggregate signatures, `signers` bitmaps over the committee as the
    /// bridge takes them) on different subjects for one (epoch, view, phase): the
    /// protocol lets a member sign once there, so each of them signed twice. It covers
    /// what individual signatures cannot show: L1 and followers only see aggregates, and
    /// keys that cancel out (`k` and `-k`) are in a certificate's signer set without
    /// having signed anything. Each (key, epoch, view, phase) pays once; members already
    /// slashed for it, or with nothing left, are skipped. Pays the reporter.
    function slashConflicting(uint256 epoch, uint256 view_, uint8 phase, Certificate calldata a, Certificate calldata b)
        external
    {
        if (a.subject == b.subject) revert InvalidEvidence("same subject");
        if (epoch > currentEpoch) revert InvalidEvidence("unknown epoch");
        bytes32[] storage list = lists[committees[epoch].list];
        uint256 size = list.length;
        if (a.signers.length != (size + 7) / 8 || b.signers.length != (size + 7) / 8) {
            revert InvalidEvidence("signer bitmap does not fit the committee");
        }
        if (!signedBy(list, a, consensusDigest(epoch, view_, phase, a.subject))) {
            revert InvalidEvidence("first certificate does not verify");
        }
        if (!signedBy(list, b, consensusDigest(epoch, view_, phase, b.subject))) {
            revert InvalidEvidence("second certificate does not verify");
        }
        uint256 reward;
        uint256 punished;
        for (uint256 i = 0; i < size; i++) {
            uint8 bit = uint8(1 << (i % 8));
            if (uint8(a.signers[i / 8]) & uint8(b.signers[i / 8]) & bit == 0) continue;
            address member_ = address(uint160(uint256(list[i]) >> 96));
            Validator storage v = validators[member_];
            bytes32 id = evidenceId(v.keyHash, epoch, view_, phase);
            if (v.status == Status.NONE || v.stake == 0 || evidenceUsed[id]) continue;
            reward += punish(member_, v, id);
            punished++;
        }
        if (punished == 0) revert InvalidEvidence("nothing to slash");
        pay(reward);
    }

    // --- views ------------------------------------------------------------------------

    /// The digest a proof of possession signs:
    /// `keccak256(abi.encode(POP_TAG, chainid, account, keccak256(blsKey)))`.
    function possessionDigest(address account, bytes memory blsKey) public view returns (bytes32) {
        return keccak256(abi.encode(POP_TAG, block.chainid, account, keccak256(blsKey)));
    }

    /// The digest every consensus signature signs:
    /// `keccak256(abi.encode(TAG, chainid, bridge, epoch, view, phase, subject))`.
    function consensusDigest(uint256 epoch, uint256 view_, uint8 phase, bytes32 subject)
        public
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(CONSENSUS_TAG, block.chainid, bridge, epoch, view_, phase, subject));
    }

    /// A validator's status, stake (gwei), exit time (L1 seconds) and key.
    function validator(address a)
        external
        view
        returns (Status status, uint256 stake, uint256 withdrawableAt, bytes memory blsKey)
    {
        Validator storage v = validators[a];
        return (v.status, v.stake, v.withdrawableAt, v.blsKey);
    }

    /// The committee of `epoch` (empty past `currentEpoch`): its snapshot block, total
    /// stake (gwei), size and aggregate key.
    function committee(uint256 epoch)
        external
        view
        returns (uint256 l1Block, uint256 totalStake, uint256 size, bytes memory aggregateKey)
    {
        Committee storage c = committees[epoch];
        return (c.l1Block, c.totalStake, c.size, c.aggregateKey);
    }

    /// Member `index` of the committee of `epoch`: its key and the stake (gwei) it counts with.
    function member(uint256 epoch, uint256 index) public view returns (bytes memory blsKey, uint256 stake) {
        bytes32 packed = lists[committees[epoch].list][index];
        address a = address(uint160(uint256(packed) >> 96));
        return (validators[a].blsKey, uint64(uint256(packed)));
    }

    /// Every member of the committee of `epoch`, in committee order.
    function members(uint256 epoch)
        external
        view
        returns (address[] memory addresses, bytes[] memory keys, uint256[] memory stakes)
    {
        bytes32[] storage list = lists[committees[epoch].list];
        addresses = new address[](list.length);
        keys = new bytes[](list.length);
        stakes = new uint256[](list.length);
        for (uint256 i = 0; i < list.length; i++) {
            addresses[i] = address(uint160(uint256(list[i]) >> 96));
            (keys[i], stakes[i]) = member(epoch, i);
        }
    }

    // --- internals --------------------------------------------------------------------

    function evidenceId(bytes32 keyHash, uint256 epoch, uint256 view_, uint8 phase) private pure returns (bytes32) {
        return keccak256(abi.encode(keyHash, epoch, view_, phase));
    }

    /// Takes `slashBps` of `account`'s stake for evidence `id`; one left with less than
    /// `ejectionStake`, or with nothing, leaves the validating set. Returns the reward.
    function punish(address account, Validator storage v, bytes32 id) private returns (uint256 reward) {
        evidenceUsed[id] = true;
        uint256 amount = uint256(v.stake) * slashBps / 10_000;
        reward = amount * rewardBps / 10_000;
        v.stake -= uint64(amount);
        if (v.status == Status.VALIDATING) {
            activeStake -= amount;
            activeChanged = true;
            if (v.stake < ejectionStake || v.stake == 0) {
                v.status = Status.ZOMBIE;
                v.withdrawableAt = uint64(block.timestamp + exitDelay);
                leaveActive(account, v);
            }
        }
        emit Slashed(account, msg.sender, amount, reward, v.status);
    }

    /// Pays the reporter; the rest of the slashed amount stays locked here: burned.
    function pay(uint256 reward) private {
        if (reward == 0) return;
        (bool ok,) = msg.sender.call{value: reward * 1 gwei}("");
        if (!ok) revert TransferFailed();
    }

    /// Whether `c.signature` is the aggregate of the members of committee list `list`
    /// named by `c.signers` on `digest`.
    function signedBy(bytes32[] storage list, Certificate calldata c, bytes32 digest) private view returns (bool) {
        bytes calldata signers = c.signers;
        bytes memory key;
        for (uint256 i = 0; i < list.length; i++) {
            if (uint8(signers[i / 8]) & uint8(1 << (i % 8)) == 0) continue;
            bytes memory k = validators[address(uint160(uint256(list[i]) >> 96))].blsKey;
            key = key.length == 0 ? k : BLS.g1Add(key, k);
        }
        // Bits past the committee, or no signer at all, make no certificate.
        for (uint256 i = list.length; i < signers.length * 8; i++) {
            if (uint8(signers[i / 8]) & uint8(1 << (i % 8)) != 0) return false;
        }
        return key.length != 0 && BLS.verify(key, digest, c.signature, BLS.SIG_DST);
    }

    function packMember(address a, uint64 stake) private pure returns (bytes32) {
        return bytes32((uint256(uint160(a)) << 96) | stake);
    }

    function leaveActive(address a, Validator storage v) private {
        uint256 slot = activeSlot[a];
        uint256 last = active.length;
        if (slot != last) {
            address moved = active[last - 1];
            active[slot - 1] = moved;
            activeSlot[moved] = slot;
        }
        active.pop();
        delete activeSlot[a];
        // Its last committee is the current one, if a snapshot took it at all.
        v.lastEpoch = currentEpoch >= v.firstEpoch ? uint64(currentEpoch) : NO_EPOCH;
        activeKey = BLS.g1Sub(activeKey, v.blsKey);
        activeStake -= v.stake;
        activeChanged = true;
    }
}
