import Foundation

/// The two text exposition formats Prometheus scrapes: its own text format 0.0.4 and
/// OpenMetrics 1.0 (what Prometheus asks for first). One encoder, two dialects.
public enum ExpositionFormat: Sendable, Equatable {
    case prometheusText
    case openMetrics

    public var contentType: String {
        switch self {
        case .prometheusText: return "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: return "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// The format to answer a request's `Accept` header with: OpenMetrics when the scraper names
    /// it (Prometheus does, ranked first), the text format otherwise (curl, node_exporter's
    /// textfile parser, older scrapers).
    public static func negotiate(accept: String?) -> ExpositionFormat {
        guard let accept else { return .prometheusText }
        for part in accept.split(separator: ",") {
            let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.first == "application/openmetrics-text" else { continue }
            // q=0 means "not acceptable".
            if fields.dropFirst().contains(where: { $0.replacingOccurrences(of: " ", with: "") == "q=0" }) { continue }
            return .openMetrics
        }
        return .prometheusText
    }
}

/// Encodes families in a text exposition format.
public enum PrometheusText {
    public static func encode(_ families: [MetricFamily], format: ExpositionFormat) -> String {
        var out = ""
        out.reserveCapacity(families.reduce(0) { $0 + 200 + $1.points.count * 120 })
        let om = format == .openMetrics
        for f in families {
            // Text 0.0.4 names the counter family by its samples' name (with _total).
            let familyName = om ? f.name : f.sampleName
            out += "# HELP \(familyName) \(escapeHelp(f.help, openMetrics: om))\n"
            out += "# TYPE \(familyName) \(f.type.rawValue)\n"
            if om, let unit = f.unit { out += "# UNIT \(familyName) \(unit)\n" }
            for p in f.points {
                switch p.value {
                case .number(let v):
                    out += f.sampleName
                    appendLabels(p.labels, extra: nil, to: &out)
                    out += " " + formatValue(v) + "\n"
                case .histogram(let h):
                    for (bound, count) in zip(h.upperBounds, h.cumulativeCounts) {
                        out += f.name + "_bucket"
                        appendLabels(p.labels, extra: MetricLabel("le", formatValue(bound)), to: &out)
                        out += " \(count)\n"
                    }
                    out += f.name + "_bucket"
                    appendLabels(p.labels, extra: MetricLabel("le", "+Inf"), to: &out)
                    out += " \(h.count)\n"
                    out += f.name + "_sum"
                    appendLabels(p.labels, extra: nil, to: &out)
                    out += " " + formatValue(h.sum) + "\n"
                    out += f.name + "_count"
                    appendLabels(p.labels, extra: nil, to: &out)
                    out += " \(h.count)\n"
                }
            }
        }
        if om { out += "# EOF\n" }
        return out
    }

    private static func appendLabels(_ labels: [MetricLabel], extra: MetricLabel?, to out: inout String) {
        if labels.isEmpty && extra == nil { return }
        out += "{"
        var first = true
        for l in labels {
            if !first { out += "," }
            first = false
            out += l.name + "=\"" + escapeLabelValue(l.value) + "\""
        }
        if let extra {
            if !first { out += "," }
            out += extra.name + "=\"" + extra.value + "\""
        }
        out += "}"
    }

    /// Label values escape backslash, double quote and newline (both formats).
    public static func escapeLabelValue(_ s: String) -> String {
        guard s.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return s }
        var r = ""
        for c in s {
            switch c {
            case "\\": r += "\\\\"
            case "\"": r += "\\\""
            case "\n": r += "\\n"
            default: r.append(c)
            }
        }
        return r
    }

    /// HELP escapes backslash and newline; OpenMetrics also double quotes.
    static func escapeHelp(_ s: String, openMetrics: Bool) -> String {
        var r = ""
        for c in s {
            switch c {
            case "\\": r += "\\\\"
            case "\n": r += "\\n"
            case "\"" where openMetrics: r += "\\\""
            default: r.append(c)
            }
        }
        return r
    }

    /// Integers without a fraction, others as Swift prints them (shortest round-trip form, which
    /// Go's ParseFloat reads back exactly), infinities and NaN as both formats spell them.
    public static func formatValue(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }
}
