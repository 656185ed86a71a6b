import Foundation
import LeaderboardCore
import Testing

@Suite struct PostgresConnectionTests {
    @Test func runsParameterizedQueriesWithValuesKeptOutOfTheSQL() throws {
        let database = TestStack.database()
        let hostile = "'); DROP TABLE users; --"
        let rows = try database.query("SELECT $1::text AS text, $2::bigint AS number, $3::text IS NULL AS missing", [hostile, 42, nil])
        #expect(try rows[0].string("text") == hostile)
        #expect(try rows[0].int("number") == 42)
        #expect(try rows[0].bool("missing") == true)
        #expect(try database.query("SELECT count(*) AS n FROM users").count == 1, "users still exists")
    }

    /// An array parameter keeps each element whole, whatever text it holds.
    @Test func arraysArriveElementByElement() throws {
        let database = TestStack.database()
        let texts = [#"a "quoted", back\slash"#, "{braces}", "NULL", "", "plain"]
        let rows = try database.query("SELECT t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n", [texts])
        #expect(try rows.map { try $0.requiredString("t") } == texts)
        let numbers = try database.query("SELECT sum(n) AS total, count(*) AS count FROM unnest($1::bigint[]) AS u(n)", [[7, -2, 40]])
        #expect(try numbers[0].int("total") == 45 && numbers[0].int("count") == 3)
    }

    @Test func aBadQueryIsAServerErrorWithItsSQLState() throws {
        let database = TestStack.database()
        #expect {
            try database.query("SELEC 1")
        } throws: { error in
            guard let error = error as? PostgresError, case .server(let sqlState, let message, _, _) = error else { return false }
            return sqlState == "42601" && message.contains("syntax error") && !error.isUnavailable
        }
        #expect(try database.query("SELECT 1 AS one")[0].int("one") == 1, "the connection is still usable")
    }

    /// libpq takes C strings: a NUL would end a value early, so a value holding one is refused, not cut short.
    @Test func aParameterHoldingNULIsRefusedNotCutShort() throws {
        let database = TestStack.database()
        /// The position `query` refused, nil if it ran.
        func refusedPosition(_ query: () throws -> Void) throws -> Int? {
            do {
                try query()
                return nil
            } catch let error as PostgresError {
                guard case .parameterHoldsNUL(let position) = error, !error.isUnavailable else { throw error }
                return position
            }
        }
        #expect(try refusedPosition { try database.query("SELECT $1::bigint AS n, $2::text AS t", [1, "kept\u{0}lost"]) } == 2)
        #expect(try refusedPosition { try database.query("SELECT $1::text[] AS t", [["fine", "kept\u{0}lost"]]) } == 1)
        #expect(try database.query("SELECT $1::text AS t", ["whole"])[0].string("t") == "whole", "the connection is still usable")
    }

