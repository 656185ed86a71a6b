import Foundation

/// The four periods every board exists for, in UTC.
public enum PeriodKind: String, Sendable, CaseIterable, Codable {
    case allTime = "all-time"
    case daily
    case weekly
    case monthly
}

/// A calendar day in UTC, as days since 1970-01-01; the unit all period arithmetic works in.
public struct UTCDay: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let daysSinceEpoch: Int

    public init(daysSinceEpoch: Int) {
        self.daysSinceEpoch = daysSinceEpoch
    }

    public init(epochSeconds: Int) {
        daysSinceEpoch = epochSeconds >= 0 ? epochSeconds / 86_400 : (epochSeconds - 86_399) / 86_400
    }

    /// Parses `YYYY-MM-DD`, or the date part of an ISO date-time (`2025-03-01T10:00:00Z`).
    public init?(iso text: String) {
        let datePart = text.prefix(10)
        let parts = datePart.split(separator: "-", omittingEmptySubsequences: false)
        guard datePart.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
            (1970...9999).contains(year), (1...12).contains(month), (1...Self.daysIn(month: month, year: year)).contains(day)
        else { return nil }
        if text.count > 10 {
            // Only a time may follow, and it does not move the day: reports take whole UTC days.
            guard text.dropFirst(10).first == "T" || text.dropFirst(10).first == " " else { return nil }
        }
        daysSinceEpoch = Self.days(year: year, month: month, day: day)
    }

    public var epochSeconds: Int { daysSinceEpoch * 86_400 }

    /// The current time in whole seconds since the epoch.
    public static var nowSeconds: Int { Int(Date().timeIntervalSince1970) }

    /// The current UTC day.
    public static var today: UTCDay { UTCDay(epochSeconds: nowSeconds) }

    public var civil: (year: Int, month: Int, day: Int) { Self.civil(fromDays: daysSinceEpoch) }

    /// 1 = Monday ... 7 = Sunday (ISO 8601); 1970-01-01 was a Thursday.
    public var isoWeekday: Int { ((daysSinceEpoch % 7 + 7) % 7 + 3) % 7 + 1 }

    public func adding(days: Int) -> UTCDay { UTCDay(daysSinceEpoch: daysSinceEpoch + days) }

    public var description: String {
        let (year, month, day) = civil
        return "\(Self.pad(year, 4))-\(Self.pad(month, 2))-\(Self.pad(day, 2))"
    }

    /// The Monday of this day's ISO week.
    public var weekStart: UTCDay { adding(days: 1 - isoWeekday) }

    /// The first of this day's month.
    public var monthStart: UTCDay { adding(days: 1 - civil.day) }

    /// The first day of the next month.
    public var nextMonthStart: UTCDay {
        let (year, month, _) = civil
        return UTCDay(daysSinceEpoch: Self.days(year: month == 12 ? year + 1 : year, month: month == 12 ? 1 : month + 1, day: 1))
    }

    /// `2026-W48`: the ISO year and week number, the year being that of the week's Thursday.
    public var isoWeekLabel: String {
        let thursday = adding(days: 4 - isoWeekday)
        let year = thursday.civil.year
        let week = (thursday.daysSinceEpoch - Self.days(year: year, month: 1, day: 1)) / 7 + 1
        return "\(Self.pad(year, 4))-W\(Self.pad(week, 2))"
    }

    public static func < (lhs: UTCDay, rhs: UTCDay) -> Bool { lhs.daysSinceEpoch < rhs.daysSinceEpoch }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since the epoch of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

/// One board's period: its kind, the key part naming it, and the span of days it covers.
public struct BoardPeriod: Sendable, Hashable {
    /// Period boards outlive their period by this much; older ranges are answered from PostgreSQL.
    public static let retentionDays = 400

    public let kind: PeriodKind
    /// `all`, `d:2026-11-29`, `w:2026-W48` or `m:2026-11`.
    public let key: String
    /// The first and last day covered; nil for all-time.
    public let days: ClosedRange<UTCDay>?

    public static let allTime = BoardPeriod(kind: .allTime, key: "all", days: nil)

    /// Whether its boards keep the day each entry was reached (`BoardScripts.whenFunctions`): a day board's entries
    /// were all reached on its day.
    var keepsDates: Bool { kind != .daily }

    /// The period of `kind` that contains `day`.
    public init(_ kind: PeriodKind, containing day: UTCDay) {
        switch kind {
        case .allTime:
            self = .allTime
        case .daily:
            self.init(kind: kind, key: "d:\(day)", days: day...day)
        case .weekly:
            self.init(kind: kind, key: "w:\(day.isoWeekLabel)", days: day.weekStart...day.weekStart.adding(days: 6))
        case .monthly:
            let text = day.description
            self.init(kind: kind, key: "m:\(text.prefix(7))", days: day.monthStart...day.nextMonthStart.adding(days: -1))
        }
    }

    private init(kind: PeriodKind, key: String, days: ClosedRange<UTCDay>?) {
        self.kind = kind
        self.key = key
        self.days = days
    }

    /// When Redis may drop this board (epoch seconds); nil for all-time.
    public var expiresAt: Int? {
        days.map { $0.upperBound.adding(days: Self.retentionDays + 1).epochSeconds }
    }

    /// Whether the board for this period is still kept in Redis on `today`.
    public func isRetained(on today: UTCDay) -> Bool {
        guard let days else { return true }
        return days.upperBound.adding(days: Self.retentionDays) >= today
    }

    /// The four boards a score made on `day` counts towards.
    public static func all(containing day: UTCDay) -> [BoardPeriod] {
        PeriodKind.allCases.map { BoardPeriod($0, containing: day) }
    }
}
