#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A wall-clock instant with millisecond precision, rendered as RFC 3339 UTC (`2026-11-28T04:12:25.123Z`).
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var millisecondsSinceEpoch: Int64

    public init(millisecondsSinceEpoch: Int64) { self.millisecondsSinceEpoch = millisecondsSinceEpoch }

    public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(millisecondsSinceEpoch: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
    }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.millisecondsSinceEpoch < b.millisecondsSinceEpoch }

    /// RFC 3339 in UTC with milliseconds.
    public var description: String {
        let ms = millisecondsSinceEpoch
        var days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let msOfDay = ms - days * 86_400_000
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        var year = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        if month <= 2 { year += 1 }
        var out = [UInt8]()
        out.reserveCapacity(24)
        func pad(_ v: Int64, _ width: Int) {
            var digits = [UInt8](repeating: UInt8(ascii: "0"), count: width)
            var x = v
            var i = width - 1
            while i >= 0 {
                digits[i] = UInt8(ascii: "0") + UInt8(x % 10)
                x /= 10
                i -= 1
            }
            out.append(contentsOf: digits)
        }
        pad(year, 4); out.append(UInt8(ascii: "-"))
        pad(month, 2); out.append(UInt8(ascii: "-"))
        pad(day, 2); out.append(UInt8(ascii: "T"))
        pad(msOfDay / 3_600_000, 2); out.append(UInt8(ascii: ":"))
        pad(msOfDay / 60_000 % 60, 2); out.append(UInt8(ascii: ":"))
        pad(msOfDay / 1000 % 60, 2); out.append(UInt8(ascii: "."))
        pad(msOfDay % 1000, 3); out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }
}

extension Timestamp {
    /// Parses RFC 3339 (`2026-11-28T04:12:25Z`, `…25.123Z`, `…25+02:00`; `t`/`z` accepted, a space is not).
    /// Fractions finer than a millisecond round up, so a "not before" never comes early. Nil when malformed
    /// or out of range (years 0001–9999).
    public init?(rfc3339 text: String) {
        let b = Array(text.utf8)
        var i = 0
        func digits(_ n: Int) -> Int64? {
            guard i + n <= b.count else { return nil }
            var v: Int64 = 0
            for k in i..<(i + n) {
                guard b[k] >= 48, b[k] <= 57 else { return nil }
                v = v * 10 + Int64(b[k] - 48)
            }
            i += n
            return v
        }
        func expect(_ c: UInt8...) -> Bool {
            guard i < b.count, c.contains(b[i]) else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(45), let month = digits(2), expect(45), let day = digits(2), expect(84, 116),
            let hour = digits(2), expect(58), let minute = digits(2), expect(58), let second = digits(2)
        else { return nil }
        guard year >= 1, (1...12).contains(month), hour < 24, minute < 60, second < 60 else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthDays: [Int64] = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day >= 1, day <= monthDays[Int(month - 1)] else { return nil }
        var ms: Int64 = 0
        if i < b.count, b[i] == 46 {
            i += 1
            var count = 0
            var roundUp = false
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                if count < 3 { ms = ms * 10 + Int64(b[i] - 48) } else if b[i] != 48 { roundUp = true }
                count += 1
                i += 1
            }
            guard count > 0 else { return nil }
            if count < 3 { for _ in count..<3 { ms *= 10 } }
            if roundUp { ms += 1 }
        }
        var offsetMinutes: Int64 = 0
        if expect(90, 122) {
        } else if i < b.count, b[i] == 43 || b[i] == 45 {
            let sign: Int64 = b[i] == 45 ? -1 : 1
            i += 1
            guard let oh = digits(2), expect(58), let om = digits(2), oh < 24, om < 60 else { return nil }
            offsetMinutes = sign * (oh * 60 + om)
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60
        let instant = seconds * 1000 + ms
        // The range holds for the instant, not only the text: `9999-12-31T23:59:59-01:00` is in year 10000 UTC
        // (and would print as another year).
        guard instant >= Self.earliestMilliseconds, instant <= Self.latestMilliseconds else { return nil }
        self.init(millisecondsSinceEpoch: instant)
    }

    /// 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z, in milliseconds since the epoch.
    static let earliestMilliseconds: Int64 = -719_162 * 86_400_000
    static let latestMilliseconds: Int64 = 2_932_897 * 86_400_000 - 1
}