    @Test func aUniqueViolationIsDistinguishable() throws {
        let database = TestStack.database()
        let email = TestStack.unique("dup") + "@example.com"
        try database.query("INSERT INTO users (name, email, password) VALUES ('a', $1, 'x')", [email])
        #expect {
            try database.query("INSERT INTO users (name, email, password) VALUES ('b', $1, 'x')", [email.uppercased()])
        } throws: { error in
            guard let error = error as? PostgresError, case .server(_, _, _, let constraint) = error else { return false }
            return error.isUniqueViolation && constraint == "users_email_lower_key"
        }
    }

    @Test func aRefusedConnectionIsConnectionFailed() {
        var settings = TestStack.config.postgres
        settings.ports = [1]  // nothing listens on port 1
        let database = PostgresConnection(settings: settings)
        #expect {
            try database.query("SELECT 1")
        } throws: { error in
            guard let error = error as? PostgresError, case .connectionFailed = error else { return false }
            return error.isUnavailable
        }
    }

    @Test func replacesAConnectionTheServerDroppedBeforeSendingOnIt() throws {
        let database = TestStack.database()
        let pid = try database.query("SELECT pg_backend_pid() AS pid")[0].requiredInt("pid")
        // The server's goodbye reaches the idle socket; wait for it, as a restart between requests would.
        try terminateBackend(pid)
        let newPID = try database.query("SELECT pg_backend_pid() AS pid")[0].requiredInt("pid")
        #expect(newPID != pid)
    }

    /// A server that turned read-only (a demoted primary, say) refuses the write with 25006, an outage (503):
    /// the next statement connects afresh, where libpq finds the primary.
    @Test(arguments: [false, true])
    func aWriteRefusedAsReadOnlyIsAnOutageAndTheNextStatementConnectsAfresh(insideATransaction: Bool) throws {
        let database = TestStack.database()
        let pid = try database.query("SELECT pg_backend_pid() AS pid")[0].requiredInt("pid")
        try database.query("SET SESSION default_transaction_read_only = on")
        let email = TestStack.unique("readonly") + "@example.com"
        let insert = { _ = try database.query("INSERT INTO users (name, email, password) VALUES ('r', $1, 'x')", [email]) }
        #expect {
            if insideATransaction { try database.transaction { try insert() } } else { try insert() }
        } throws: { error in
            guard let error = error as? PostgresError else { return false }
            return error.isReadOnlyServer && error.isUnavailable
        }
        try insert()
        #expect(try database.query("SELECT pg_backend_pid() AS pid")[0].requiredInt("pid") != pid)
        #expect(try database.query("SELECT 1 FROM users WHERE email = $1", [email]).count == 1)
    }

    @Test func aFailedTransactionRollsBack() throws {
        let database = TestStack.database()
        let email = TestStack.unique("tx") + "@example.com"
        struct Abort: Error {}
        #expect(throws: Abort.self) {
            try database.transaction {
                try database.query("INSERT INTO users (name, email, password) VALUES ('t', $1, 'x')", [email])
                throw Abort()
            }
        }
        #expect(try database.query("SELECT 1 FROM users WHERE email = $1", [email]).isEmpty)
        try database.transaction { _ = try database.query("INSERT INTO users (name, email, password) VALUES ('t', $1, 'x')", [email]) }
        #expect(try database.query("SELECT 1 FROM users WHERE email = $1", [email]).count == 1)
    }

    /// The statement after the loss must not run on a new connection, outside the transaction, and be committed
    /// alone: the transaction fails as the store being unavailable, and the next call reconnects.
    @Test func aConnectionLostInsideATransactionFailsItAndCommitsNothing() throws {
        let database = TestStack.database()
        let before = TestStack.unique("lost-before") + "@example.com"
        let after = TestStack.unique("lost-after") + "@example.com"
        #expect {
            try database.transaction {
                try database.query("INSERT INTO users (name, email, password) VALUES ('t', $1, 'x')", [before])
                try terminateBackend(database.query("SELECT pg_backend_pid() AS pid")[0].requiredInt("pid"))
                try database.query("INSERT INTO users (name, email, password) VALUES ('t', $1, 'x')", [after])
            }
        } throws: { error in
            guard let error = error as? PostgresError, case .connectionLost = error else { return false }
            return error.isUnavailable
        }
        let emails = try TestStack.database().query("SELECT email FROM users WHERE email IN ($1, $2)", [before, after])
        #expect(emails.isEmpty, "nothing of the failed transaction is stored")
        #expect(try database.query("SELECT 1 AS one")[0].int("one") == 1, "the next call opens a new connection")
    }

    @Test func copiesRowsInBulk() throws {
        let database = TestStack.database()
        let table = "copy_test_" + TestStack.unique("t").replacingOccurrences(of: "-", with: "_")
        try database.query("CREATE TEMP TABLE \(table) (id int, name text)")
        let copied = try database.copyIn("COPY \(table) (id, name) FROM STDIN", lines: ["1\tone\n2\ttwo\n", "3\t\\N\n"])
        #expect(copied == 3)
        #expect(try database.query("SELECT count(name) AS n FROM \(table)")[0].int("n") == 2)
        #expect(throws: PostgresError.self) { try database.copyIn("COPY \(table) (id, name) FROM STDIN", lines: ["x\ty\n"]) }
        #expect(try database.query("SELECT 1 AS one")[0].int("one") == 1, "usable after a failed COPY")
    }

    @Test func migrationsAreRecordedAndIdempotent() throws {
        let database = TestStack.database()
        #expect(try Migrations.run(on: database).isEmpty, "make test migrated already")
        let versions = try database.query("SELECT version FROM schema_migrations ORDER BY version").map { try $0.requiredInt("version") }
        #expect(versions == Migrations.all.map(\.version))
        // Tests add games of their own: directly at position 100, or as an admin would (audited), as the
        // end-to-end tests do on a stack used before.
        let games = try database.query(
            """
            SELECT slug FROM games WHERE position < 100
                AND slug NOT IN (SELECT target FROM audit_log WHERE action = 'game.create') ORDER BY position
            """
        ).map { try $0.requiredString("slug") }
        #expect(games == ["cod", "valrnt", "mcft", "fnite", "apxleg", "lol", "ow", "cs", "rl", "pubg"])
    }

    @Test func concurrentSignupsOfOneEmailCreateExactlyOneUser() async throws {
        let email = TestStack.unique("race") + "@example.com"
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<8 {
                group.addTask {
                    let store = PostgresUserStore(database: TestStack.database())
                    return try store.createUser(
                        name: "racer \(index)", email: index.isMultiple(of: 2) ? email : email.uppercased(), passwordHash: "x") != nil
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1)
    }

    /// Ends backend `pid` from another connection and waits until it is gone, so its goodbye is on its socket.
    private func terminateBackend(_ pid: Int) throws {
        let observer = TestStack.database()
        try observer.query("SELECT pg_terminate_backend($1)", [pid])
        // Until the backend process is gone (the stack's PostgreSQL runs on this machine): it leaves
        // pg_stat_activity after sending its FATAL but before it exits, and only its exit closes the socket,
        // so a client that looked in between would read the goodbye without the end of the connection.
        let deadline = ContinuousClock.now + .seconds(10)
        while kill(pid_t(pid), 0) == 0 || errno != ESRCH {
            try #require(ContinuousClock.now < deadline, "backend \(pid) still runs 10 s after pg_terminate_backend")
            Thread.sleep(forTimeInterval: 0.01)  // a pause between polls
        }
    }
}
