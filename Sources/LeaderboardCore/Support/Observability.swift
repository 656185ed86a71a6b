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
        MetricsSystem.bootstrap(factory)
        // Exported at 0 from the start, so that a rate over them (the dashboard's, the alerts') has a
        // series before the first outage rather than none.
        for store in [Store.postgres, .redis] {
            _ = Counter(label: storeErrorsLabel, dimensions: [("store", store.rawValue)])
        }
    }

    /// The body of `GET /metrics` as Prometheus scrapes it, of type `expositionContentType`.
    public static func exposition() -> [UInt8] { registry.emitToBuffer() }

    public static let expositionContentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Counts a store failure the caller survived (answered "retry later", retried, or queued).
    public static func storeError(_ store: String) {
        Counter(label: storeErrorsLabel, dimensions: [("store", store)]).increment()
    }

    private static let storeErrorsLabel = "leaderboard_store_errors_total"
}
