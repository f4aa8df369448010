@testable import FastVimHTTP

/// A request as the events described it, comparable across different input splits.
struct Message: Equatable, CustomStringConvertible {
    var method: String
    var target: String
    var minor: Int
    var headers: [String]
    var keepAlive: Bool
    var expectContinue: Bool
    var contentLength: Int?
    var chunked: Bool
    var body: [UInt8] = []
    var ended = false

    init(_ head: HTTP1RequestHead) {
        method = head.method
        target = head.target
        minor = head.versionMinor
        headers = head.headers.map { "\($0.name): \($0.value)" }
        keepAlive = head.keepAlive
        expectContinue = head.expectContinue
        contentLength = head.contentLength
        chunked = head.chunked
    }

    var description: String { "\(method) \(target) 1.\(minor) \(headers) body=\(body.count) ended=\(ended)" }
}

enum Outcome: Equatable {
    /// Complete messages, then the one in progress (if its head arrived).
    case parsed([Message])
    case failed(HTTP1ParseError)
    /// The parser broke its own contract; never expected.
    case inconsistent(String)

    var messages: [Message] {
        if case .parsed(let m) = self { return m }
        return []
    }

    var error: HTTP1ParseError? {
        if case .failed(let e) = self { return e }
        return nil
    }
}

struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        return z ^ (z >> 31)
    }
}

/// Feeds `bytes` in pieces ending at `cuts`, resetting after each complete message as a
/// keep-alive connection would, and checks the event contract along the way.
func parse(_ bytes: [UInt8], cuts: [Int] = [], limits: HTTP1Limits = .init()) -> Outcome {
    var parser = HTTP1Parser(limits: limits)
    var done: [Message] = []
    var current: Message?
    var start = 0
    for end in cuts.filter({ $0 > 0 && $0 < bytes.count }).sorted() + [bytes.count] where end >= start {
        var piece = Array(bytes[start ..< end])
        start = end
        while true {
            let result: (consumed: Int, events: [HTTP1Event])
            do {
                result = try parser.feed(piece)
            } catch {
                return .failed(error)
            }
            guard result.consumed >= 0, result.consumed <= piece.count else { return .inconsistent("consumed \(result.consumed) of \(piece.count)") }
            for event in result.events {
                switch event {
                case .head(let head):
                    guard current == nil else { return .inconsistent("second head") }
                    current = Message(head)
                case .body(let chunk):
                    guard current != nil, chunk.count > 0 else { return .inconsistent("body outside message or empty") }
                    current?.body += chunk
                case .end:
                    guard var message = current else { return .inconsistent("end without head") }
                    if let length = message.contentLength, length != message.body.count { return .inconsistent("length mismatch") }
                    if message.contentLength == nil, !message.chunked, !message.body.isEmpty { return .inconsistent("unframed body") }
                    message.ended = true
                    done.append(message)
                    current = nil
                }
            }
            if parser.messageComplete {
                guard current == nil else { return .inconsistent("complete without end") }
                guard parser.headComplete else { return .inconsistent("complete without head") }
                parser.reset()
                piece.removeFirst(result.consumed)
                if piece.isEmpty { break }
            } else {
                guard result.consumed == piece.count else { return .inconsistent("stopped early without completing") }
                break
            }
        }
    }
    if let current { done.append(current) }
    return .parsed(done)
}

func randomCuts(_ count: Int, _ rng: inout SeededRandom) -> [Int] {
    guard count > 1 else { return [] }
    return (0 ..< Int.random(in: 1 ... 8, using: &rng)).map { _ in Int.random(in: 1 ..< count, using: &rng) }
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
