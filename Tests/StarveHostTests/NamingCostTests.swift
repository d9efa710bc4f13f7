import Foundation
import Glibc
import StarveModel
@testable import StarveHost
import XCTest

/// What naming costs a sample at 10k cgroups: a fixture hierarchy of 10k cgroups laid out like a
/// busy Kubernetes node (pods of containers, services), every id looked up once per sample as the
/// sampler does (once per distinct cgroup pair). The first sample classifies every path and
/// reads the runtime files it finds (none here: names from ids); later ones are cache hits.
/// Prints the figures; asserts only what was done, not how fast.
final class NamingCostTests: XCTestCase {
    func testNamingTenThousandCgroupsIsLazyAndCached() throws {
        let root = NSTemporaryDirectory() + "starve-naming-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let cpu = CgroupHierarchy(mountPoint: root + "/cpu", version: .v1)
        var ids: [UInt64] = []
        func make(_ path: String) throws {
            let dir = cpu.directory(path)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            var st = stat()
            XCTAssertEqual(stat(dir, &st), 0)
            ids.append(UInt64(st.st_ino))
        }
        // 2000 pods of 4 containers (10000 cgroups with the pods), 0 left for services: 10k in all.
        for p in 0..<2000 {
            let uid = String(format: "%08x_aaaa_4bbb_8ccc_%012x", p, p)
            let pod = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(uid).slice"
            try make(pod)
            for c in 0..<4 { try make(pod + "/cri-containerd-" + String(repeating: String(format: "%016x", p * 4 + c), count: 4) + ".scope") }
        }
        XCTAssertEqual(ids.count, 10_000)
        let resolver = WorkloadResolver(cpuHierarchy: cpu, defaultHierarchy: nil, runtimeRoot: root + "/runtime", procRoot: root + "/proc",
                                        userName: { _ in nil })
        func sample() -> (ns: UInt64, kinds: [WorkloadKind: Int]) {
            let start = monotonicNs()
            var kinds: [WorkloadKind: Int] = [:]
            for id in ids { kinds[resolver.identity(cpuCgroupID: id, defaultCgroupID: nil).kind, default: 0] += 1 }
            return (monotonicNs() - start, kinds)
        }
        let cold = sample()
        let warm = (0..<5).map { _ in sample().ns }.min() ?? 0
        print(String(format: "naming 10000 cgroups: first sample %.1f ms (%d classified, %d runtime file reads), later samples %.2f ms (%.0f ns per cgroup)",
                     Double(cold.ns) / 1e6, resolver.statistics.classifications, resolver.statistics.runtimeFileReads,
                     Double(warm) / 1e6, Double(warm) / 10_000))
        XCTAssertEqual(cold.kinds[.container], 8000)
        XCTAssertEqual(cold.kinds[.pod], 2000)
        XCTAssertEqual(resolver.statistics.classifications, 10_000, "each cgroup classified once, in the first sample")
        _ = sample()
        XCTAssertEqual(resolver.statistics.classifications, 10_000, "later samples classify nothing")
    }
}
