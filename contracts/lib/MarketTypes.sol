// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Resources of an order or a provider. cpu in millicores, memory in MiB, storage in GiB.
struct Resources {
    uint32 cpu;
    uint32 memoryMb;
    uint32 storageGb;
    uint32 gpus;
}

/// @notice A provider's public asks, per hour in stablecoin base units: per CPU core, per GiB of
/// memory, per GiB of storage, per GPU. Published so tenants can see why they get (no) bids.
struct Prices {
    uint64 perCpu;
    uint64 perGbMemory;
    uint64 perGbStorage;
    uint64 perGpu;
}

/// @notice What an order requires of a provider.
struct Requirements {
    bytes32 region; // 0 = any
    bytes32 gpuModel; // 0 = any
    address auditor; // 0 = none; else the provider's current attributes must be certified by it
}
