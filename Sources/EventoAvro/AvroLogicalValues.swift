import EventoCore

/// Conversions between the natural JSON forms of logical types (what clients send and Evento stores) and
/// their Avro representations (what the binary encoding carries).
///
/// Natural forms: decimal "123.45" (exactly `scale` fraction digits), uuid lowercase text, date
/// "2026-11-28", time "04:12:25.123" / "04:12:25.123456", timestamp "2026-11-28T04:12:25.123Z" (micros:
/// six digits), local timestamp without the "Z".
enum AvroLogicalValues {
    // MARK: Calendar

    static func daysFromCivil(_ y: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y - 1 : y
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        var q = a / b
        var r = a % b
        if r < 0 {
            q -= 1
            r += b
        }
        return (q, r)
    }

    static func dateText(days: Int64) -> String {
        let (y, m, d) = civilFromDays(days)
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// Fraction digits: 3 for millis, 6 for micros.
    static func timeText(_ value: Int64, digits: Int) -> String {
        let unit: Int64 = digits == 3 ? 1000 : 1_000_000
        let (secs, frac) = floorDiv(value, unit)
        return "\(pad(secs / 3600, 2)):\(pad(secs / 60 % 60, 2)):\(pad(secs % 60, 2)).\(pad(frac, digits))"
    }

    static func timestampText(_ value: Int64, digits: Int, zulu: Bool) -> String {
        let unit: Int64 = digits == 3 ? 1000 : 1_000_000
        let (secs, frac) = floorDiv(value, unit)
        let (days, secOfDay) = floorDiv(secs, 86_400)
        return dateText(days: days) + "T" + timeText(secOfDay * unit + frac, digits: digits) + (zulu ? "Z" : "")
    }

    // MARK: Parsing natural forms

    private struct Scanner {
        let s: [UInt8]
        var i = 0
        init(_ text: String) { s = Array(text.utf8) }
        var atEnd: Bool { i >= s.count }
        mutating func digits(_ n: Int) -> Int64? {
            guard i + n <= s.count else { return nil }
            var v: Int64 = 0
            for k in 0..<n {
                let c = s[i + k]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int64(c - 0x30)
            }
            i += n
            return v
        }
        mutating func expect(_ c: Character) -> Bool {
            guard i < s.count, s[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }
        mutating func peek(_ c: Character) -> Bool { i < s.count && s[i] == c.asciiValue! }
        /// Fraction digits after a '.', scaled to `digits` places; nil when there are more than `digits`.
        mutating func fraction(digits: Int) -> Int64?? {
            guard expect(".") else { return .some(0) }
            var v: Int64 = 0
            var n = 0
            while i < s.count, s[i] >= 0x30, s[i] <= 0x39 {
                if n == digits { return .some(nil) }
                v = v * 10 + Int64(s[i] - 0x30)
                n += 1
                i += 1
            }
            guard n > 0 else { return nil }
            for _ in n..<digits { v *= 10 }
            return .some(v)
        }
    }

    enum ParseFailure: Error {
        case malformed
        case tooPrecise
    }

    static func parseDate(_ text: String) throws(ParseFailure) -> Int64 {
        var sc = Scanner(text)
        guard let y = sc.digits(4), sc.expect("-"), let m = sc.digits(2), sc.expect("-"), let d = sc.digits(2), sc.atEnd,
            (1...12).contains(m), (1...31).contains(d)
        else { throw .malformed }
        let days = daysFromCivil(y, m, d)
        guard civilFromDays(days) == (y, m, d) else { throw .malformed }
        return days
    }

    /// Time of day in `digits`-fraction units.
    static func parseTime(_ text: String, digits: Int) throws(ParseFailure) -> Int64 {
        var sc = Scanner(text)
        let v = try time(&sc, digits: digits)
        guard sc.atEnd else { throw .malformed }
        return v
    }

    private static func time(_ sc: inout Scanner, digits: Int) throws(ParseFailure) -> Int64 {
        guard let h = sc.digits(2), sc.expect(":"), let mi = sc.digits(2), sc.expect(":"), let se = sc.digits(2), h < 24, mi < 60, se < 60
        else { throw .malformed }
        guard let frac = sc.fraction(digits: digits) else { throw .malformed }
        guard let f = frac else { throw .tooPrecise }
        let unit: Int64 = digits == 3 ? 1000 : 1_000_000
        return ((h * 60 + mi) * 60 + se) * unit + f
    }

    /// A timestamp in `digits`-fraction units since the epoch. `zoned`: needs Z or an offset; else none.
    static func parseTimestamp(_ text: String, digits: Int, zoned: Bool) throws(ParseFailure) -> Int64 {
        var sc = Scanner(text)
        guard let y = sc.digits(4), sc.expect("-"), let m = sc.digits(2), sc.expect("-"), let d = sc.digits(2),
            (1...12).contains(m), (1...31).contains(d), sc.expect("T") || sc.expect(" ")
        else { throw .malformed }
        let days = daysFromCivil(y, m, d)
        guard civilFromDays(days) == (y, m, d) else { throw .malformed }
        let t = try time(&sc, digits: digits)
        let unit: Int64 = digits == 3 ? 1000 : 1_000_000
        var value = days * 86_400 * unit + t
        if zoned {
            if sc.expect("Z") || sc.expect("z") {
            } else if sc.peek("+") || sc.peek("-") {
                let sign: Int64 = sc.expect("+") ? 1 : (sc.expect("-") ? -1 : 0)
                guard let oh = sc.digits(2), sc.expect(":"), let om = sc.digits(2), oh < 24, om < 60 else { throw .malformed }
                value -= sign * (oh * 60 + om) * 60 * unit
            } else {
                throw .malformed
            }
        }
        guard sc.atEnd else { throw .malformed }
        return value
    }

    // MARK: Decimals

    /// "−123.45" with `scale` 2 → -12345; nil when malformed, beyond the precision or more precise than the scale.
    static func unscaled(_ text: String, precision: Int, scale: Int) -> Int128? {
        var s = Substring(text)
        var negative = false
        if s.first == "-" {
            negative = true
            s = s.dropFirst()
        } else if s.first == "+" {
            s = s.dropFirst()
        }
        var intPart = s
        var fracPart: Substring = ""
        if let dot = s.firstIndex(of: ".") {
            intPart = s[..<dot]
            fracPart = s[s.index(after: dot)...]
        }
        guard !intPart.isEmpty || !fracPart.isEmpty, intPart.allSatisfy(\.isASCIIDigit), fracPart.allSatisfy(\.isASCIIDigit) else { return nil }
        // Trailing zeros beyond the scale carry no information.
        while fracPart.count > scale, fracPart.last == "0" { fracPart = fracPart.dropLast() }
        guard fracPart.count <= scale else { return nil }
        let digits = String(intPart.drop { $0 == "0" }) + fracPart + String(repeating: "0", count: scale - fracPart.count)
        let significant = digits.drop { $0 == "0" }
        guard significant.count <= precision, significant.count <= 38 else { return nil }
        var v: Int128 = 0
        for c in significant { v = v * 10 + Int128(c.asciiValue! - 0x30) }
        return negative ? -v : v
    }

    static func decimalText(_ unscaled: Int128, scale: Int) -> String {
        let negative = unscaled < 0
        var digits = String(negative ? -unscaled : unscaled)
        if scale > 0 {
            if digits.count <= scale { digits = String(repeating: "0", count: scale - digits.count + 1) + digits }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -scale))
        }
        return (negative ? "-" : "") + digits
    }

