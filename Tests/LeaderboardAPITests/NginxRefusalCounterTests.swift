import FastCGIPool
import Metrics
import Testing

@testable import LeaderboardAPI
@testable import LeaderboardCore

struct NginxRefusalCounterTests {
    let refusals = NginxRefusalCounter(socket: -1)

    func counter(for datagram: String) -> Counter { refusals.counter(for: ArraySlice(datagram.utf8)) }

    @Test func aDatagramCountsForTheLimitItsMessageNames() {
        let limitReq = counter(for: "<190>Dec  4 20:29:14 nginx: limit_req")
        let limitConn = counter(for: "<190>Dec  4 20:29:14 nginx: limit_conn")
        #expect(limitReq !== limitConn)
        #expect(counter(for: "<190>Dec 14 08:00:01 nginx: limit_req") === limitReq)
    }

    @Test(arguments: ["<190>Dec  4 20:29:14 nginx: anything else", "limit_req", "", "<190>Dec  4 20:29:14 nginx: limit_request"])
    func anyOtherDatagramCountsAsOther(datagram: String) {
        let other = counter(for: "nginx: something")
        #expect(counter(for: datagram) === other)
    }
}
