import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How far one file's transfer has got.
public struct TransferProgress: Sendable, Equatable {
    /// The file's name (the last component of its URL).
    public var file: String
    /// Bytes in the partial file, including those of earlier attempts.
    public var bytes: Int
    /// The file's full size, when the server or the catalog says it.
    public var total: Int?
    /// Bytes received in this run (not counting a resumed part), for the rate.
    public var receivedThisRun: Int
    /// Seconds since this file's transfer started in this run.
    public var seconds: Double
}

/// Downloads one URL into a partial file with URLSession (FoundationNetworking, over libcurl),
/// resuming with an HTTP range request after a broken connection.
///
/// Each attempt asks for `Range: bytes=N-` when the partial file already holds N bytes. A 206
/// answer whose range starts at N is appended; a 200 answer (the server ignores ranges) starts
/// the file over; a 416 answer means the file is complete when N equals the size the server
/// states, else the part is dropped and the transfer starts over. Redirects are followed by
/// URLSession. At most `attempts` attempts are made per URL, so the loop always ends.
struct HTTPTransfer {
    var url: URL
    var partPath: String
    var expectedSize: Int?
    var attempts: Int
    /// Seconds without a byte (or without a connection) after which an attempt is abandoned.
    var idleTimeout: Double
    var progress: @Sendable (TransferProgress) -> Void

    /// Runs attempts until the partial file is complete.
    /// - Throws: `FetchError.cannotConnect`, `.httpStatus`, `.incomplete`, `.diskFull`, `.io`.
    func run() throws(FetchError) {
        do {
            try attemptUntilComplete()
        } catch {
            // An empty part (nothing was received) is not worth keeping.
            if fileSize(partPath) == 0 { removeFile(partPath) }
            throw error
        }
    }

    private func attemptUntilComplete() throws(FetchError) {
        let started = Date()
        var receivedThisRun = 0
        var lastReason = "no attempt made"
        for _ in 0..<max(attempts, 1) {
            let have = fileSize(partPath) ?? 0
            if let expectedSize, have == expectedSize { return }
            if let expectedSize, have > expectedSize { removeFile(partPath) }
            let outcome = attempt(
                from: fileSize(partPath) ?? 0, started: started, receivedBefore: receivedThisRun)
            receivedThisRun = outcome.receivedThisRun
            switch outcome.result {
            case .complete:
                return
            case let .interrupted(reason):
                lastReason = reason
            case let .status(code):
                throw .httpStatus(url: url.absoluteString, status: code)
            case let .cannotConnect(reason):
                throw .cannotConnect(url: url.absoluteString, reason: reason)
            case let .writeFailed(code):
                if code == ENOSPC || code == EDQUOT { throw .diskFull(path: partPath) }
                throw .io(path: partPath, reason: "write failed: \(String(cString: strerror(code)))")
            case let .openFailed(reason):
                throw .io(path: partPath, reason: reason)
            }
        }
        throw .incomplete(url: url.absoluteString, received: fileSize(partPath) ?? 0, expected: expectedSize, reason: lastReason)
    }

    enum Result: Equatable {
        case complete
        case interrupted(String)
        case status(Int)
        case cannotConnect(String)
        case writeFailed(Int32)
        case openFailed(String)
    }

    /// One request, from byte `offset` of the file.
    private func attempt(from offset: Int, started: Date, receivedBefore: Int) -> (result: Result, receivedThisRun: Int) {
        let fd = open(partPath, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return (.openFailed("cannot create: \(String(cString: strerror(errno)))"), receivedBefore) }
        defer { close(fd) }
        let state = TransferState(
            fd: fd, offset: offset, expectedSize: expectedSize, file: url.lastPathComponent, started: started,
            receivedBefore: receivedBefore, progress: progress)
        var request = URLRequest(url: url)
        request.timeoutInterval = idleTimeout
        request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        if offset > 0 { request.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = idleTimeout
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: configuration, delegate: state, delegateQueue: queue)
        session.dataTask(with: request).resume()
        state.done.wait()
        session.finishTasksAndInvalidate()
        return (state.result(), state.received + receivedBefore)
    }
}

