import Foundation

/// Bulk-loads demo players and scores with COPY, fast enough for 100,000 players and a million scores.
/// Every demo player's password is `123456`, hashed once.
public struct DemoSeeder {
    public struct Plan: Sendable {
        public var users: Int
        public var scores: Int
        public var days: Int

        public init(users: Int, scores: Int, days: Int) {
            self.users = users
            self.scores = scores
            self.days = days
        }
    }

    public static let demoPassword = "123456"
    static let emailDomain = "demo.example.com"

    let database: PostgresConnection
    let hasher: PasswordHasher

    public init(database: PostgresConnection, hasher: PasswordHasher) {
        self.database = database
        self.hasher = hasher
    }

    /// Inserts the players and their scores in one transaction; `progress` gets (done, total) rows.
    public func seed(_ plan: Plan, now: Date = Date(), progress: @escaping (_ phase: String, _ done: Int, _ total: Int) -> Void) throws {
        var generator = SystemRandomNumberGenerator()
        let passwordHash = hasher.hash(Self.demoPassword)
        try database.transaction {
            // Explicit ids keep users and their scores in one pass; the lock keeps signups from taking them.
            try database.query("LOCK TABLE users IN EXCLUSIVE MODE")
            let firstID = try database.query("SELECT coalesce(max(id), 0) + 1 AS id FROM users")[0].requiredInt("id")
            let games = try database.query("SELECT slug FROM games ORDER BY position").map { try $0.requiredString("slug") }
            guard !games.isEmpty else { throw PostgresError.unexpectedResult("no games to seed scores for") }

            try copy(
                "COPY users (id, name, email, password, created_at, updated_at) FROM STDIN", rows: plan.users, phase: "players",
                progress: progress
            ) { index in
                let (first, last) = (Self.firstNames.randomElement(using: &generator)!, Self.lastNames.randomElement(using: &generator)!)
                let id = firstID + index
                let created = Self.timestamp(now.addingTimeInterval(-Double(plan.days) * 86_400 - Double(plan.users - index)))
                return
                    "\(id)\t\(first) \(last)\t\(first.lowercased()).\(last.lowercased()).\(id)@\(Self.emailDomain)\t\(passwordHash)\t\(created)\t\(created)\n"
            }
            try database.query("SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users))")

            // Popular games get more play, and a few players play far more than the rest.
            let gameWeights = games.indices.map { 1.0 / Double($0 + 2) }
            let weightTotal = gameWeights.reduce(0, +)
            try copy("COPY scores (user_id, game, score, created_at) FROM STDIN", rows: plan.scores, phase: "scores", progress: progress) { _ in
                let player = firstID + Int(pow(Double.random(in: 0..<1, using: &generator), 1.6) * Double(plan.users))
                var pick = Double.random(in: 0..<weightTotal, using: &generator)
                let game = games[
                    games.indices.first {
                        pick -= gameWeights[$0]
                        return pick < 0
                    } ?? 0]
                let skill = Double((player * 7919) % 1000) / 1000
                let score = Int((100 + 900 * skill) * Double.random(in: 0.5...1.5, using: &generator) * 10)
                let when = now.addingTimeInterval(-Double.random(in: 0..<(Double(plan.days) * 86_400), using: &generator))
                return "\(player)\t\(game)\t\(score)\t\(Self.timestamp(when))\n"
            }
        }
        try database.query("ANALYZE users")
        try database.query("ANALYZE scores")
    }

    /// Streams `rows` lines made on demand into COPY, 10,000 at a time, so a million rows never sit in
    /// memory at once; `progress` hears after each batch.
    private func copy(
        _ sql: String, rows: Int, phase: String, progress: @escaping (String, Int, Int) -> Void, line: @escaping (Int) -> String
    ) throws {
        let batches = stride(from: 0, to: rows, by: 10_000).lazy.map { start in
            let end = min(rows, start + 10_000)
            var text = ""
            text.reserveCapacity((end - start) * 80)
            for index in start..<end { text += line(index) }
            progress(phase, end, rows)
            return text
        }
        try database.copyIn(sql, lines: batches)
    }

    /// `2026-11-29 14:30:05+00`, as COPY reads a timestamptz.
    static func timestamp(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let day = UTCDay(epochSeconds: seconds)
        let inDay = seconds - day.epochSeconds
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(day) \(two(inDay / 3600)):\(two(inDay / 60 % 60)):\(two(inDay % 60))+00"
    }

    static let firstNames = [
        "Ada", "Alan", "Amara", "Ana", "Aria", "Ben", "Bruno", "Carla", "Chen", "Chloe", "Dana", "Diego", "Elena", "Emeka", "Emma",
        "Farah", "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jade", "James", "Jonas", "Kai", "Kenji", "Lara", "Leo", "Lina",
        "Luca", "Maya", "Mateo", "Mei", "Mia", "Nadia", "Noah", "Nora", "Omar", "Olga", "Priya", "Quinn", "Rafael", "Rosa", "Sami",
        "Sara", "Sofia", "Tariq", "Theo", "Uma", "Victor", "Wei", "Yara", "Yusuf", "Zoe", "Rick", "Ava", "Liam", "Ella", "Arjun",
    ]
    static let lastNames = [
        "Adams", "Ali", "Andersen", "Bauer", "Brown", "Chen", "Costa", "Dubois", "Ekwueme", "Fischer", "Garcia", "Grimes", "Hansen",
        "Haddad", "Ito", "Ivanova", "Johnson", "Kim", "Kowalski", "Larsen", "Lopez", "Martin", "Meyer", "Moreau", "Nakamura",
        "Nguyen", "Novak", "Okafor", "Olsen", "Patel", "Perez", "Quint", "Rossi", "Sato", "Schmidt", "Silva", "Singh", "Smith",
        "Suzuki", "Tanaka", "Torres", "Usman", "Vargas", "Wagner", "Wang", "Weber", "Williams", "Xu", "Yilmaz", "Zhang",
    ]
}
