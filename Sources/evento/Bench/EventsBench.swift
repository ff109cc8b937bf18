import ArgumentParser
import EventoCore
import EventoKafka
import EventoPostgres
import EventoStore
import Foundation
import Synchronization

struct EventsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Batched POST /events to many entities; checks the store holds every acknowledged event.")

    @OptionGroup var options: BenchOptions
    @Option(help: "Events per POST /events.") var batch = 100
    @Option(help: "Entities the events spread over.") var entities = 1000

    static let schema = #"[{"type":"record","name":"Happened","namespace":"bench","evento":"event","fields":[{"name":"n","type":"long"},{"name":"note","type":"string"}]}]"#
    static let note = "a payload of a few dozen bytes, like most events"

    func run() async throws {
        let client = BenchClient(bases: options.baseURLs)
        guard let health = await client.get("/healthz"), let startHead = health["headPosition"]?.intValue else {
            throw CLIError("cannot reach Evento at \(options.baseURL)")
        }
        guard let put = await client.request("PUT", "/schemas/bench", body: Array(Self.schema.utf8)), put.status < 300 else {
            throw CLIError("cannot register the bench schema")
        }
        // A cluster: the other instances load the schema when the store tells them; wait for that.
        for base in client.bases.dropFirst() {
            let one = BenchClient(bases: [base])
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline, await one.request("GET", "/schemas/bench")?.status != 200 {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        let run = "b" + Identifiers.uuidV7().suffix(12)
        let concurrency = options.concurrency ?? 8
        let acked = Locked<[String]>([])  // first id of each acknowledged batch
        let batch = self.batch
        let entities = self.entities
        let load = LoadGenerator(
            concurrency: concurrency, duration: .milliseconds(Int64(options.duration * 1000)), rate: options.rate, label: "events",
            unitName: "events", progress: !options.json)
        let result = await load.run { (worker: Int, i: Int) -> Outcome in
            var body: String = #"{"events":["#
            for k in 0..<batch {
                if k > 0 { body += "," }
                let entity: Int = (worker * 7919 + i * batch + k) % entities
                let id: String = "\(run)-\(worker)-\(i)-\(k)"
                body += #"{"id":""# + id + #"","entity":"bench:"# + run + "-" + String(entity)
                body += #"","type":"Happened","payload":{"n":"# + String(k) + #","note":""# + Self.note + #""}}"#
            }
            body += "]}"
            guard let r = await client.request("POST", "/events", body: Array(body.utf8)) else {
                return Outcome(ok: false, units: 0, error: "no response")
            }
            if r.status == 429 { return await BenchClient.backOff(r) }
            guard r.status == 201 else { return Outcome(ok: false, units: 0, error: "\(r.status): \(r.text.prefix(200))") }
            acked.withLock { $0.append("\(run)-\(worker)-\(i)") }
            return Outcome(ok: true, units: batch, error: nil)
        }
        // Verify: walk the feed from where the run started; every acknowledged batch is there, whole, and
        // nothing of this run is there that was not acknowledged (errored batches must have left nothing).
        let ackedBatches = Set(acked.value)
        var stored: [String: Int] = [:]
        var after = startHead
        while true {
            guard let page = await client.get("/events?afterPosition=\(after)&limit=10000"),
                let events = page["events"]?.arrayValue, !events.isEmpty
            else { break }
            for e in events {
                guard let id = e["id"]?.stringValue, id.hasPrefix(run + "-") else { continue }
                stored[String(id[..<id.lastIndex(of: "-")!]), default: 0] += 1
            }
            after = page["lastPosition"]?.intValue ?? after
        }
        var complete = true
        for b in ackedBatches where stored[b] != batch { complete = false }
        var unacknowledged = 0
        for k in stored.keys where !ackedBatches.contains(k) { unacknowledged += 1 }
        var storedCount = 0
        for v in stored.values { storedCount += v }
        let acknowledgedCount: Int = ackedBatches.count * batch
        var verification: String = "\(Format.int(storedCount)) stored of \(Format.int(acknowledgedCount)) acknowledged"
        if unacknowledged > 0 {
            verification += ", \(unacknowledged) batches stored but not acknowledged (their requests failed on the client side)"
        }
        let endHealth: JSONValue? = await client.get("/healthz")
        let peak: Int? = endHealth?["peakRssBytes"]?.intValue.map { Int($0) }
        var report = BenchReport(
            scenario: "events (batches of \(batch), \(entities) entities)", unit: "events", load: result, concurrency: concurrency,
            rate: options.rate, acknowledged: acknowledgedCount, verified: complete && unacknowledged == 0,
            verification: verification, serverPeakRssBytes: peak)
        let kafka = await client.get("/kafka")
        report.kafkaLag = kafka?["lag"]?.intValue
        if !options.noLimits {
            let sample = #"{"n":1,"note":"\#(Self.note)"}"#
            if let pg = options.postgresURL {
                let raw = try await PostgresLimits.rawAppendRate(url: pg, rows: 200_000, batch: batch, connections: 1, payload: sample)
                report.limits.append(("raw PostgreSQL appends, same rows, one statement and fsync per \(batch), 1 connection", raw))
            } else {
                let raw = try StoreLimits.rawAppendRate(
                    directory: NSTemporaryDirectory() + "evento-limit-" + run, rows: 200_000, batch: batch, durable: true, payload: sample)
                report.limits.append(("raw SQLite appends, same rows, fsync per \(batch)", raw))
            }
            if let brokers = kafka?["brokers"]?.stringValue {
                report.limits.append(("raw librdkafka produce, same broker", try await rawKafkaRate(brokers: brokers, payloadSize: 60)))
            }
        }
        report.print(json: options.json)
    }
}

/// Messages per second one idempotent producer delivers to the broker (acks=all), flushed.
func rawKafkaRate(brokers: String, payloadSize: Int, count: Int = 200_000) async throws -> Double {
    let delivered = Counter()
    let producer = try KafkaProducer(
        configuration: KafkaConfiguration(brokers: brokers), onDelivery: { _, r in if case .success = r { delivered.add(1) } },
        onError: { _ in })
    try await producer.createTopic("evento-bench-limit", partitions: 4)
    let value = [UInt8](repeating: 0x61, count: payloadSize)
    let start = ContinuousClock.now
    var i = 0
    while i < count {
        let message = KafkaMessage(topic: "evento-bench-limit", key: Array("bench:\(i % 1000)".utf8), value: value, headers: [], token: UInt64(i))
        if try enqueue(producer, message) {
            i += 1
        } else {
            try await Task.sleep(for: .milliseconds(1))
        }
    }
    await producer.flush(timeout: .seconds(60))
    let seconds = Double((ContinuousClock.now - start) / .milliseconds(1)) / 1000
    producer.close()
    return Double(delivered.value) / max(seconds, 1e-9)
}

/// Produces one message; false when librdkafka's queue is full. Kept out of the async loop above: a
/// `do`/`catch where` with an `await` in the catch sends Swift 6.3's MandatoryAllocBoxToStack pass into
/// an endless StackNesting fix-up.
private func enqueue(_ producer: KafkaProducer, _ message: KafkaMessage) throws -> Bool {
    do {
        try producer.produce(message)
        return true
    } catch where error.isQueueFull {
        return false
    }
}
