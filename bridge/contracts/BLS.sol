// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title BLS12-381 min_pk signatures through the EIP-2537 precompiles (Prague).
/// @notice Public keys are G1 points (128 bytes), signatures G2 points (256 bytes), both in
/// the EIP-2537 layout: every Fp element is 64 bytes big-endian (16 zero bytes, then 48),
/// G2 coordinates are `c0 ‖ c1`, and the point at infinity is all zeros. Messages are
/// hashed to G2 as RFC 9380 `hash_to_curve` with expand_message_xmd over SHA-256.
library BLS {
    address private constant SHA256 = address(0x02);
    address private constant MODEXP = address(0x05);
    address private constant G1_ADD = address(0x0b);
    address private constant G2_ADD = address(0x0d);
    address private constant PAIRING = address(0x0f);
    address private constant MAP_FP2_TO_G2 = address(0x11);

    uint256 internal constant G1_LEN = 128;
    uint256 internal constant G2_LEN = 256;

    /// Domain separation tag of consensus signatures.
    bytes internal constant SIG_DST = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
    /// Domain separation tag of proofs of possession.
    bytes internal constant POP_DST = "BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

    /// The field modulus p, as two words: the high 128 bits and the low 256 bits.
    uint256 private constant P_HI = 0x1a0111ea397fe69a4b1ba7b6434bacd7;
    uint256 private constant P_LO = 0x64774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab;

    /// The negated G1 generator, `(x, p - y)`.
    bytes private constant NEG_G1 =
        hex"0000000000000000000000000000000017f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
        hex"00000000000000000000000000000000114d1d6855d545a8aa7d76c8cf2e21f267816aef1db507c96655b9d5caac42364e6f38ba0ecb751bad54dcd6b939c2ca";

    error PrecompileFailed(address precompile);

    /// Whether `signature` is a valid signature of `message` by `publicKey` under `dst`.
    /// Points off the curve or outside the prime-order subgroup, and the point at
    /// infinity as key or signature, make it false.
    function verify(bytes memory publicKey, bytes memory message, bytes memory signature, bytes memory dst)
        internal
        view
        returns (bool)
    {
        if (publicKey.length != G1_LEN || signature.length != G2_LEN) return false;
        if (isZero(publicKey) || isZero(signature)) return false;
        bytes memory h = hashToG2(message, dst);
        // e(pk, H(m)) · e(-g1, sig) == 1
        bytes memory input = bytes.concat(publicKey, h, NEG_G1, signature);
        (bool ok, bytes memory out) = PAIRING.staticcall(input);
        // The precompile fails on points off the curve or outside the subgroup.
        return ok && out.length == 32 && uint256(bytes32(out)) == 1;
    }

    /// The sum of two G1 points.
    function g1Add(bytes memory a, bytes memory b) internal view returns (bytes memory sum) {
        (bool ok, bytes memory out) = G1_ADD.staticcall(bytes.concat(a, b));
        if (!ok || out.length != G1_LEN) revert PrecompileFailed(G1_ADD);
        return out;
    }

    /// `-a` for a G1 point: `(x, p - y)`; infinity stays infinity.
    function g1Negate(bytes memory a) internal pure returns (bytes memory negated) {
        require(a.length == G1_LEN, "G1 point of 128 bytes");
        negated = bytes.concat(a);
        uint256 hi;
        uint256 lo;
        assembly {
            hi := mload(add(a, 96))
            lo := mload(add(a, 128))
        }
        if (hi == 0 && lo == 0) return negated;
        // (P_HI, P_LO) - (hi, lo), with the borrow; y < p, so no underflow overall.
        uint256 borrow = lo > P_LO ? 1 : 0;
        uint256 newLo;
        unchecked {
            newLo = P_LO - lo;
        }
        uint256 newHi = P_HI - hi - borrow;
        assembly {
            mstore(add(negated, 96), newHi)
            mstore(add(negated, 128), newLo)
        }
    }

    /// Whether every byte is zero (the point at infinity).
    function isZero(bytes memory b) internal pure returns (bool) {
        for (uint256 i = 0; i < b.length; i += 32) {
            bytes32 word;
            assembly {
                word := mload(add(add(b, 32), i))
            }
            if (word != 0) return false;
        }
        return true;
    }

    /// RFC 9380 `hash_to_curve` to G2: two field elements from expand_message_xmd, each
    /// mapped (with cofactor clearing) by the precompile, then added.
    function hashToG2(bytes memory message, bytes memory dst) internal view returns (bytes memory) {
        bytes memory uniform = expandMessageXmd(message, dst);
        bytes memory q0 = mapToG2(bytes.concat(reduce(uniform, 0), reduce(uniform, 64)));
        bytes memory q1 = mapToG2(bytes.concat(reduce(uniform, 128), reduce(uniform, 192)));
        (bool ok, bytes memory sum) = G2_ADD.staticcall(bytes.concat(q0, q1));
        if (!ok || sum.length != G2_LEN) revert PrecompileFailed(G2_ADD);
        return sum;
    }

    function mapToG2(bytes memory fp2) private view returns (bytes memory) {
        (bool ok, bytes memory out) = MAP_FP2_TO_G2.staticcall(fp2);
        if (!ok || out.length != G2_LEN) revert PrecompileFailed(MAP_FP2_TO_G2);
        return out;
    }

    /// 64 bytes of `data` from `offset`, as a big-endian integer reduced mod p (64 bytes).
    function reduce(bytes memory data, uint256 offset) private view returns (bytes memory) {
        bytes memory chunk = new bytes(64);
        assembly {
            mstore(add(chunk, 32), mload(add(add(data, 32), offset)))
            mstore(add(chunk, 64), mload(add(add(data, 64), offset)))
        }
        // modexp(base = chunk, exponent = 1, modulus = p)
        bytes memory input = bytes.concat(
            bytes32(uint256(64)), bytes32(uint256(1)), bytes32(uint256(64)), chunk, hex"01", bytes32(P_HI), bytes32(P_LO)
        );
        (bool ok, bytes memory out) = MODEXP.staticcall(input);
        if (!ok || out.length != 64) revert PrecompileFailed(MODEXP);
        return out;
    }

    /// RFC 9380 expand_message_xmd with SHA-256, 256 output bytes.
    function expandMessageXmd(bytes memory message, bytes memory dst) internal pure returns (bytes memory out) {
        require(dst.length <= 255, "DST too long");
        bytes memory dstPrime = bytes.concat(dst, bytes1(uint8(dst.length)));
        // Z_pad (64 zero bytes) ‖ msg ‖ I2OSP(256, 2) ‖ I2OSP(0, 1) ‖ DST_prime
        bytes32 b0 = sha256(bytes.concat(bytes32(0), bytes32(0), message, hex"010000", dstPrime));
        bytes32 bi = sha256(bytes.concat(b0, hex"01", dstPrime));
        out = new bytes(256);
        assembly {
            mstore(add(out, 32), bi)
        }
        for (uint256 i = 2; i <= 8; i++) {
            bi = sha256(bytes.concat(b0 ^ bi, bytes1(uint8(i)), dstPrime));
            assembly {
                mstore(add(out, mul(i, 32)), bi)
            }
        }
    }
}
