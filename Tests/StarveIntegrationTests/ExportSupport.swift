import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import StarveHost
import StarveModel
import XCTest

/// A server left running while a test goes on (starve-export, Prometheus, the OTLP receiver):
/// its standard output and error read as they come; stopped (SIGTERM, then SIGKILL) when
/// dropped.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var out = Data(), err = Data()
    private var readers: [Thread] = []

    /// `environment`: set on top of this process's (nil values removed).
    init(_ executable: String, _ arguments: [String], environment: [String: String?] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            var env = ProcessInfo.processInfo.environment
            for (k, v) in environment { env[k] = v }
            process.environment = env
        }
        process.standardInput = FileHandle.nullDevice
        let o = Pipe(), e = Pipe()
        process.standardOutput = o
        process.standardError = e
        try process.run()
        for (pipe, isErr) in [(o, false), (e, true)] {
            let handle = pipe.fileHandleForReading
            let t = Thread { [self] in
                while true {
                    let d = handle.availableData
                    if d.isEmpty { break }
                    lock.withLock { if isErr { err.append(d) } else { out.append(d) } }
                }
            }
            t.start()
            readers.append(t)
        }
    }

    var stdout: String { lock.withLock { String(decoding: out, as: UTF8.self) } }
    var stderr: String { lock.withLock { String(decoding: err, as: UTF8.self) } }

    /// Polls (up to `seconds`) for a line of stderr (or stdout) matching `pattern`; its first
    /// capture group.
    func waitForLine(_ pattern: String, stderr fromStderr: Bool = true, seconds: Double = 20) -> String? {
        let regex = try! NSRegularExpression(pattern: pattern)
        var found: String?
        _ = waitUntil(seconds: seconds) {
            let text = fromStderr ? stderr : stdout
            if let m = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)), m.numberOfRanges > 1,
               let r = Range(m.range(at: 1), in: text) {
                found = String(text[r])
                return true
            }
            return !process.isRunning
        }
        return found
    }

    /// Stops it (SIGTERM, SIGKILL after 5 s) and waits for its output to be read.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            if !waitUntil(seconds: 5, { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        _ = waitUntil(seconds: 2) { readers.allSatisfy(\.isFinished) }
    }

    deinit { stop() }
}

/// starve-export on a port of its own (`--listen 127.0.0.1:0`), its port read from stderr.
final class ExporterProcess {
    let server: ServerProcess
    let port: Int
    var address: String { "127.0.0.1:\(port)" }

    init(pinDir: String, _ extra: [String] = [], environment: [String: String?] = [:], file: StaticString = #filePath, line: UInt = #line) throws {
        server = try ServerProcess(Live.tool("starve-export"), ["--pin-dir", pinDir, "--listen", "127.0.0.1:0"] + extra, environment: environment)
        guard let p = server.waitForLine(#"serving http://127\.0\.0\.1:(\d+)/metrics"#).flatMap({ Int($0) }) else {
            server.stop()
            XCTFail("starve-export did not start: \(server.stderr)", file: file, line: line)
            throw StarveError("starve-export did not start: \(server.stderr)")
        }
        port = p
    }

    /// One scrape: the body, or nil when it failed.
    func scrape(openMetrics: Bool = false) -> String? {
        httpGet("http://\(address)/metrics", accept: openMetrics ? "application/openmetrics-text;version=1.0.0" : nil).flatMap { $0.status == 200 ? $0.body : nil }
    }

    /// The value of one sample line (`name{labels}` exactly as exposed) in a text scrape.
    static func value(_ scrape: String, _ series: String) -> Double? {
        for line in scrape.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1).split(separator: " ")[0])
        }
        return nil
    }

    func stop() { server.stop() }
}

/// A synchronous HTTP GET: status and body; nil when nothing answered.
func httpGet(_ url: String, accept: String? = nil, timeout: Double = 10) -> (status: Int, body: String, contentType: String?)? {
    var request = URLRequest(url: URL(string: url)!)
    request.timeoutInterval = timeout
    if let accept { request.setValue(accept, forHTTPHeaderField: "Accept") }
    final class Box: @unchecked Sendable { var value: (Int, String, String?)? }
    let box = Box()
    let done = DispatchSemaphore(value: 0)
    URLSession.shared.dataTask(with: request) { data, response, _ in
        if let http = response as? HTTPURLResponse {
            box.value = (http.statusCode, String(decoding: data ?? Data(), as: UTF8.self), http.value(forHTTPHeaderField: "Content-Type"))
        }
        done.signal()
    }.resume()
    done.wait()
    return box.value.map { (status: $0.0, body: $0.1, contentType: $0.2) }
}

/// A loopback TCP port nobody listens on now (bound to port 0, then released).
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw StarveError("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard ok else { throw StarveError("bind: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Debian's Prometheus (2.42 here) on a loopback port of its own with a temporary config and
/// TSDB, scraping `targets` every second; stopped and its data removed when dropped.
final class PrometheusServer {
    static let binary = "/usr/bin/prometheus"
    let dir: TemporaryDirectory
    let server: ServerProcess
    let port: Int

    init(targets: [String]) throws {
        dir = try TemporaryDirectory()
        port = try freeLoopbackPort()
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: starve
                static_configs:
                  - targets: [\(targets.map { "'\($0)'" }.joined(separator: ", "))]

            """
        try config.write(toFile: dir.path + "/prometheus.yml", atomically: true, encoding: .utf8)
        server = try ServerProcess(Self.binary, ["--config.file=\(dir.path)/prometheus.yml", "--storage.tsdb.path=\(dir.path)/data",
                                                 "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn"])
        guard waitUntil(seconds: 30, { httpGet("http://127.0.0.1:\(port)/-/ready")?.status == 200 || !server.process.isRunning }),
              server.process.isRunning else {
            server.stop()
            throw StarveError("prometheus did not start: \(server.stderr)")
        }
    }

    /// An instant query: each result's labels and value.
    func query(_ expr: String) -> [(labels: [String: String], value: Double)] {
        var c = URLComponents(string: "http://127.0.0.1:\(port)/api/v1/query")!
        c.queryItems = [URLQueryItem(name: "query", value: expr)]
        guard let r = httpGet(c.url!.absoluteString), r.status == 200,
              let json = try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any],
              let data = json["data"] as? [String: Any], let result = data["result"] as? [[String: Any]] else { return [] }
        return result.compactMap { e in
            guard let metric = e["metric"] as? [String: String], let v = e["value"] as? [Any], v.count == 2,
                  let s = v[1] as? String, let d = Double(s) else { return nil }
            return (metric, d)
        }
    }

    /// The value of a query for one instance.
    func value(_ expr: String, instance: String) -> Double? {
        query(expr).first { $0.labels["instance"] == instance }?.value
    }

    func stop() { server.stop() }
}
