import Foundation
import Testing
@testable import Datasets

@Suite struct SHA256Tests {
    // FIPS 180-4 / NIST example vectors (the 448-bit and 896-bit messages included).
    @Test func standardVectors() {
        #expect(SHA256.hexDigest(of: Array("abc".utf8))
            == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hexDigest(of: [])
            == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hexDigest(of: Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hexDigest(of: Array("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu".utf8))
            == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    /// Messages of "a" whose lengths sit on the padding boundaries (digests from `sha256sum`).
    @Test(arguments: [
        (55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"),
        (56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"),
        (63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"),
        (64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"),
        (119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"),
    ])
    func paddingBoundaries(length: Int, expected: String) {
        #expect(SHA256.hexDigest(of: [UInt8](repeating: UInt8(ascii: "a"), count: length)) == expected)
    }

    @Test func millionAs() {
        var hash = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hash.update(chunk) }
        #expect(hash.hexDigest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Feeding the same message in pieces of every awkward size gives the same digest, across
    /// the padding boundaries at 55, 56 and 64 bytes.
    @Test(arguments: [1, 3, 55, 56, 63, 64, 65, 1000])
    func incrementalMatchesOneShot(piece: Int) {
        for length in [0, 55, 56, 57, 63, 64, 65, 119, 120, 200] {
            let message = pattern(length, seed: length)
            var hash = SHA256()
            var offset = 0
            while offset < message.count {
                let end = min(offset + piece, message.count)
                hash.update(Array(message[offset..<end]))
                offset = end
            }
            #expect(hash.hexDigest() == SHA256.hexDigest(of: message), "length \(length), piece \(piece)")
        }
    }

    /// The committed mnist-mini files hash to the values in the data README, which is also what
    /// `sha256sum` prints for them.
    @Test func committedFilesMatchREADMEAndSha256sum() throws {
        let folder = repositoryRoot + "/datasets/mnist-mini"
        let readme = [
            "train-images-idx3-ubyte.gz": "38fb4772dcc0d0aa90b6bece7c8ce0e66b006e73aab802a43696b18947139af3",
            "train-labels-idx1-ubyte.gz": "a92d91f2f56df5b6f1ccb1f69b027c3019a81ce97edf7358e776383a6927bb48",
            "t10k-images-idx3-ubyte.gz": "82540dd793a1aff19f849304a6be8629a802527b6701aeac967427603099dcc4",
            "t10k-labels-idx1-ubyte.gz": "e624b5bc0c02e0cd4062788fe82ca1f26cd4a9f6ec17aec0814b8eb7066768d4",
        ]
        for (name, expected) in readme {
            let path = folder + "/" + name
            #expect(try SHA256.hexDigest(ofFile: path, chunkSize: 4096) == expected, "\(name)")
            if let output = run("/usr/bin/sha256sum", [path]) {
                let printed = String(decoding: output, as: UTF8.self).prefix(64)
                #expect(String(printed) == expected, "sha256sum \(name)")
            }
        }
    }

    @Test func missingFileIsAnIOError() {
        let path = "/nonexistent-turritopsis/file.gz"
        let error = #expect(throws: DatasetError.self) { try SHA256.hexDigest(ofFile: path) }
        guard case .io(let errorPath, _) = error else { Issue.record("expected .io, got \(String(describing: error))"); return }
        #expect(errorPath == path)
        #expect(error?.description.contains(path) == true)
    }
}