/// The delegate of one attempt: checks the response, appends the body to the partial file, and
/// reports how the attempt ended. Its mutable state is touched only on the session's serial
/// delegate queue until `done` is signalled, and read only after.
private final class TransferState: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let fd: Int32
    let requestedOffset: Int
    let expectedSize: Int?
    let file: String
    let started: Date
    let receivedBefore: Int
    let progress: @Sendable (TransferProgress) -> Void
    let done = DispatchSemaphore(value: 0)

    /// Bytes in the file now.
    private var offset: Int
    /// Bytes received in this attempt.
    private(set) var received = 0
    private var total: Int?
    private var status: Int?
    private var writeErrno: Int32?
    private var restartFromZero = false
    /// Set once a 200 or 206 answer was accepted: only then is a body written to the file (an
    /// error page must never land in it, even if it arrives after the task was cancelled).
    private var accepted = false
    private var alreadyComplete = false
    private var failure: Error?

    init(fd: Int32, offset: Int, expectedSize: Int?, file: String, started: Date, receivedBefore: Int,
         progress: @escaping @Sendable (TransferProgress) -> Void) {
        self.fd = fd
        self.requestedOffset = offset
        self.offset = offset
        self.expectedSize = expectedSize
        self.total = expectedSize
        self.file = file
        self.started = started
        self.receivedBefore = receivedBefore
        self.progress = progress
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        guard let http = response as? HTTPURLResponse else {
            accepted = true
            completionHandler(.allow)
            return
        }
        status = http.statusCode
        switch http.statusCode {
        case 200:
            // A whole file: start over, whatever was there.
            offset = 0
            _ = ftruncate(fd, 0)
            if http.expectedContentLength >= 0 { total = Int(http.expectedContentLength) }
            accepted = true
            completionHandler(.allow)
        case 206:
            let range = ContentRange(http.value(forHTTPHeaderField: "Content-Range"))
            if let range, range.first == requestedOffset {
                if let size = range.total { total = size }
                accepted = true
                completionHandler(.allow)
            } else {
                // Not the range asked for: drop the part and start over on the next attempt.
                restartFromZero = true
                completionHandler(.cancel)
            }
        case 416:
            let range = ContentRange(http.value(forHTTPHeaderField: "Content-Range"))
            if let size = range?.total, size == requestedOffset {
                alreadyComplete = true
            } else {
                restartFromZero = true
            }
            completionHandler(.cancel)
        default:
            completionHandler(.cancel)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard accepted, writeErrno == nil else { return }
        let failed: Int32? = data.withUnsafeBytes { raw -> Int32? in
            var done = 0
            while done < raw.count {
                let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                done += n
            }
            return nil
        }
        if let failed {
            writeErrno = failed
            dataTask.cancel()
            return
        }
        offset += data.count
        received += data.count
        progress(TransferProgress(
            file: file, bytes: offset, total: total, receivedThisRun: receivedBefore + received,
            seconds: Date().timeIntervalSince(started)))
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        failure = error
        done.signal()
    }

    /// How the attempt ended; call after `done` was signalled.
    func result() -> HTTPTransfer.Result {
        if let writeErrno { return .writeFailed(writeErrno) }
        if alreadyComplete { return .complete }
        if restartFromZero {
            _ = ftruncate(fd, 0)
            return .interrupted("the server answered a range request with another range")
        }
        if let status, status != 200 && status != 206 { return .status(status) }
        if let failure {
            let error = failure as NSError
            let reason = (error.userInfo[NSLocalizedDescriptionKey] as? String) ?? "error \(error.code)"
            let noConnection = [
                NSURLErrorCannotConnectToHost, NSURLErrorCannotFindHost, NSURLErrorNotConnectedToInternet,
                NSURLErrorDNSLookupFailed, NSURLErrorSecureConnectionFailed,
            ]
            if status == nil && noConnection.contains(error.code) { return .cannotConnect(reason) }
            if status == nil && error.code == NSURLErrorTimedOut { return .cannotConnect("no answer within the timeout: \(reason)") }
            return .interrupted(reason)
        }
        if let total, offset != total { return .interrupted("the connection closed after \(offset) of \(total) bytes") }
        return .complete
    }
}

/// The parts of a `Content-Range: bytes FIRST-LAST/TOTAL` (or `bytes */TOTAL`) header.
struct ContentRange: Equatable {
    var first: Int?
    var total: Int?

    init?(_ header: String?) {
        guard let header, header.hasPrefix("bytes ") else { return nil }
        let body = header.dropFirst("bytes ".count)
        let halves = body.split(separator: "/", maxSplits: 1)
        guard halves.count == 2 else { return nil }
        first = halves[0] == "*" ? nil : halves[0].split(separator: "-").first.flatMap { Int($0) }
        total = halves[1] == "*" ? nil : Int(halves[1])
    }
}

/// The size of a regular file, or nil when there is none.
func fileSize(_ path: String) -> Int? {
    var info = stat()
    guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
    return Int(info.st_size)
}

func removeFile(_ path: String) {
    _ = unlink(path)
}
