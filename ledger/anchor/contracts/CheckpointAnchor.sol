// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.4;

/// @title CheckpointAnchor
/// @notice Public, timestamped record of transparency-log checkpoint roots.
/// @dev Per origin the anchored tree size never decreases, so a log operator cannot use
///      the contract to publish an older, shorter view of its log after a newer one.
contract CheckpointAnchor {
    /// @notice A checkpoint (origin, tree size, root hash) was anchored by `by`.
    event Anchored(string origin, uint64 size, bytes32 root, address indexed by);

    /// @notice `size` is below the largest size already anchored for this origin.
    error SizeWentBackwards(uint64 latest, uint64 size);

    /// @notice Largest anchored tree size per keccak256(origin).
    mapping(bytes32 => uint64) public latestSize;

    /// @notice Anchor the checkpoint of `origin` at tree size `size` with root `root`.
    function anchor(string calldata origin, uint64 size, bytes32 root) external {
        bytes32 key = keccak256(bytes(origin));
        uint64 latest = latestSize[key];
        if (size < latest) revert SizeWentBackwards(latest, size);
        latestSize[key] = size;
        emit Anchored(origin, size, root, msg.sender);
    }
}
