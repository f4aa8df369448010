#if canImport(Glibc)
import Glibc
#endif
import CPosix
import Synchronization

/// Something the loop calls when its file descriptor is ready.
protocol EventHandler: AnyObject {
    func handle(events: UInt32)
}

/// An epoll loop on one thread. Other threads hand it work with `execute`, which wakes it
/// through an eventfd; everything registered is touched on the loop thread only.
final class EventLoop: @unchecked Sendable {
    private let epoll: Int32
    private let wake: Int32
    private var handlers: [Int32: EventHandler] = [:]
    private let inbox = Mutex<[@Sendable () -> Void]>([])
    private var running = true
    private var loopThread: pthread_t?
    /// Called on the loop thread about every `tickInterval`: timeouts are checked there.
    var tick: (() -> Void)?
    let tickIntervalMilliseconds: Int32 = 200

    init() throws(SystemError) {
        epoll = try Sys.check("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
        wake = try Sys.check("eventfd") { eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC)) }
        var ev = epoll_event()
        ev.events = EPOLLIN.rawValue
        ev.data.fd = wake
        try Sys.check("epoll_ctl") { epoll_ctl(epoll, EPOLL_CTL_ADD, wake, &ev) }
    }

    deinit {
        close(wake)
        close(epoll)
    }

    var inLoopThread: Bool {
        guard let t = loopThread else { return false }
        return pthread_equal(t, pthread_self()) != 0
    }

    func register(_ fd: Int32, events: UInt32, _ handler: EventHandler) throws(SystemError) {
        assert(loopThread == nil || inLoopThread)
        var ev = epoll_event()
        ev.events = events
        ev.data.fd = fd
        try Sys.check("epoll_ctl(ADD)") { epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev) }
        handlers[fd] = handler
    }

    func modify(_ fd: Int32, events: UInt32) {
        assert(inLoopThread)
        var ev = epoll_event()
        ev.events = events
        ev.data.fd = fd
        _ = epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &ev)
    }

    func unregister(_ fd: Int32) {
        assert(inLoopThread)
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil)
        handlers[fd] = nil
    }

    /// Runs `task` on the loop thread soon; callable from any thread.
    func execute(_ task: @escaping @Sendable () -> Void) {
        inbox.withLock { $0.append(task) }
        var one: UInt64 = 1
        _ = Glibc.write(wake, &one, 8)
    }

    func stop() {
        execute { [unowned self] in self.running = false }
    }

    /// Blocks the calling thread, which becomes the loop thread, until `stop()`.
    func run() {
        loopThread = pthread_self()
        var events = [epoll_event](repeating: epoll_event(), count: 256)
        var lastTick = Sys.now()
        while running {
            let n = epoll_wait(epoll, &events, Int32(events.count), tickIntervalMilliseconds)
            if n < 0 && errno != EINTR { break }
            for i in 0 ..< max(0, Int(n)) {
                let fd = events[i].data.fd
                if fd == wake {
                    var value: UInt64 = 0
                    _ = Glibc.read(wake, &value, 8)
                    continue
                }
                handlers[fd]?.handle(events: events[i].events)
            }
            let tasks = inbox.withLock { tasks -> [@Sendable () -> Void] in
                let t = tasks
                tasks.removeAll()
                return t
            }
            for task in tasks { task() }
            let now = Sys.now()
            if now - lastTick >= UInt64(tickIntervalMilliseconds) * 1_000_000 {
                lastTick = now
                tick?()
            }
        }
    }
}
