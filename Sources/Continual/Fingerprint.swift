import Datasets

/// Short content hashes for scenarios and configurations (SHA-256, hex).
public enum Fingerprint {
    /// The SHA-256 of the UTF-8 bytes of `text`, as 64 hex digits.
    public static func hex(_ text: String) -> String { SHA256.hexDigest(of: Array(text.utf8)) }
}
