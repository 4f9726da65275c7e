// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {BLS} from "./BLS.sol";
import {StakeTable} from "./StakeTable.sol";

/// @title Synod's L1 bridge: finalized headers attested by their epoch's committee.
/// @notice `attest` accepts a header with its finality certificate only if the signers
/// hold more than two thirds of the stake of the header's epoch committee, as the
/// StakeTable recorded it, and their aggregate signature verifies on the header's commit
/// digest. The signers' aggregate key is the committee's recorded aggregate minus the
/// keys of the members that did not sign, so a certificate signed by everyone costs one
/// pairing check whatever the committee size.
contract Bridge {
    /// A Synod block header; its hash is `keccak256(abi.encode(...))` of these fields.
    struct Header {
        bytes32 parent;
        uint64 height;
        uint64 view_;
        uint64 epoch;
        bytes32 payloadDigest;
        bytes32 daCommitment;
        uint64 timestampMs;
        uint32 proposer;
    }

    /// The commit phase of consensus signatures.
    uint8 public constant COMMIT_PHASE = 3;
    /// keccak256("SYNOD_CONSENSUS_V1"), the tag of every consensus signature digest.
    bytes32 public constant CONSENSUS_TAG = keccak256("SYNOD_CONSENSUS_V1");

    StakeTable public immutable stakeTable;

    /// Height, epoch and hash of the last attested block (height and epoch share a slot).
    uint64 public attestedHeight;
    uint64 public attestedEpoch;
    bytes32 public attestedHash;

    event Attested(uint256 indexed height, bytes32 indexed blockHash, uint256 epoch, uint256 signedStake);

    error NotNewer(uint256 height, uint256 attested);
    error WrongEpoch(uint256 epoch, uint256 attestedEpoch, uint256 currentEpoch);
    error BadSigners();
    error NoQuorum(uint256 signed, uint256 total);
    error BadSignature();

    constructor(StakeTable stakeTable_) {
        stakeTable = stakeTable_;
    }

    /// The block hash of `h`.
    function blockHash(Header calldata h) public pure returns (bytes32) {
        return keccak256(
            abi.encode(h.parent, h.height, h.view_, h.epoch, h.payloadDigest, h.daCommitment, h.timestampMs, h.proposer)
        );
    }

    /// The digest the committee signs to finalize block `hash` of `view_`:
    /// `keccak256(abi.encode(TAG, chainid, this bridge, epoch, view, 3, hash))`.
    function commitDigest(uint256 epoch, uint256 view_, bytes32 hash) public view returns (bytes32) {
        return keccak256(abi.encode(CONSENSUS_TAG, block.chainid, address(this), epoch, view_, COMMIT_PHASE, hash));
    }

    /// Attests `h` with its finality certificate: `signers` is the bitmap over the epoch's
    /// committee (bit `i` is byte `i/8`, bit `i%8`, exactly `ceil(n/8)` bytes) and
    /// `signature` the signers' aggregate (EIP-2537 G2) on the commit digest of `h`.
    function attest(Header calldata h, bytes calldata signers, bytes calldata signature) external {
        if (h.height <= attestedHeight) revert NotNewer(h.height, attestedHeight);
        uint256 current = stakeTable.currentEpoch();
        if (h.epoch < attestedEpoch || h.epoch > current) revert WrongEpoch(h.epoch, attestedEpoch, current);
        (, uint256 totalStake, uint256 size, bytes memory key) = stakeTable.committee(h.epoch);
        if (size == 0 || signers.length != (size + 7) / 8) revert BadSigners();
        uint256 signedStake = totalStake;
        unchecked {
            for (uint256 byteIndex = 0; byteIndex < signers.length; ++byteIndex) {
                uint256 bits = uint8(signers[byteIndex]);
                uint256 base = byteIndex * 8;
                // A full byte inside the committee: eight signers, nothing to subtract.
                if (bits == 0xff && base + 8 <= size) continue;
                for (uint256 bit = 0; bit < 8; ++bit) {
                    bool signed = bits & (1 << bit) != 0;
                    if (base + bit >= size) {
                        if (signed) revert BadSigners();
                    } else if (!signed) {
                        (bytes memory missing, uint256 stake) = stakeTable.member(h.epoch, base + bit);
                        key = BLS.g1Sub(key, missing);
                        signedStake -= stake;
                    }
                }
            }
        }
        // More than two thirds: exactly two thirds is not enough.
        if (signedStake * 3 <= totalStake * 2) revert NoQuorum(signedStake, totalStake);
        bytes32 hash = blockHash(h);
        if (!BLS.verify(key, commitDigest(h.epoch, h.view_, hash), signature, BLS.SIG_DST)) revert BadSignature();
        attestedHeight = h.height;
        attestedHash = hash;
        attestedEpoch = h.epoch;
        emit Attested(h.height, hash, h.epoch, signedStake);
    }
}
