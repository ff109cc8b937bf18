// Fuzz shim, not product code: the part of swift-collections' `OrderedDictionary` that swift-w3c-trace-context's
// `TraceState` uses, so the traceparent target compiles that package's sources without swift-collections
// (whose OrderedCollections module needs experimental compiler features to build). Traceparent parsing only
// makes an empty `TraceState`; nothing fuzzed goes through this type.
//
// `import OrderedCollections` in TraceState.swift finds an empty module that scripts/fuzz.sh makes.

struct OrderedDictionary<Key: Hashable, Value> {
    private var _keys: [Key] = []
    private var _values: [Value] = []

    init() {}

    init(_ pairs: some Sequence<(Key, Value)>, uniquingKeysWith combine: (Value, Value) throws -> Value) rethrows {
        for (k, v) in pairs {
            if let i = _keys.firstIndex(of: k) { _values[i] = try combine(_values[i], v) } else {
                _keys.append(k)
                _values.append(v)
            }
        }
    }

    var keys: [Key] { _keys }
    var isEmpty: Bool { _keys.isEmpty }
    var count: Int { _keys.count }

    subscript(key: Key) -> Value? { _keys.firstIndex(of: key).map { _values[$0] } }

    @discardableResult
    mutating func removeValue(forKey key: Key) -> Value? {
        guard let i = _keys.firstIndex(of: key) else { return nil }
        _keys.remove(at: i)
        return _values.remove(at: i)
    }

    @discardableResult
    mutating func updateValue(_ value: Value, forKey key: Key, insertingAt index: Int) -> (originalMember: Value?, index: Int) {
        if let i = _keys.firstIndex(of: key) {
            let old = _values[i]
            _values[i] = value
            return (old, i)
        }
        _keys.insert(key, at: index)
        _values.insert(value, at: index)
        return (nil, index)
    }
}

extension OrderedDictionary: ExpressibleByDictionaryLiteral {
    init(dictionaryLiteral elements: (Key, Value)...) { self.init(elements, uniquingKeysWith: { $1 }) }
}

extension OrderedDictionary: Sequence {
    struct Iterator: IteratorProtocol {
        fileprivate let base: OrderedDictionary
        fileprivate var i = 0
        mutating func next() -> (key: Key, value: Value)? {
            guard i < base._keys.count else { return nil }
            defer { i += 1 }
            return (base._keys[i], base._values[i])
        }
    }

    func makeIterator() -> Iterator { Iterator(base: self) }
}

extension OrderedDictionary: Equatable where Value: Equatable {}
extension OrderedDictionary: Hashable where Value: Hashable {}
extension OrderedDictionary: Sendable where Key: Sendable, Value: Sendable {}
