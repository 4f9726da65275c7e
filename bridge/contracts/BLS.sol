// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title BLS12-381 min_pk signatures through the EIP-2537 precompiles (Prague).
/// @notice Public keys are G1 points (128 bytes), signatures G2 points (256 bytes), both in
/// the EIP-2537 layout: every Fp element is 64 bytes big-endian (16 zero bytes, then 48),
/// G2 coordinates are `c0 ‖ c1`, and the point at infinity is all zeros. Messages are
/// 32-byte digests, hashed to G2 as RFC 9380 `hash_to_curve` with expand_message_xmd over
/// SHA-256. The hot path works in one memory buffer: each precompile writes its output
/// where the next one reads its input, so a verification copies no point twice.
library BLS {
    // Precompile addresses (EIP-2537 for the curve, 0x02 SHA-256, 0x05 MODEXP), as numbers
    // so that inline assembly can use them.
    uint256 private constant SHA256 = 0x02;
    uint256 private constant MODEXP = 0x05;
    uint256 private constant G1_ADD = 0x0b;
    uint256 private constant G2_ADD = 0x0d;
    uint256 private constant PAIRING = 0x0f;
    uint256 private constant MAP_FP2_TO_G2 = 0x11;

    uint256 internal constant G1_LEN = 128;
    uint256 internal constant G2_LEN = 256;

    /// Domain separation tag of consensus signatures.
    bytes internal constant SIG_DST = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
    /// Domain separation tag of proofs of possession.
    bytes internal constant POP_DST = "BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

    /// The field modulus p, as two words: the high 128 bits and the low 256 bits.
    uint256 private constant P_HI = 0x1a0111ea397fe69a4b1ba7b6434bacd7;
    uint256 private constant P_LO = 0x64774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab;

    /// The negated G1 generator `(x, p - y)`, as its four words.
    uint256 private constant NEG_G1_X_HI = 0x17f1d3a73197d7942695638c4fa9ac0f;
    uint256 private constant NEG_G1_X_LO = 0xc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb;
    uint256 private constant NEG_G1_Y_HI = 0x114d1d6855d545a8aa7d76c8cf2e21f2;
    uint256 private constant NEG_G1_Y_LO = 0x67816aef1db507c96655b9d5caac42364e6f38ba0ecb751bad54dcd6b939c2ca;

    error PrecompileFailed(uint256 precompile);

    /// Whether `signature` is a valid signature of the digest `message` by `publicKey`
    /// under `dst`. Points off the curve or outside the prime-order subgroup, and the point
    /// at infinity as key or signature, make it false.
    function verify(bytes memory publicKey, bytes32 message, bytes memory signature, bytes memory dst)
        internal
        view
        returns (bool valid)
    {
        if (publicKey.length != G1_LEN || signature.length != G2_LEN) return false;
        if (isZero(publicKey) || isZero(signature)) return false;
        // e(pk, H(m)) · e(-g1, sig) == 1, input pk ‖ H(m) ‖ -g1 ‖ sig.
        bytes memory input = new bytes(2 * G1_LEN + 2 * G2_LEN);
        assembly {
            mcopy(add(input, 32), add(publicKey, 32), 128)
        }
        hashToG2Into(message, dst, input, G1_LEN);
        assembly {
            let p := add(input, 416)
            // Each Fp element: 16 zero bytes, the high 16 bytes, the low 32 bytes.
            mstore(p, NEG_G1_X_HI)
            mstore(add(p, 32), NEG_G1_X_LO)
            mstore(add(p, 64), NEG_G1_Y_HI)
            mstore(add(p, 96), NEG_G1_Y_LO)
            mcopy(add(p, 128), add(signature, 32), 256)
            // The precompile fails on points off the curve or outside the subgroup.
            let ok := staticcall(gas(), PAIRING, add(input, 32), 768, 0, 32)
            valid := and(and(ok, eq(returndatasize(), 32)), eq(mload(0), 1))
        }
    }

    /// The sum of two G1 points.
    function g1Add(bytes memory a, bytes memory b) internal view returns (bytes memory sum) {
        require(a.length == G1_LEN && b.length == G1_LEN, "G1 points of 128 bytes");
        sum = new bytes(G1_LEN);
        bool ok;
        assembly {
            let input := mload(0x40)
            mcopy(input, add(a, 32), 128)
            mcopy(add(input, 128), add(b, 32), 128)
            // Yul evaluates arguments right to left: call first, then read the size.
            ok := staticcall(gas(), G1_ADD, input, 256, add(sum, 32), 128)
            ok := and(ok, eq(returndatasize(), 128))
        }
        if (!ok) revert PrecompileFailed(G1_ADD);
    }

    /// `a - b` for G1 points.
    function g1Sub(bytes memory a, bytes memory b) internal view returns (bytes memory) {
        return g1Add(a, g1Negate(b));
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

    /// RFC 9380 `hash_to_curve` of the digest `message` to G2.
    function hashToG2(bytes32 message, bytes memory dst) internal view returns (bytes memory point) {
        point = new bytes(G2_LEN);
        hashToG2Into(message, dst, point, 0);
    }

    /// Writes `hash_to_curve(message)` (256 bytes) into `out` at `offset`: two field
    /// elements from expand_message_xmd, each reduced mod p by MODEXP and mapped (with
    /// cofactor clearing) by MAP_FP2_TO_G2, then added by G2_ADD.
    function hashToG2Into(bytes32 message, bytes memory dst, bytes memory out, uint256 offset) private view {
        require(out.length >= offset + G2_LEN, "output too short");
        bytes memory uniform = expandMessageXmd(message, dst);
        bool ok = true;
        assembly {
            // Scratch: the MODEXP input (225 bytes), then two Fp2 elements and two G2 points.
            let modexp := mload(0x40)
            let fp2 := add(modexp, 256)
            let q := add(fp2, 256)
            mstore(0x40, add(q, 512))
            mstore(modexp, 64) // base length
            mstore(add(modexp, 32), 1) // exponent length
            mstore(add(modexp, 64), 64) // modulus length
            // modexp + 96: base (64 bytes), + 160: exponent 0x01, + 161: p (64 bytes)
            mstore8(add(modexp, 160), 1)
            mstore(add(modexp, 161), P_HI)
            mstore(add(modexp, 193), P_LO)
            for { let i := 0 } lt(i, 4) { i := add(i, 1) } {
                mcopy(add(modexp, 96), add(add(uniform, 32), mul(i, 64)), 64)
                ok := and(ok, staticcall(gas(), MODEXP, modexp, 225, add(fp2, mul(i, 64)), 64))
            }
            ok := and(ok, staticcall(gas(), MAP_FP2_TO_G2, fp2, 128, q, 256))
            ok := and(ok, staticcall(gas(), MAP_FP2_TO_G2, add(fp2, 128), 128, add(q, 256), 256))
            ok := and(ok, staticcall(gas(), G2_ADD, q, 512, add(add(out, 32), offset), 256))
        }
        if (!ok) revert PrecompileFailed(MAP_FP2_TO_G2);
    }

    /// RFC 9380 expand_message_xmd with SHA-256 of a 32-byte message, 256 output bytes.
    function expandMessageXmd(bytes32 message, bytes memory dst) internal view returns (bytes memory out) {
        uint256 dstLen = dst.length;
        require(dstLen <= 255, "DST too long");
        out = new bytes(256);
        bool ok;
        assembly {
            let buf := mload(0x40)
            // b0 = H(Z_pad(64) ‖ msg ‖ I2OSP(256, 2) ‖ I2OSP(0, 1) ‖ DST ‖ I2OSP(len(DST), 1))
            mstore(buf, 0)
            mstore(add(buf, 32), 0)
            mstore(add(buf, 64), message)
            mstore(add(buf, 96), shl(232, 0x010000))
            mcopy(add(buf, 99), add(dst, 32), dstLen)
            mstore8(add(buf, add(99, dstLen)), dstLen)
            ok := staticcall(gas(), SHA256, buf, add(100, dstLen), 0, 32)
            let b0 := mload(0)
            // b_i = H((b0 xor b_{i-1}) ‖ I2OSP(i, 1) ‖ DST ‖ I2OSP(len(DST), 1)), b_1 with b_0 only.
            mcopy(add(buf, 33), add(dst, 32), dstLen)
            mstore8(add(buf, add(33, dstLen)), dstLen)
            let prev := 0
            for { let i := 1 } lt(i, 9) { i := add(i, 1) } {
                mstore(buf, xor(b0, prev))
                mstore8(add(buf, 32), i)
                let dest := add(out, mul(i, 32))
                ok := and(ok, staticcall(gas(), SHA256, buf, add(34, dstLen), dest, 32))
                prev := mload(dest)
            }
        }
        if (!ok) revert PrecompileFailed(SHA256);
    }
}
