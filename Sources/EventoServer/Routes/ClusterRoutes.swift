import EventoCore
import Hummingbird

/// `GET /cluster`: the instances of the cluster, the partitions each holds, who runs each relay.
struct ClusterRoutes {
    let cluster: ClusterCoordinator?

    func register(on router: Router<EventoRequestContext>) {
        router.get("/cluster") { _, _ in
            guard let cluster else {
                // A single instance on SQLite: no partitions, no leases.
                return JSONResponse.object { o in
                    o.field("mode", "single")
                    o.array("instances", [Int]()) { _, _ in }
                    o.field("partitions", 0)
                }
            }
            let status = try await cluster.status()
            var byOwner: [String: [Int]] = [:]
            var relays: [LeaseRecord] = []
            let now = Timestamp.now()
            for l in status.leases {
                guard let owner = l.owner, l.expiresAt > now else { continue }
                if l.name.hasPrefix("partition:"), let p = Int(l.name.dropFirst("partition:".count)) {
                    byOwner[owner, default: []].append(p)
                } else {
                    relays.append(l)
                }
            }
            let owned = byOwner.values.reduce(0) { $0 + $1.count }
            return JSONResponse.object { o in
                o.field("mode", "cluster")
                o.field("self", status.instanceId)
                o.array("instances", status.instances) { w, i in
                    w.object { x in
                        x.field("id", i.id)
                        x.field("address", i.address)
                        x.array("partitions", (byOwner[i.id] ?? []).sorted()) { w, p in w.int(p) }
                        x.field("lastSeen", i.lastSeen.description)
                        x.field("startedAt", i.startedAt.description)
                    }
                }
                o.field("partitions", status.partitionCount)
                o.field("unownedPartitions", status.partitionCount - owned)
                o.array("relays", relays.sorted { $0.name < $1.name }) { w, l in
                    w.object { x in
                        x.field("name", l.name.hasPrefix("relay:") ? String(l.name.dropFirst("relay:".count)) : l.name)
                        x.field("instance", l.owner)
                        x.field("token", l.token)
                        x.field("expiresAt", l.expiresAt.description)
                    }
                }
            }
        }
    }
}
