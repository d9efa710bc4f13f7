import CLibbpf
import CStarve
import Glibc
import StarveModel
import StarveHost

/// The consumer side of the pinned `events` ring buffer and of `event_stacks`, the stacks that
/// go with them (libbpf's `struct ring_buffer` over both).
///
/// A ring buffer has one consumer position: run one reader at a time. Consuming needs the map
/// opened read-write (the consumer position page is written), so readers are root or members of
/// the group given to `starve-load --group`, which makes `events` group-writable. The stacks are
/// raw kernel and user addresses: root-only unless the load granted them (`--group-stacks`);
/// without them events arrive with no stacks and ``stacksNote`` says why.
public final class EventStream {
    private let events: PinnedMap
    private let stacks: PinnedMap?
    private let hasStacks: Bool
    private var ring: OpaquePointer?
    /// Events read, in order, until their stacks are in (or known not to come).
    private var queue: [starve_event] = []
    private var stacksBySeq: [UInt64: starve_event_stacks] = [:]
    /// Records too short to be an event (another starve version writing): counted, skipped.
    public private(set) var malformed = 0
    /// Why events come without stacks, when they do for this reader; nil when stacks are read.
    public let stacksNote: String?

    /// Opens the ring buffers beside `collection`'s pins (whose ABI it checked).
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
        var opened: PinnedMap? = nil
        do {
            opened = try PinnedMap(path: layout.map(PinLayout.stacksMap), readOnly: false)
            stacksNote = nil
        } catch let e as StarveError where e.message.hasPrefix("permission denied") {
            stacksNote = collection.config.flags & UInt32(STARVE_CONFIG_GROUP_STACKS) != 0
                ? "events without stacks: \(layout.map(PinLayout.stacksMap)) is readable by root and the load's group only"
                : "events without stacks: stacks are kernel and user addresses, root-only (the kernel hides them from other users); starve-load --group-stacks grants them to the group"
        }
        let stacksFD = opened?.fd
        if let type = opened?.info.type, type != BPF_MAP_TYPE_RINGBUF.rawValue {
            throw StarveError("\(layout.map(PinLayout.stacksMap)) is not a ring buffer")
        }
        stacks = opened
        hasStacks = stacksFD != nil
        let ctx = Unmanaged.passUnretained(self).toOpaque()
        let onEvent: ring_buffer_sample_fn = { ctx, data, size in
            guard let ctx, let data else { return 0 }
            let me = Unmanaged<EventStream>.fromOpaque(ctx).takeUnretainedValue()
            if size >= MemoryLayout<starve_event>.size {
                me.queue.append(data.loadUnaligned(as: starve_event.self))
            } else {
                me.malformed += 1
            }
            return 0
        }
        let onStacks: ring_buffer_sample_fn = { ctx, data, size in
            guard let ctx, let data else { return 0 }
            let me = Unmanaged<EventStream>.fromOpaque(ctx).takeUnretainedValue()
            if size >= MemoryLayout<starve_event_stacks>.size {
                let s = data.loadUnaligned(as: starve_event_stacks.self)
                me.stacksBySeq[s.seq] = s
            } else {
                me.malformed += 1
            }
            return 0
        }
        // Stacks first: ring_buffer__consume reads the rings in the order they were added, and
        // an event's stacks were committed before the event.
        if let stacksFD {
            ring = ring_buffer__new(stacksFD, onStacks, ctx, nil)
            if ring == nil { throw BPFError("open the event stacks ring buffer", errno: errno) }
            let rc = ring_buffer__add(ring, events.fd, onEvent, ctx)
            if rc < 0 { throw BPFError("open the events ring buffer", errno: -rc) }
        } else {
            ring = ring_buffer__new(events.fd, onEvent, ctx, nil)
            if ring == nil { throw BPFError("open the events ring buffer", errno: errno) }
        }
    }

    deinit { ring_buffer__free(ring) }

    /// Waits up to `timeoutMs` for events and returns those that arrived (ring_buffer__poll),
    /// decoded, with their stacks; kinds this version does not know are counted in ``malformed``.
    public func poll(timeoutMs: Int32) throws -> [ReceivedEvent] {
        let rc = ring_buffer__poll(ring, timeoutMs)
        if rc < 0 && rc != -EINTR { throw BPFError("poll the events ring buffer", errno: -rc) }
        // One more pass: an event read above may have stacks committed after the stacks ring
        // was read (they are always committed before the event).
        if hasStacks, queue.contains(where: { $0.flags & UInt32(STARVE_EVENT_STACKS) != 0 && stacksBySeq[$0.seq] == nil }) {
            let rc = ring_buffer__consume(ring)
            if rc < 0 && rc != -EINTR { throw BPFError("read the event stacks ring buffer", errno: -rc) }
        }
        var out: [ReceivedEvent] = []
        var kept: [starve_event] = []
        for raw in queue {
            let wantsStacks = hasStacks && raw.flags & UInt32(STARVE_EVENT_STACKS) != 0
            let s = wantsStacks ? stacksBySeq.removeValue(forKey: raw.seq) : nil
            if wantsStacks && s == nil {
                kept.append(raw) // read in the second pass's events: its stacks come next time
                continue
            }
            guard let event = SchedEvent(raw) else { malformed += 1; continue }
            out.append(ReceivedEvent(event: event, stacks: s.map(EventStacks.init)))
        }
        queue = kept
        // Stacks whose event is gone (an event record lost to a full ring): never wanted again.
        if stacksBySeq.count > 4096 { stacksBySeq.removeAll(keepingCapacity: true) }
        return out
    }
}

/// The raw stacks of one event: instruction pointers, not yet symbolised.
public struct EventStacks: Sendable, Equatable {
    /// Where the event's task stopped in the kernel.
    public var taskKernel: [UInt64]
    /// The current task's at the event (the CPU holder for starvation, the waker for inversion).
    public var currentKernel: [UInt64]
    public var currentUser: [UInt64]
    /// The process `currentUser` belongs to.
    public var userTgid: UInt32

    init(_ raw: starve_event_stacks) {
        var r = raw
        func frames<T>(_ tuple: inout T, _ n: UInt32, _ depth: Int32) -> [UInt64] {
            withUnsafeBytes(of: &tuple) { Array($0.bindMemory(to: UInt64.self).prefix(min(Int(n), Int(depth)))) }
        }
        taskKernel = frames(&r.task_kstack, raw.task_kstack_len, STARVE_EVENT_STACK_DEPTH)
        currentKernel = frames(&r.kstack, raw.kstack_len, STARVE_STACK_DEPTH)
        currentUser = frames(&r.ustack, raw.ustack_len, STARVE_STACK_DEPTH)
        userTgid = raw.ustack_tgid
    }
}

/// An event as read, its stacks still addresses (nil: none taken, or not readable here).
public struct ReceivedEvent: Sendable {
    public var event: SchedEvent
    public var stacks: EventStacks?
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
