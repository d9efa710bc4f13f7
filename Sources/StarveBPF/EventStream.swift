import CLibbpf
import CStarve
import Glibc
import StarveCore

/// The consumer side of the pinned `events` ring buffer (libbpf's `struct ring_buffer`).
///
/// A ring buffer has one consumer position: run one reader at a time. Consuming needs the map
/// opened read-write (the consumer position page is written), so readers are root or members of
/// the group given to `starve-load --group`, which makes this one pin group-writable.
public final class EventStream {
    private let events: PinnedMap
    private let stacks: PinnedMap
    private var ring: OpaquePointer?
    private var pending: [starve_event] = []
    /// Records too short to be an event (another starve version writing): counted, skipped.
    public private(set) var malformed = 0

    /// Opens the ring buffer and the stack map beside `collection`'s pins (whose ABI it checked).
    public init(collection: PinnedCollection) throws {
        let layout = collection.layout
        do {
            events = try PinnedMap(path: layout.map(PinLayout.eventsMap), readOnly: false)
        } catch let e as StarveError where e.message.hasPrefix("permission denied") {
            throw StarveError("permission denied opening \(layout.map(PinLayout.eventsMap)) for reading events: run as root or as a member of the group given to starve-load --group")
        }
        guard events.info.type == BPF_MAP_TYPE_RINGBUF.rawValue else {
            throw StarveError("\(layout.map(PinLayout.eventsMap)) is not a ring buffer")
        }
        stacks = try PinnedMap(path: layout.map(PinLayout.stacksMap))
        let sample: ring_buffer_sample_fn = { ctx, data, size in
            guard let ctx, let data else { return 0 }
            let me = Unmanaged<EventStream>.fromOpaque(ctx).takeUnretainedValue()
            if size >= MemoryLayout<starve_event>.size {
                me.pending.append(data.loadUnaligned(as: starve_event.self))
            } else {
                me.malformed += 1
            }
            return 0
        }
        ring = ring_buffer__new(events.fd, sample, Unmanaged.passUnretained(self).toOpaque(), nil)
        if ring == nil { throw BPFError("open the events ring buffer", errno: errno) }
    }

    deinit { ring_buffer__free(ring) }

    /// Waits up to `timeoutMs` for events and returns those that arrived (ring_buffer__poll),
    /// decoded; kinds this version does not know are counted in ``malformed``.
    public func poll(timeoutMs: Int32) throws -> [ReceivedEvent] {
        let rc = ring_buffer__poll(ring, timeoutMs)
        if rc < 0 && rc != -EINTR { throw BPFError("poll the events ring buffer", errno: -rc) }
        defer { pending.removeAll(keepingCapacity: true) }
        return pending.compactMap { raw in
            guard let event = SchedEvent(raw) else { malformed += 1; return nil }
            return ReceivedEvent(event: event, taskKernelStack: taskKernelStack(raw), kernelStackID: raw.kstack_id, userStackID: raw.ustack_id)
        }
    }

    /// The instruction pointers of stack `id` in the `stacks` map; empty when it is gone or
    /// was never taken (negative ids are the kernel's -errno).
    public func stack(id: Int32) -> [UInt64] {
        guard id >= 0, let s = try? stacks.lookup(UInt32(id), as: starve_stack.self) else { return [] }
        var copy = s
        return withUnsafeBytes(of: &copy.ip) { Array($0.bindMemory(to: UInt64.self).prefix(while: { $0 != 0 })) }
    }
}

/// An event as read, its stacks still addresses: `taskKernelStack` inline, the current task's
/// kernel and user stacks as ids in the `stacks` map (``EventStream/stack(id:)``).
public struct ReceivedEvent: Sendable {
    public var event: SchedEvent
    public var taskKernelStack: [UInt64]
    public var kernelStackID: Int32
    public var userStackID: Int32
}

extension EventTask {
    init(_ raw: starve_event_task) {
        var r = raw
        let comm = withUnsafeBytes(of: &r.comm) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        self.init(pid: raw.pid, tgid: raw.tgid, comm: comm, cgroupID: raw.cgroup_id, priority: raw.prio, nice: raw.nice,
                  policy: raw.policy, isKernelThread: raw.flags & UInt32(STARVE_TASK_KTHREAD) != 0)
    }
}

extension SchedEvent {
    /// Decodes a ring-buffer record; nil for a kind this version does not know.
    public init?(_ raw: starve_event) {
        let kind: EventKind
        switch Int(raw.kind) {
        case Int(STARVE_EVENT_STARVATION.rawValue): kind = .starvation
        case Int(STARVE_EVENT_INVERSION.rawValue): kind = .priorityInversion
        case Int(STARVE_EVENT_PI_BOOST.rawValue): kind = .piBoost
        case Int(STARVE_EVENT_PI_RESTORE.rawValue): kind = .piRestore
        case Int(STARVE_EVENT_MIGRATION_STORM.rawValue): kind = .migrationStorm
        default: return nil
        }
        let severity: Severity? = switch Int(raw.severity) {
        case Int(STARVE_SEVERITY_STARVED.rawValue): .starved
        case Int(STARVE_SEVERITY_SEVERE.rawValue): .severe
        case Int(STARVE_SEVERITY_CRITICAL.rawValue): .critical
        default: nil
        }
        let other = raw.other.pid != 0 ? EventTask(raw.other) : nil
        let third = raw.third.pid != 0 ? EventTask(raw.third) : nil
        self.init(kind: kind, cpu: raw.cpu, timeNs: raw.time_ns, durationNs: raw.duration_ns, value: raw.value,
                  severity: severity, throttled: raw.flags & UInt32(STARVE_EVENT_THROTTLED) != 0,
                  preempted: raw.flags & UInt32(STARVE_EVENT_PREEMPTED) != 0, task: EventTask(raw.task),
                  other: other, third: third)
    }
}

/// The frames of `task_kstack` in a raw event.
func taskKernelStack(_ raw: starve_event) -> [UInt64] {
    var r = raw
    let n = min(Int(raw.task_kstack_len), Int(STARVE_EVENT_STACK_DEPTH))
    return withUnsafeBytes(of: &r.task_kstack) { Array($0.bindMemory(to: UInt64.self).prefix(n)) }
}
