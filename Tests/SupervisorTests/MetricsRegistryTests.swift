import XCTest
@testable import Shared
@testable import Supervisor

final class MetricsRegistryTests: XCTestCase {
    func testCountersGaugesAndHistogramRender() {
        let r = MetricsRegistry()
        r.register("t_requests_total", .counter, help: "Requests.", labels: ["method", "status"])
        r.register("t_up", .gauge, help: "Up.")
        r.register("t_seconds", .histogram, help: "Time.", labels: ["method"], buckets: [0.1, 1])
        r.add("t_requests_total", ["meta", "200"])
        r.add("t_requests_total", ["meta", "200"], 2)
        r.set("t_up", [], 1)
        r.observe("t_seconds", ["meta"], 0.05)
        r.observe("t_seconds", ["meta"], 0.5)
        r.observe("t_seconds", ["meta"], 5)
        XCTAssertEqual(r.render(), """
            # HELP t_requests_total Requests.
            # TYPE t_requests_total counter
            t_requests_total{method="meta",status="200"} 3
            # HELP t_up Up.
            # TYPE t_up gauge
            t_up 1
            # HELP t_seconds Time.
            # TYPE t_seconds histogram
            t_seconds_bucket{method="meta",le="0.1"} 1
            t_seconds_bucket{method="meta",le="1"} 2
            t_seconds_bucket{method="meta",le="+Inf"} 3
            t_seconds_sum{method="meta"} 5.55
            t_seconds_count{method="meta"} 3

            """)
    }

    func testLabelValuesAreEscaped() {
        let r = MetricsRegistry()
        r.register("t", .gauge, help: "a \\ b\nc", labels: ["user"])
        r.set("t", ["x\"y\\z\nw"], 1)
        XCTAssertTrue(r.render().contains(#"t{user="x\"y\\z\nw"} 1"#), r.render())
        XCTAssertTrue(r.render().contains(#"# HELP t a \\ b\nc"#), r.render())
    }

    func testUnknownMethodsShareOneLabel() {
        XCTAssertEqual(ServerMetrics.methodLabel("msync/begin"), "msync/begin")
        XCTAssertEqual(ServerMetrics.methodLabel("/sync/whatever?x"), "other")
    }
}
