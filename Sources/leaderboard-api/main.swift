import FastCGIPool
import Foundation
import LeaderboardAPI
import LeaderboardCore
import Logging

let config = Startup.loadConfig(program: "leaderboard-api")
Startup.bootstrapLogging(level: config.logLevel)
Observability.bootstrap()
let logger = Logger(label: "leaderboard-api")
// Does nothing unless systemd runs us as a Type=notify unit.
let systemd = SystemdNotifier(logger: logger)

do {
    // Made before the socket opens: the decoy hash is made here, once, not by the first logins.
    let sentinelWatch = config.redis.sentinel.map { SentinelWatch(sentinel: $0, logger: logger) }
    let shared = SharedWork(
        passwords: PasswordWork(config: config), submissionBatches: LeaderboardService.submissionBatches(), pages: PageCache(),
        reports: ReportCache(), sentinelWatch: sentinelWatch)
    shared.startSubmissionStages(config: config)
    let server = try FastCGIServer(config: config, logger: logger) {
        let api = APIService(config: config, context: StoreContext(config: config, shared: shared), logger: logger)
        return { request, reply in api.respond(to: request, answer: reply.send) }
    }
    if let refusals = try NginxRefusalCounter.open(address: config.nginxRefusalsListen) {
        Thread.detachNewThread { refusals.run() }
    }
    // The reconciler applies scores answered 202 and rebuilds an emptied index. It is stopped, and waited
    // for, before the process exits: exit would tear down OpenSSL under a pass still running.
    let stopReconciler = StopSignal()
    let reconcilerStopped = DispatchSemaphore(value: 0)
    // A new primary may lack the scores acknowledged just before the move: a pass at once, not within a second.
    sentinelWatch?.onSwitch { stopReconciler.nudge() }
    sentinelWatch?.start()
    Thread.detachNewThread {
        let reconciler = IndexReconciler(
            connections: StoreConnections(config: config, following: sentinelWatch), logger: Logger(label: "reconciler"))
        reconciler.run(until: stopReconciler)
        reconcilerStopped.signal()
    }
    // A store outage is not a reason to restart: the api answers 503 and recovers by itself. A pool whose every worker
    // has been on one request for the whole watchdog timeout answers nobody, and a group commit whose stage has been on
    // one batch that long stores no score: no ping, and systemd restarts it.
    if let timeout = systemd.watchdogTimeout {
        systemd.startWatchdog {
            server.isAnswering(stuckAfter: timeout) && shared.submissionBatches?.isProgressing(stuckAfter: timeout) != false
        }
    }
    logger.info("listening", metadata: ["address": "\(config.apiListen)", "mode": "\(config.mode.rawValue)"])
    // The socket is open, so requests queue from now on, whether or not the workers have started.
    systemd.notify(.ready, .status("\(config.apiWorkers) workers"))
    server.run { systemd.notify(.stopping, .status("finishing queued and in-flight requests")) }
    // Every request has its answer by now, so nothing is queued; the stages' threads end before the process does.
    shared.submissionBatches?.stop()
    stopReconciler.stop()
    reconcilerStopped.wait()
    sentinelWatch?.stop()
} catch let error as FastCGIError where error.isAboutTheAddress {
    Startup.stopForConfiguration(program: "leaderboard-api", "API_LISTEN: \(error)")
} catch {
    logger.critical("\(error)")
    exit(1)
}
