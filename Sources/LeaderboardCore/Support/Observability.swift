import Dispatch
import Metrics
import Prometheus

/// The process's metrics, in the Prometheus text format: swift-metrics as the API, swift-prometheus
/// as the backend. Each executable bootstraps it once; libraries only create metrics.
public enum Observability {
    public static let registry = PrometheusCollectorRegistry()

    /// Routes every swift-metrics metric of the process to `registry`. Call once, first thing.
    public static func bootstrap() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .seconds(2.5),
        ]
        factory.valueHistogramBuckets[submissionBatchSizeLabel] = [1, 2, 4, 8, 16, 32, 64]
        MetricsSystem.bootstrap(factory)
        // Exported at 0 from the start, so that a rate over them (the dashboard's, the alerts') has a
        // series before the first outage rather than none.
        for store in [Store.postgres, .redis] {
            _ = Counter(label: storeErrorsLabel, dimensions: [("store", store.rawValue)])
        }
        for reason in SubmissionRejection.allCases {
            _ = Counter(label: rejectedSubmissionsLabel, dimensions: [("reason", reason.rawValue)])
        }
    }

    /// The body of `GET /metrics` as Prometheus scrapes it, of type `expositionContentType`.
    public static func exposition() -> [UInt8] { registry.emitToBuffer() }

    public static let expositionContentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Counts a store failure the caller survived (answered "retry later", retried, or queued).
    public static func storeError(_ store: String) {
        Counter(label: storeErrorsLabel, dimensions: [("store", store)]).increment()
    }

    /// Counts a submission refused for `reason` (nothing of it was stored).
    public static func submissionRejected(_ reason: SubmissionRejection) {
        Counter(label: rejectedSubmissionsLabel, dimensions: [("reason", reason.rawValue)]).increment()
    }

    /// Records how many submissions a batch of the group commit (`LeaderboardService.SubmissionBatches`) holds, and how
    /// many still wait behind it: a backlog that grows is a store stage that does not keep up (past
    /// `LeaderboardService.submissionBatches`' bound, submissions are refused with 503).
    static func submissionBatchFormed(size: Int, stillWaiting: Int) {
        Recorder(label: submissionBatchSizeLabel).record(size)
        Gauge(label: "leaderboard_submissions_waiting").record(stillWaiting)
    }

    /// Runs one stage of a submission batch and records how long it took: the group commit's cycle, which bounds how
    /// many submissions a process stores a second (README, "Benchmarks").
    static func submissionBatchStage<Value>(_ stage: SubmissionBatchStage, _ body: () -> Value) -> Value {
        let started = DispatchTime.now().uptimeNanoseconds
        defer {
            Timer(label: "leaderboard_submission_batch_seconds", dimensions: [("stage", stage.rawValue)])
                .recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
        }
        return body()
    }

    private static let submissionBatchSizeLabel = "leaderboard_submission_batch_size"
    private static let storeErrorsLabel = "leaderboard_store_errors_total"
    private static let rejectedSubmissionsLabel = "leaderboard_submissions_rejected_total"
}

/// A stage of a submission batch, as `leaderboard_submission_batch_seconds` labels it.
enum SubmissionBatchStage: String, Sendable {
    /// PostgreSQL's statement for the batch, with its commit: one batch at a time in a process.
    case store
    /// The index's round trip for the batch (Redis's apply script), which overlaps the next batch's `store`.
    case apply
}

/// Why a submission was refused, as `leaderboard_submissions_rejected_total` labels it.
public enum SubmissionRejection: String, CaseIterable, Sendable {
    /// The score is outside the game's bounds.
    case bounds
    /// The player sent more than `SCORE_RATE_PER_MINUTE` to the game within a minute.
    case rate
    /// A submission for a banned player: an API key's, or a player's with a token the ban could not revoke.
    case banned
    /// A player's own submission to an authoritative game, or a key's to a game it is not for.
    case forbidden
    case archived
}
