// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BLS} from "./BLS.sol";

/// @title Synod's stake table: permissionless validators, epoch committees, slashing.
/// @notice A validator registers a BLS key with a proof of possession bound to its address
/// and the chain id, and a stake of at least `minStake`. The committee of an epoch is a
/// snapshot of the validating set taken by `advanceEpoch` once the epoch's first L1 block
/// is reached; joins and exits take effect at the next snapshot. Two signatures by one key
/// on different subjects for the same (epoch, view, phase) slash it, once.
///
/// Stakes are counted in gwei (`uint64`), exactly as the nodes count them: `register`
/// takes a whole number of gwei, so the bridge's and the nodes' quorum arithmetic agree.
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
        bytes32 keyHash;
        bytes blsKey;
    }

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
    /// `exitDelay` and slashable until then.
    function requestExit() external {
        Validator storage v = validators[msg.sender];
        if (v.status != Status.VALIDATING) revert BadStatus(v.status);
        v.status = Status.EXITING;
        v.withdrawableAt = uint64(block.timestamp + exitDelay);
        leaveActive(msg.sender, v);
        emit ExitRequested(msg.sender, v.withdrawableAt);
    }

    /// Pays out what is left of an exited or ejected validator's stake after the delay.
    function withdraw() external {
        Validator storage v = validators[msg.sender];
        if (v.status != Status.EXITING && v.status != Status.ZOMBIE) revert BadStatus(v.status);
        if (block.timestamp < v.withdrawableAt) revert TooEarly(v.withdrawableAt);
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
        bytes32 id = keccak256(abi.encode(v.keyHash, epoch, view_, phase));
        if (evidenceUsed[id]) revert InvalidEvidence("already slashed for this evidence");
        bytes memory key = v.blsKey;
        bytes32 m1 = consensusDigest(epoch, view_, phase, subject1);
        bytes32 m2 = consensusDigest(epoch, view_, phase, subject2);
        if (!BLS.verify(key, m1, signature1, BLS.SIG_DST) || !BLS.verify(key, m2, signature2, BLS.SIG_DST)) {
            revert InvalidEvidence("signature does not verify");
        }
        evidenceUsed[id] = true;
        uint256 amount = uint256(v.stake) * slashBps / 10_000;
        uint256 reward = amount * rewardBps / 10_000;
        v.stake -= uint64(amount);
        if (v.status == Status.VALIDATING) {
            activeStake -= amount;
            activeChanged = true;
            if (v.stake < ejectionStake) {
                v.status = Status.ZOMBIE;
                v.withdrawableAt = uint64(block.timestamp + exitDelay);
                leaveActive(account, v);
            }
        }
        emit Slashed(account, msg.sender, amount, reward, v.status);
        // The rest of the slashed amount stays locked in this contract: burned.
        (bool ok,) = msg.sender.call{value: reward * 1 gwei}("");
        if (!ok) revert TransferFailed();
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
        activeKey = BLS.g1Sub(activeKey, v.blsKey);
        activeStake -= v.stake;
        activeChanged = true;
    }
}
