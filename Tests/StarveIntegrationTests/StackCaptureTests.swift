import Foundation
import StarveBPF
import StarveModel
import StarveHost
import XCTest

/// Stack capture keeps working at volume: over a million starvation events whose holders block
/// at pairwise distinct call paths (a fixed stack table would have been full after a few
/// thousand), every event accounted for in the counters, and events read afterwards still come
/// with their stacks.
final class StackCaptureTests: XCTestCase {
    private func objects(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func testStacksStillArriveAfterAMillionDistinctStacks() throws {
        try Live.require()
        // Every wait of 1 µs or more is an event, none rate-limited: each switch of the
        // ping-pong is one, with the caller's distinct user stack as the holder's.
        let collector = try LoadedCollector(extraArguments: ["--thresholds", "0.001,0.002,0.003", "--rate-limit", "0",
                                                                      "--events-kb", "64", "--stacks-kb", "256"])
        defer { collector.unload() }
        let collection = try PinnedCollection(layout: collector.layout)
        let before = try collection.readStats()

        // Small rings (315 events, 356 stacks), so the backlog a reader finds later is small.
        // No reader: the rings fill and stay full, and every event after that is lost, counted.
        let flood = try ScenarioRun(["stacks", "--depth", "22", "--rounds", "1100000", "--duration", "300"])
        XCTAssertTrue(waitUntil(seconds: 240) { !flood.process.isRunning }, "the ping-pong did not finish its rounds")
        let end = try flood.finish()
        XCTAssertTrue(end.output.contains("result=rounds count=1100000"), end.output)
        let s = try collection.readStats()
        let starvations = s.starvations - before.starvations
        let written = s.eventsEmitted - before.eventsEmitted, lost = s.eventsLost - before.eventsLost
        print("flood: \(starvations) starvations, \(written) events written, \(lost) lost (ring full \(s.eventsRingbufFull)), without stacks \(s.stacksRingbufFull), kernel stacks not taken \(s.kernelStackFailures), user \(s.userStackFailures)")
        XCTAssertGreaterThanOrEqual(starvations, 1_000_000, "the ping-pong made too few events to test anything")
        // Every detection is written or counted as lost (other kinds may add a few of their own).
        XCTAssertGreaterThanOrEqual(written + lost, starvations)
        XCTAssertLessThanOrEqual(written + lost, starvations + 1_000)
        XCTAssertGreaterThan(s.eventsRingbufFull, 0, "nobody read: the ring must have filled")

        // A reader now, while the ping-pong goes on: the events come with stacks, distinct ones.
        let reader = Process()
        reader.executableURL = URL(fileURLWithPath: Live.tool("starve-dump"))
        reader.arguments = ["events", "--pin-dir", collector.pinDir, "--format", "json", "--kind", "starvation",
                            "--count", "1000", "--duration", "60"]
        let out = Pipe()
        reader.standardOutput = out
        reader.standardError = FileHandle.nullDevice
        try reader.run()
        // The reader starts with the backlog of full rings: that is read first, then the new events.
        let more = try ScenarioRun(["stacks", "--depth", "22", "--duration", "60"])
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        reader.waitUntilExit()
        _ = try more.finish(signal: SIGTERM)
        let events = objects(text)
        XCTAssertEqual(events.count, 1000, "the reader got too few events")
        let pingPong = Set(["caller", "echo"].compactMap { more.participant($0)?["tid"].flatMap { Int($0) } })
        let fresh = events.filter { pingPong.contains((($0["other"] as? [String: Any])?["pid"] as? Int) ?? -1) }
        XCTAssertGreaterThan(fresh.count, 100, "too few events from the ping-pong started after the flood")
        let withStacks = fresh.filter { !(($0["task_kernel_stack"] as? [String]) ?? []).isEmpty && !(($0["current_user_stack"] as? [String]) ?? []).isEmpty }
        XCTAssertGreaterThanOrEqual(withStacks.count, fresh.count * 9 / 10, "events after a million stacks came without stacks")
        let userStacks = withStacks.map { ($0["current_user_stack"] as? [String] ?? []).joined(separator: "|") }
        let distinct = Set(userStacks)
        // What repeats, and between whom (the waiting task, the holder), for when it fails.
        let repeated = Dictionary(grouping: withStacks.indices, by: { userStacks[$0] }).filter { $0.value.count > 1 }
        let describe = repeated.sorted { $0.value.count > $1.value.count }.prefix(3).map { stack, at in
            let who = at.map { i -> String in
                let e = withStacks[i]
                return "\((e["task"] as? [String: Any])?["pid"] ?? "?")<-\((e["other"] as? [String: Any])?["pid"] ?? "?")"
            }
            return "\(at.count)x [\(who.joined(separator: " "))] \(stack.split(separator: "|").count) frames: \(stack.prefix(300))"
        }
        XCTAssertGreaterThanOrEqual(distinct.count, withStacks.count * 9 / 10, "the holders' user stacks were not distinct: \(distinct.count) of \(withStacks.count) (ping-pong \(pingPong.sorted())); most repeated: \(describe.joined(separator: "; "))")
        try more.assertNothingLeft()
    }
}
