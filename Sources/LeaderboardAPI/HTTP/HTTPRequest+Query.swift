import FastCGIPool
import LeaderboardCore

extension HTTPRequest {
    /// A query parameter as a whole number in `range`, or `fallback` when absent; 422 naming it otherwise.
    public func queryInt(_ name: String, default fallback: Int? = nil, in range: ClosedRange<Int>) throws(ServiceError) -> Int? {
        guard let text = query[name], !text.isEmpty else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw .validation(field: name, "must be a whole number between \(range.lowerBound) and \(range.upperBound)")
        }
        return value
    }

    /// `period=all-time|daily|weekly|monthly`, all-time when absent.
    public func queryPeriod() throws(ServiceError) -> PeriodKind {
        guard let text = query["period"], !text.isEmpty else { return .allTime }
        guard let period = PeriodKind(rawValue: text) else {
            throw .validation(field: "period", "must be one of \(PeriodKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return period
    }

    /// A UTC day from `YYYY-MM-DD` or an ISO date-time, or `fallback` when absent.
    public func queryDay(_ name: String, default fallback: UTCDay?) throws(ServiceError) -> UTCDay {
        guard let text = query[name], !text.isEmpty else {
            guard let fallback else { throw .validation(field: name, "field required") }
            return fallback
        }
        guard let day = UTCDay(iso: text) else { throw .validation(field: name, "must be a date such as 2025-03-01") }
        return day
    }
}
