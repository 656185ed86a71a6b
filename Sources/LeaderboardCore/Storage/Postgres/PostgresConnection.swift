import CLibPQ
import Foundation

/// One libpq connection, opened on first use and reopened after it breaks, but never inside a transaction.
///
/// `@unchecked Sendable`: a `PGconn` must not be used from two threads at once; every owner (a FastCGI
/// worker, a CLI command, a test) keeps its connection to itself and hands it on only between uses.
public final class PostgresConnection: @unchecked Sendable {
    private let connectionString: String
    private var handle: OpaquePointer?
    /// The statements prepared on `handle`, by their SQL text.
    private var preparedStatements: [String: String] = [:]
    /// Set from BEGIN to COMMIT or ROLLBACK: a connection lost meanwhile is not replaced, or the rest of the
    /// transaction would run on the new one outside it, each statement committed alone.
    private var isInTransaction = false

    public init(settings: PostgresSettings) {
        connectionString = settings.connectionString
    }

    deinit { close() }

    /// Closes the connection; the next statement opens a new one. Safe to call twice.
    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
        preparedStatements = [:]
    }

    /// Runs one statement; values travel separately from the SQL text, never spliced into it.
    /// `prepared`: parse and plan `sql` once per connection, for the statements of every request.
    @discardableResult
    public func query(_ sql: String, _ parameters: [(any PostgresBindable)?] = [], prepared: Bool = false) throws(PostgresError) -> PostgresRows {
        let connection = try openConnection()
        let statement = prepared ? try preparedStatement(sql, parameterCount: parameters.count, on: connection) : nil
        let texts = parameters.map { $0?.postgresText }
        if let nul = texts.firstIndex(where: { $0?.utf8.contains(0) == true }) { throw .parameterHoldsNUL(position: nul + 1) }
        let cStrings: [UnsafeMutablePointer<CChar>?] = texts.map { text in text.flatMap { strdup($0) } }
        defer { for cString in cStrings { free(cString) } }
        let result: OpaquePointer? = cStrings.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { values in
                if let statement {
                    PQexecPrepared(connection, statement, Int32(values.count), values.baseAddress, nil, nil, 0)
                } else {
                    PQexecParams(connection, sql, Int32(values.count), nil, values.baseAddress, nil, nil, 0)
                }
            }
        }
        defer { PQclear(result) }
        return try rows(of: result, on: connection)
    }

    /// The name of `sql` prepared on `connection`, preparing it the first time.
    private func preparedStatement(_ sql: String, parameterCount: Int, on connection: OpaquePointer) throws(PostgresError) -> String {
        if let name = preparedStatements[sql] { return name }
        let name = "lb_\(preparedStatements.count + 1)"
        let result = PQprepare(connection, name, sql, Int32(parameterCount), nil)
        defer { PQclear(result) }
        _ = try rows(of: result, on: connection)
        preparedStatements[sql] = name
        return name
    }

    /// Runs `body` inside BEGIN/COMMIT; any error rolls back and is rethrown. A connection lost inside fails
    /// the transaction with `PostgresError.connectionLost`; the next statement after it opens a new one.
    public func transaction<Result>(_ body: () throws -> Result) throws -> Result {
        try query("BEGIN")
        isInTransaction = true
        defer { isInTransaction = false }
        do {
            let result = try body()
            try query("COMMIT")
            return result
        } catch {
            _ = try? query("ROLLBACK")
            if let error = error as? PostgresError, error.isReadOnlyServer { close() }
            throw error
        }
    }

    /// Reads a large result in batches through a cursor, so it never sits in memory whole.
    /// Must run inside `transaction`; `sql` takes no parameters.
    public func forEachBatch(of sql: String, batchSize: Int = 20_000, _ body: (PostgresRows) throws -> Void) throws {
        try query("DECLARE batch_cursor NO SCROLL CURSOR FOR " + sql)
        defer { _ = try? query("CLOSE batch_cursor") }
        while true {
            let rows = try query("FETCH \(batchSize) FROM batch_cursor")
            if rows.isEmpty { return }
            try body(rows)
        }
    }

    /// Streams rows into `COPY ... FROM STDIN` (text format); `lines` yields chunks of complete lines.
    @discardableResult
    public func copyIn(_ sql: String, lines: some Sequence<String>) throws(PostgresError) -> Int {
        let connection = try openConnection()
        let start = PQexec(connection, sql)
        let startStatus = PQresultStatus(start)
        if startStatus != PGRES_COPY_IN {
            defer { PQclear(start) }
            _ = try rows(of: start, on: connection)
            throw .unexpectedResult("COPY did not enter COPY IN mode")
        }
        PQclear(start)
        for chunk in lines {
            // Every byte, a NUL too (PostgreSQL refuses one), rather than a line cut short at it.
            let sent = chunk.withCString { PQputCopyData(connection, $0, Int32(chunk.utf8.count)) }
            if sent != 1 { break }
        }
        PQputCopyEnd(connection, nil)
        var copied = 0
        var failure: PostgresError?
        while let result = PQgetResult(connection) {
            defer { PQclear(result) }
            do { copied += try rows(of: result, on: connection).affectedRows } catch { failure = failure ?? error }
        }
        if let failure { throw failure }
        return copied
    }

    private func openConnection() throws(PostgresError) -> OpaquePointer {
        if let handle, PQstatus(handle) == CONNECTION_OK, !IdleSocket.hasPendingInput(PQsocket(handle)) || Self.survives(handle) {
            return handle
        }
        if isInTransaction {
            guard let handle else { throw .connectionLost(message: "lost earlier in this transaction") }
            throw lostOrFailed(handle)
        }
        close()
        guard let connection = PQconnectdb(connectionString) else {
            throw .connectionFailed(message: "out of memory")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.errorMessage(of: connection)
            PQfinish(connection)
            throw .connectionFailed(message: message)
        }
        // Without a processor libpq prints every NOTICE to stderr.
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        handle = connection
        return connection
    }

    /// Reads what an idle connection received; true if it is still usable (a NOTICE, say).
    private static func survives(_ connection: OpaquePointer) -> Bool {
        PQconsumeInput(connection) == 1 && PQstatus(connection) == CONNECTION_OK && !IdleSocket.hasPendingInput(PQsocket(connection))
    }

    private func rows(of result: OpaquePointer?, on connection: OpaquePointer) throws(PostgresError) -> PostgresRows {
        guard let result else { throw lostOrFailed(connection) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK:
            let rowCount = Int(PQntuples(result))
            let columnCount = Int(PQnfields(result))
            let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
            let values = (0..<rowCount).map { row in
                (0..<columnCount).map { column -> String? in
                    if PQgetisnull(result, Int32(row), Int32(column)) == 1 { return nil }
                    return String(cString: PQgetvalue(result, Int32(row), Int32(column)))
                }
            }
            let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
            return PostgresRows(columns: columns, values: values, affectedRows: affected)
        default:
            if PQstatus(connection) != CONNECTION_OK { throw lostOrFailed(connection) }
            let field = { (code: UInt8) -> String? in
                PQresultErrorField(result, Int32(code)).map { String(cString: $0) }
            }
            let error = PostgresError.server(
                sqlState: field(UInt8(ascii: "C")) ?? "XX000",
                message: field(UInt8(ascii: "M")) ?? Self.errorMessage(of: connection),
                detail: field(UInt8(ascii: "D")),
                constraint: field(UInt8(ascii: "n"))
            )
            // This server takes no writes (it is a standby now): the next statement connects afresh, and
            // libpq's target_session_attrs finds whichever server is primary.
            if error.isReadOnlyServer && !isInTransaction { close() }
            throw error
        }
    }

    private func lostOrFailed(_ connection: OpaquePointer) -> PostgresError {
        let message = Self.errorMessage(of: connection)
        close()
        return .connectionLost(message: message)
    }

    private static func errorMessage(of connection: OpaquePointer) -> String {
        String(cString: PQerrorMessage(connection)).trimmingWhitespace()
    }
}