    /// Two's complement big-endian; `size` pads (sign-extends) to a fixed width, nil gives the minimal length.
    static func twosComplement(_ v: Int128, size: Int?) -> [UInt8]? {
        var bytes: [UInt8] = (0..<16).map { UInt8(truncatingIfNeeded: v >> (8 * (15 - $0))) }
        // Drop redundant sign bytes.
        while bytes.count > 1 {
            let first = bytes[0]
            let nextHigh = bytes[1] & 0x80
            if (first == 0x00 && nextHigh == 0) || (first == 0xFF && nextHigh != 0) { bytes.removeFirst() } else { break }
        }
        guard let size else { return bytes }
        guard bytes.count <= size else { return nil }
        let fill: UInt8 = v < 0 ? 0xFF : 0x00
        return [UInt8](repeating: fill, count: size - bytes.count) + bytes
    }

    static func fromTwosComplement(_ bytes: [UInt8]) -> Int128? {
        guard !bytes.isEmpty else { return 0 }
        guard bytes.count <= 16 else { return nil }
        var v: Int128 = bytes[0] & 0x80 != 0 ? -1 : 0
        for b in bytes { v = (v << 8) | Int128(b) }
        return v
    }

    // MARK: Bytes as text

    /// Avro's JSON encoding of bytes: each byte is one code point U+0000…U+00FF.
    static func bytes(fromText s: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(s.unicodeScalars.count)
        for u in s.unicodeScalars {
            guard u.value <= 0xFF else { return nil }
            out.append(UInt8(u.value))
        }
        return out
    }

    static func text(fromBytes b: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for byte in b { s.append(Unicode.Scalar(byte)) }
        return String(s)
    }

    static func isUUID(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard u.count == 36 else { return false }
        for (i, c) in u.enumerated() {
            if [8, 13, 18, 23].contains(i) {
                guard c == UInt8(ascii: "-") else { return false }
            } else {
                guard (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46) else { return false }
            }
        }
        return true
    }
}

extension Character {
    var isASCIIDigit: Bool { asciiValue.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
}
