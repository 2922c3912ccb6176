import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small HTTP/1.1 server on 127.0.0.1 for the fetch tests, started in the test's process on a
/// port the system picks. It answers one connection at a time and closes each after one response
/// (`Connection: close`). Its accept loop polls every 50 ms and ends by itself on `stop()` or
/// after `lifetime` seconds, so a failing test cannot leave it running.
final class LoopbackServer: @unchecked Sendable {
    /// How a path is served.
    enum Behaviour {
        /// 200 with the whole body, or 206 for a range request.
        case good
        /// Like `good`, with every body sent in 16 pieces 40 ms apart.
        case slow
        /// Announces the full length, sends half, and closes; ignores ranges. Never completes.
        case truncated
        /// The first request gets half the body and a closed connection; later ones are `good`.
        case dropOnce
        /// 302 to another path of this server.
        case redirect(to: String)
        /// 404.
        case notFound
    }

    struct Route {
        var body: [UInt8]
        var behaviour: Behaviour
    }

    /// One request as received.
    struct Request: Equatable {
        var path: String
        var range: String?
    }

    private(set) var port: UInt16 = 0
    private let listener: Int32
    private let lock = NSLock()
    private var routes: [String: Route]
    private var log: [Request] = []
    private var stopped = false
    private let finished = DispatchSemaphore(value: 0)

    init(routes: [String: Route], lifetime: Double = 60) throws {
        self.routes = routes
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw ServerError("socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 16) == 0 else {
            close(listener)
            throw ServerError("bind/listen: \(String(cString: strerror(errno)))")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        let deadline = Date().addingTimeInterval(lifetime)
        Thread.detachNewThread { [self] in
            serve(until: deadline)
            finished.signal()
        }
    }

    /// `http://127.0.0.1:PORT/path`.
    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// The requests received so far, in order.
    var requests: [Request] {
        lock.lock()
        defer { lock.unlock() }
        return log
    }

    func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
        finished.wait()
        close(listener)
    }

    private var isStopped: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopped
    }

    private func serve(until deadline: Date) {
        while !isStopped && Date() < deadline {
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 50) > 0 else { continue }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            handle(connection)
            close(connection)
        }
    }

    private func handle(_ connection: Int32) {
        guard let request = readRequest(connection) else { return }
        lock.lock()
        log.append(request)
        let hits = log.filter { $0.path == request.path }.count
        let route = routes[request.path]
        lock.unlock()
        // An error page with a body, as real servers send: it must never land in a file.
        let page = Array("<html><body>404 Not Found</body></html>".utf8)
        guard let route else {
            send(connection, head: "404 Not Found", headers: ["Content-Length: \(page.count)"], body: page)
            return
        }
        let body = route.body
        switch route.behaviour {
        case .notFound:
            send(connection, head: "404 Not Found", headers: ["Content-Length: \(page.count)"], body: page)
        case let .redirect(target):
            send(connection, head: "302 Found", headers: ["Location: \(target)", "Content-Length: 0"])
        case .truncated:
            send(connection, head: "200 OK", headers: ["Content-Length: \(body.count)"], body: Array(body[..<(body.count / 2)]))
        case .dropOnce where hits == 1:
            send(connection, head: "200 OK", headers: ["Content-Length: \(body.count)"], body: Array(body[..<(body.count / 2)]))
        case .good, .dropOnce, .slow:
            let pieces = { if case .slow = route.behaviour { return 16 } else { return 1 } }()
            if let start = rangeStart(request.range), start < body.count {
                send(connection, head: "206 Partial Content",
                     headers: ["Content-Length: \(body.count - start)", "Content-Range: bytes \(start)-\(body.count - 1)/\(body.count)"],
                     body: Array(body[start...]), pieces: pieces)
            } else if let start = rangeStart(request.range), start >= body.count {
                send(connection, head: "416 Range Not Satisfiable", headers: ["Content-Range: bytes */\(body.count)", "Content-Length: 0"])
            } else {
                send(connection, head: "200 OK", headers: ["Content-Length: \(body.count)"], body: body, pieces: pieces)
            }
        }
    }

    private func rangeStart(_ header: String?) -> Int? {
        guard let header, header.hasPrefix("bytes="), header.hasSuffix("-") else { return nil }
        return Int(header.dropFirst("bytes=".count).dropLast())
    }

    private func readRequest(_ connection: Int32) -> Request? {
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while data.count < 65_536 {
            let n = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress!, $0.count, 0) }
            if n <= 0 { return nil }
            data += chunk[..<n]
            if let text = String(bytes: data, encoding: .utf8), text.contains("\r\n\r\n") {
                let lines = text.components(separatedBy: "\r\n")
                let parts = lines[0].split(separator: " ")
                guard parts.count >= 2 else { return nil }
                let range = lines.dropFirst().first { $0.lowercased().hasPrefix("range:") }
                    .map { String($0.dropFirst("range:".count)).trimmingCharacters(in: .whitespaces) }
                return Request(path: String(parts[1]), range: range)
            }
        }
        return nil
    }

    private func send(_ connection: Int32, head: String, headers: [String], body: [UInt8] = [], pieces: Int = 1) {
        let text = (["HTTP/1.1 \(head)", "Connection: close", "Content-Type: application/octet-stream"] + headers)
            .joined(separator: "\r\n") + "\r\n\r\n"
        write(connection, Array(text.utf8))
        let size = max(1, (body.count + pieces - 1) / pieces)
        var at = 0
        while at < body.count {
            if pieces > 1 && at > 0 { usleep(40_000) }
            write(connection, Array(body[at..<min(at + size, body.count)]))
            at += size
        }
    }

    private func write(_ connection: Int32, _ bytes: [UInt8]) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(connection, $0.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            done += n
        }
    }
}

struct ServerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
