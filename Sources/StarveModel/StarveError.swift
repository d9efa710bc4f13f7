/// A condition a user can fix, with a one-line message that says how.
public struct StarveError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
