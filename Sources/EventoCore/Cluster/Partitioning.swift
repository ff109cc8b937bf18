/// Entities hash into a fixed number of partitions; in a cluster each partition is run by one instance.
public enum Partitioning {
    /// The partition of an entity id: FNV-1a (64-bit) of its UTF-8 bytes, modulo `count`. Stable across
    /// processes, machines and releases (it decides which instance runs an entity: never change it).
    public static func partition(of entity: String, count: Int) -> Int {
        precondition(count > 0)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in entity.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return Int(hash % UInt64(count))
    }

    /// The lease name of a partition.
    public static func leaseName(_ partition: Int) -> String { "partition:\(partition)" }
}

/// Proof that an instance holds a lease: its name, holder and token. A write made under a fence commits
/// only while the lease is still held with that token (a deposed holder's writes fail with `FenceLost`).
public struct Fence: Sendable, Hashable, CustomStringConvertible {
    public var lease: String
    public var owner: String
    public var token: Int64

    public init(lease: String, owner: String, token: Int64) {
        self.lease = lease
        self.owner = owner
        self.token = token
    }

    public var description: String { "\(lease)#\(token)@\(owner)" }
}

/// A write under a fence found the lease taken over (or expired): nothing was written.
public struct FenceLost: Error, Sendable, CustomStringConvertible {
    public var fence: Fence
    public init(fence: Fence) { self.fence = fence }
    public var description: String { "lease \(fence.lease) is no longer held by \(fence.owner) with token \(fence.token)" }
}

/// Where an entity's commands run.
public enum Placement: Sendable, Hashable {
    /// Here, with no one else to ask (a single instance).
    case local
    /// Here, while this instance holds the partition's lease: commits carry the fence.
    case owned(partition: Int, fence: Fence)
    /// On another instance (or on none until a lease is taken): log the command, its owner runs it.
    case elsewhere(partition: Int)

    public var runsHere: Bool {
        if case .elsewhere = self { return false }
        return true
    }

    public var fence: Fence? {
        if case .owned(_, let fence) = self { return fence }
        return nil
    }

    public var partition: Int? {
        switch self {
        case .local: nil
        case .owned(let p, _), .elsewhere(let p): p
        }
    }
}

/// Decides where each entity's commands run.
public protocol CommandPlacement: Sendable {
    func placement(of entity: EntityId) -> Placement
    /// The partition of an entity (nil on a single instance).
    func partition(of entity: EntityId) -> Int?
}

/// A single instance runs everything.
public struct LocalPlacement: CommandPlacement {
    public init() {}
    public func placement(of entity: EntityId) -> Placement { .local }
    public func partition(of entity: EntityId) -> Int? { nil }
}
